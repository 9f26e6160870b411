"""The private adapter between a :class:`~leadsla.Lifecycle` and the ``transitions`` library.

``transitions`` is the state-machine engine, kept at arm's length (why: "Why ``transitions``
sits behind a private adapter" in docs/explanation/lifecycle-and-terms.md):

* one ``Machine`` per lifecycle serves every lead; it is built with ``model=None`` and
  ``auto_transitions=False``, and no lead is ever registered with it (``add_model`` would bolt
  trigger methods onto the object and costs time quadratic in the number of models);
* a trigger is fired by executing the machine's ``Transition`` for the lead's state on a
  throwaway :class:`_Cursor`, a one-slot object whose ``state`` the machine writes; leadsla
  rebuilds its immutable lead record from the cursor afterwards, so nothing of leadsla's is
  handed to ``transitions``. leadsla has already checked that the trigger may leave the state,
  so the event's own dispatch (a queue, prepare and finalize hooks leadsla does not use) is
  skipped: ``Transition.execute`` still evaluates the guard and changes the state;
* guards are plain callables receiving the event data; they evaluate leadsla's compiled
  conditions, and every effect (history, owners, explanations) is computed by leadsla after the
  machine has answered, never in ``transitions`` callbacks (it changes state before callbacks run
  and never rolls back).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from transitions import Machine, State
from transitions import Transition as MachineTransition
from transitions.core import EventData, MachineError

from leadsla._core.lifecycle import Lifecycle, Transition

__all__ = ["LifecycleMachine"]

_NOTHING: dict[str, tuple[Any, Any, Any]] = {}

#: Evaluates a transition's guard for the context passed to :meth:`LifecycleMachine.fire`.
GuardCheck = Callable[[Transition, Any], bool]


class _Cursor:
    """Where ``transitions`` reads and writes a lead's state during one trigger."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


class _State(State):
    """A ``transitions`` state that skips its enter and exit steps when it has no callbacks.

    leadsla registers no state callbacks (effects are built by the workflow), so the steps
    would only walk empty lists and log; skipping them is a fifth of a trigger's cost.
    """

    def enter(self, event_data: EventData) -> None:
        if self.on_enter:
            super().enter(event_data)

    def exit(self, event_data: EventData) -> None:
        if self.on_exit:
            super().exit(event_data)


# The lean path calls two of transitions' own Transition steps; a release without them gets
# the full execute (slower, same result).
_LEAN = all(hasattr(MachineTransition, step) for step in ("_eval_conditions", "_change_state"))


class _Transition(MachineTransition):
    """A ``transitions`` transition that skips its callback steps when there are none.

    With no prepare, before or after callbacks (on the transition or the machine), executing
    it is checking its conditions and changing the state; the skipped steps would only walk
    empty lists and log at debug level, about a third of a trigger's cost.
    """

    def execute(self, event_data: EventData) -> bool:
        machine = event_data.machine
        if (
            not _LEAN
            or self.prepare
            or self.before
            or self.after
            or machine.before_state_change
            or machine.after_state_change
        ):
            return bool(super().execute(event_data))
        if not self._eval_conditions(event_data):
            return False
        if self.dest:
            self._change_state(event_data)
        return True


class _Machine(Machine):
    state_cls = _State
    transition_cls = _Transition

    def get_state(self, state: Any) -> Any:
        """The state named ``state`` (a plain name, as leadsla passes, straight from the table;
        anything else, an Enum or an unknown name, the library's way, with its error). A move
        looks states up four times."""
        if type(state) is str:
            found = self.states.get(state)
            if found is not None:
                return found
        return super().get_state(state)

    def set_state(self, state: Any, model: Any = None) -> None:
        """Set the state of one cursor (as a move does) by name directly; anything else the
        library's way."""
        if type(model) is _Cursor and type(state) is str:
            found = self.states.get(state)
            if found is not None:
                setattr(model, self.model_attribute, found.value)
                return
        super().set_state(state, model)


class LifecycleMachine:
    """One ``transitions`` machine for a lifecycle, shared by every lead."""

    __slots__ = ("_machine", "_table", "lifecycle")

    def __init__(self, lifecycle: Lifecycle, guard: GuardCheck) -> None:
        self.lifecycle = lifecycle
        machine = _Machine(
            model=None,
            states=list(lifecycle.state_names),
            initial=lifecycle.initial,
            auto_transitions=False,
            send_event=True,
            ignore_invalid_triggers=False,
        )
        for transition in lifecycle.transitions:
            conditions: Any = None
            if transition.guard is not None:
                conditions = [_guard_callback(guard, transition)]
            machine.add_transition(
                transition.trigger,
                list(transition.sources),
                transition.dest,
                conditions=conditions,
            )
        self._machine = machine
        # (state, trigger) -> what executing it needs; one entry per pair (the lifecycle
        # refuses ambiguous triggers, so there is never a second transition to try).
        # (Nested by state, then trigger: no key tuple to make and hash per move.)
        self._table: dict[str, dict[str, tuple[Any, Any, Any]]] = {}
        for trigger, event in machine.events.items():
            for source, candidates in event.transitions.items():
                (only,) = candidates
                entry = (only, event, machine.get_state(source))
                self._table.setdefault(source, {})[trigger] = entry

    def fire(self, state: str, trigger: str, context: Any) -> str | None:
        """Fire ``trigger`` from ``state``: the new state, or None when a guard said no.

        Raises ``ValueError`` for a trigger that cannot leave ``state``; callers check that
        first, so it means a bug.
        """
        entry = self._table.get(state, _NOTHING).get(trigger)
        if entry is None:
            raise ValueError(f"{trigger!r} cannot leave {state!r}")
        transition, event, source = entry
        cursor = _Cursor(state)
        data = EventData(source, event, self._machine, cursor, (context,), {})
        data.transition = transition
        try:
            moved = transition.execute(data)
        except MachineError as error:  # pragma: no cover - transitions raises only on misuse
            raise ValueError(str(error)) from None
        return cursor.state if moved else None


def _guard_callback(guard: GuardCheck, transition: Transition) -> Callable[[EventData], bool]:
    def check(event: EventData) -> bool:
        arguments: tuple[Any, ...] = tuple(event.args)
        return guard(transition, arguments[0])

    return check
