"""The lead lifecycle: states, transitions and who owns a lead in each state, as data.

Theory of operation
===================

A lifecycle is a table. Each :class:`State` names the team that owns a lead while it is there,
whether the state is terminal, and its rank in the funnel (``stage``: lead 0, MQL 1, …), from
which a lead's highest stage reached is kept. Each :class:`Transition` is a trigger that moves a
lead from one of its sources to its destination, optionally only while a *guard* condition holds
(the ``sql`` term, say), and optionally only with a reason (backward moves: nurture, handback,
recycling). Backward moves are ordinary transitions; there is nothing special about them but the
reason they carry.

The default lifecycle of the agreement (docs/explanation/default-agreement.md)::

    lead --qualify--> mql --accept--> sal --qualify_sales [sql]--> sql --win--> won
                       |                                            `--lose--> lost
                       `--reject--> handback <--hand_back-- mql|sal
    mql|sal|sql --nurture--> nurture;  nurture|handback --requalify--> mql
    any non-terminal --disqualify--> disqualified

A lifecycle is checked when it is made, and every problem is listed at once: unknown states,
states no transition reaches, non-terminal states with no way out, terminal states with one,
and ambiguous triggers (the same trigger twice from one state). Diagrams (Mermaid, Graphviz) are
generated from the same table.

The table drives a ``transitions`` state machine through :mod:`leadsla._core.machine`; leads
are plain records, never machine models.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from attrs import field, frozen

from leadsla._core.conditions import Condition
from leadsla._core.errors import (
    LeadSLAError,
    LifecycleError,
    Problem,
    closest,
    did_you_mean,
    unknown,
)

__all__ = ["Lifecycle", "LifecycleError", "State", "Transition"]

#: In a transition's sources, every non-terminal state (but the destination).
ANY_STATE: Final = "*"


def _names(value: str | Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _guard(value: str | Condition | None) -> Condition | None:
    if value is None or isinstance(value, Condition):
        return value
    return Condition(value, field="guard")


def _states(value: Iterable[State]) -> tuple[State, ...]:
    return tuple(value)


def _transitions(value: Iterable[Transition]) -> tuple[Transition, ...]:
    return tuple(value)


@frozen
class State:
    """A lifecycle state and the team that owns leads in it.

    ``stage`` ranks forward progress through the funnel (None for side states such as
    nurture); a lead remembers the highest stage it reached.
    """

    name: str
    owner: str
    terminal: bool = False
    description: str = ""
    stage: int | None = None


@frozen
class Transition:
    """A trigger that moves a lead from one of ``sources`` to ``dest``.

    ``sources`` is a state name, several, or ``"*"`` for every non-terminal state. ``guard`` is a
    condition (text, a :class:`~leadsla.Condition`, or a term's name) that must hold for the move;
    ``requires_reason`` refuses the move without a reason.
    """

    trigger: str
    sources: tuple[str, ...] = field(converter=_names)
    dest: str
    guard: Condition | None = field(default=None, converter=_guard)
    requires_reason: bool = False
    description: str = ""
    # The sources as written, "*" included, when a lifecycle expanded them: a transition taken
    # into another lifecycle is expanded again over that lifecycle's states.
    _declared: tuple[str, ...] | None = field(init=False, default=None, eq=False, repr=False)

    @property
    def declared_sources(self) -> tuple[str, ...]:
        """The sources as written: ``("*",)`` for every non-terminal state, before a lifecycle
        expands it into :attr:`sources`."""
        return self._declared if self._declared is not None else self.sources


@frozen
class Lifecycle:
    """States and transitions, checked together when made.

    >>> lifecycle = Lifecycle.default()
    >>> lifecycle.initial
    'lead'
    >>> [t.dest for t in lifecycle.transitions_from("mql")]
    ['sal', 'handback', 'nurture', 'handback', 'disqualified']
    """

    states: tuple[State, ...] = field(converter=_states)
    transitions: tuple[Transition, ...] = field(converter=_transitions)
    initial: str
    _by_name: dict[str, State] = field(init=False, repr=False, eq=False)
    _outgoing: dict[str, tuple[Transition, ...]] = field(init=False, repr=False, eq=False)
    _table: dict[tuple[str, str], Transition] = field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        problems = _check(self.states, self.transitions, self.initial)
        if problems:
            raise LifecycleError(*problems)
        by_name = {state.name: state for state in self.states}
        expanded = tuple(_expand(transition, self.states) for transition in self.transitions)
        object.__setattr__(self, "transitions", expanded)
        outgoing: dict[str, list[Transition]] = {state.name: [] for state in self.states}
        table: dict[tuple[str, str], Transition] = {}
        for transition in expanded:
            for source in transition.sources:
                outgoing[source].append(transition)
                table[(source, transition.trigger)] = transition
        object.__setattr__(self, "_by_name", by_name)
        object.__setattr__(self, "_outgoing", {k: tuple(v) for k, v in outgoing.items()})
        object.__setattr__(self, "_table", table)

    @classmethod
    def default(cls) -> Lifecycle:
        """The lifecycle of the default agreement (docs/explanation/default-agreement.md)."""
        return _DEFAULT

    def state(self, name: str) -> State:
        """The state called ``name``; :class:`LifecycleError` names the known ones otherwise."""
        try:
            return self._by_name[name]
        except KeyError:
            raise LifecycleError(unknown("state", name, self._by_name)) from None

    @property
    def state_names(self) -> tuple[str, ...]:
        return tuple(state.name for state in self.states)

    @property
    def triggers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(transition.trigger for transition in self.transitions))

    def transitions_from(self, state: str) -> tuple[Transition, ...]:
        """The transitions that can leave ``state``, in table order."""
        return self._outgoing[self.state(state).name]

    def find(self, state: str, trigger: str) -> Transition | None:
        """The transition ``trigger`` takes from ``state``, or None."""
        return self._table.get((state, trigger))

    def owner_of(self, state: str) -> str:
        """The team that owns leads in ``state``."""
        return self.state(state).owner

    def to_mermaid(self) -> str:
        """A Mermaid ``stateDiagram-v2`` of the lifecycle; each state's label names its owner."""
        lines = ["stateDiagram-v2", f"    [*] --> {self.initial}"]
        for state in self.states:
            label = f"{state.name} ({state.owner})"
            lines.append(f'    state "{label}" as {state.name}')
        for transition in self.transitions:
            label = transition.trigger
            if transition.guard is not None:
                label += f" [{transition.guard.source}]"
            if transition.requires_reason:
                label += " (reason)"
            for source in transition.sources:
                lines.append(f"    {source} --> {transition.dest}: {_mermaid_text(label)}")
        for state in self.states:
            if state.terminal:
                lines.append(f"    {state.name} --> [*]")
        return "\n".join(lines) + "\n"

    def to_dot(self) -> str:
        """A Graphviz ``digraph`` of the lifecycle, one cluster per owning team."""
        lines = [
            "digraph lifecycle {",
            "    rankdir=LR;",
            '    node [shape=box, style="rounded"];',
            # State names cannot hold brackets, so this entry node never clashes with one.
            '    "[*]" [shape=point, label=""];',
            f'    "[*]" -> {_dot_id(self.initial)};',
        ]
        teams = list(dict.fromkeys(state.owner for state in self.states))
        for team in teams:
            lines.append(f"    subgraph {_dot_id('cluster_' + team)} {{")
            lines.append(f"        label={_dot_text(team)};")
            for state in self.states:
                if state.owner == team:
                    shape = ", peripheries=2" if state.terminal else ""
                    lines.append(
                        f"        {_dot_id(state.name)} [label={_dot_text(state.name)}{shape}];"
                    )
            lines.append("    }")
        for transition in self.transitions:
            label = transition.trigger
            if transition.guard is not None:
                label += f"\\n[{transition.guard.source}]"
            style = ", style=dashed" if transition.requires_reason else ""
            for source in transition.sources:
                lines.append(
                    f"    {_dot_id(source)} -> {_dot_id(transition.dest)} "
                    f"[label={_dot_text(label)}{style}];"
                )
        lines.append("}")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """Plain data: the form the agreement file uses."""
        return {
            "initial": self.initial,
            "states": {
                state.name: _drop_defaults(
                    {
                        "owner": state.owner,
                        "terminal": state.terminal,
                        "stage": state.stage,
                        "description": state.description,
                    }
                )
                for state in self.states
            },
            "transitions": [
                _drop_defaults(
                    {
                        "trigger": transition.trigger,
                        "sources": list(transition.declared_sources),
                        "dest": transition.dest,
                        "guard": transition.guard.source if transition.guard else None,
                        "requires_reason": transition.requires_reason,
                        "description": transition.description,
                    }
                )
                for transition in self.transitions
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Lifecycle:
        """Build a lifecycle from the form :meth:`to_dict` writes.

        Every key is checked: an unknown one (``gaurd``) is refused with the known keys and the
        closest one, rather than ignored, and a value of the wrong kind (``terminal = "yes"``)
        is refused too. All such problems are listed at once; the lifecycle's own checks
        follow once they are fixed.
        """
        problems: list[Problem] = []
        top = _table(data, "", _TOP_KEYS, _TOP_KEYS, problems)
        if top is None:
            raise LifecycleError(*problems)
        states: list[State] = []
        raw_states = top.get("states", {})
        if not isinstance(raw_states, Mapping):
            problems.append(
                Problem("states", _brief(raw_states), "must be a table of states", _STATES_FIX)
            )
            raw_states = {}
        for name, raw in raw_states.items():
            where = f"states.{name}"
            spec = _table(raw, where, _STATE_KEYS, ("owner",), problems)
            if spec is None:
                continue
            states.append(
                State(
                    str(name),
                    owner=_text(spec, "owner", where, problems),
                    terminal=_flag(spec, "terminal", where, problems),
                    description=_text(spec, "description", where, problems),
                    stage=spec.get("stage"),  # checked by the lifecycle, as in Python
                )
            )
        transitions: list[Transition] = []
        raw_transitions = top.get("transitions", [])
        if isinstance(raw_transitions, (str, Mapping)) or not isinstance(raw_transitions, Sequence):
            problems.append(
                Problem(
                    "transitions",
                    _brief(raw_transitions),
                    "must be an array of tables",
                    "write one [[lifecycle.transitions]] table per transition",
                )
            )
            raw_transitions = []
        for index, raw in enumerate(raw_transitions):
            where = f"transitions[{index}]"
            spec = _table(raw, where, _TRANSITION_KEYS, ("trigger", "sources", "dest"), problems)
            if spec is None:
                continue
            guard_text = spec.get("guard")
            guard: Condition | None = None
            if guard_text is not None and not isinstance(guard_text, str):
                problems.append(
                    Problem(
                        f"{where}.guard",
                        guard_text,
                        "must be a condition written as text",
                        'write e.g. guard = "sql"',
                    )
                )
            elif guard_text is not None:
                try:
                    guard = Condition(guard_text, field=f"{where}.guard")
                except LeadSLAError as error:
                    problems.extend(error.problems)
            transitions.append(
                Transition(
                    trigger=_text(spec, "trigger", where, problems),
                    sources=_source_names(spec, where, problems),
                    dest=_text(spec, "dest", where, problems),
                    guard=guard,
                    requires_reason=_flag(spec, "requires_reason", where, problems),
                    description=_text(spec, "description", where, problems),
                )
            )
        initial = _text(top, "initial", "", problems)
        if problems:
            raise LifecycleError(*problems)
        return cls(states=states, transitions=transitions, initial=initial)


# -- reading the plain-data form: every problem is collected ------------------------------------

_TOP_KEYS: Final = ("initial", "states", "transitions")
_STATE_KEYS: Final = ("owner", "terminal", "stage", "description")
_TRANSITION_KEYS: Final = ("trigger", "sources", "dest", "guard", "requires_reason", "description")
_STATES_FIX: Final = "give one table per state, e.g. states = { lead = { owner = 'marketing' } }"


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _brief(value: Any) -> Any:
    """A value to quote in a message: tables and arrays of tables are not repeated whole."""
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list) and value and all(isinstance(item, Mapping) for item in value):
        return f"{len(value)} table{'s' if len(value) != 1 else ''}"
    return value


def _table(
    value: Any, where: str, known: Sequence[str], required: Sequence[str], problems: list[Problem]
) -> Mapping[str, Any] | None:
    """``value`` as a table of ``known`` keys, with ``required`` ones; problems are collected."""
    if not isinstance(value, Mapping):
        problems.append(
            Problem(
                where or "lifecycle", _brief(value), "must be a table", f"give {', '.join(known)}"
            )
        )
        return None
    meant: set[str] = set()  # keys a misspelling stands for: not reported missing as well
    for key in value:
        if key not in known:
            match = closest(key, known)
            meant.update([match] if match is not None else [])
            problems.append(
                Problem(
                    _at(where, str(key)),
                    _brief(value[key]),
                    "is not a known key here",
                    f"use {', '.join(known)}{did_you_mean(key, known)}",
                )
            )
    for key in required:
        if key not in value and key not in meant:
            problems.append(Problem(_at(where, key), None, "is missing", f"add {key} = ..."))
    return value


def _text(table: Mapping[str, Any], key: str, where: str, problems: list[Problem]) -> str:
    value = table.get(key, "")
    if isinstance(value, str):
        return value
    problems.append(Problem(_at(where, key), value, "must be text", f'write {key} = "..."'))
    return ""


def _flag(table: Mapping[str, Any], key: str, where: str, problems: list[Problem]) -> bool:
    value = table.get(key, False)
    if isinstance(value, bool):
        return value
    problems.append(Problem(_at(where, key), value, "must be true or false", f"write {key} = true"))
    return False


def _source_names(table: Mapping[str, Any], where: str, problems: list[Problem]) -> tuple[str, ...]:
    value = table.get("sources", ())
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return tuple(value)
    problems.append(
        Problem(
            _at(where, "sources"),
            value,
            "must be a list of state names",
            'write sources = ["mql", "sal"], or "*" for every non-terminal state',
        )
    )
    return ()


def _drop_defaults(data: dict[str, Any]) -> dict[str, Any]:
    # ``is`` for the flags: a stage of 0 is not a default (0 == False in Python).
    return {
        key: value
        for key, value in data.items()
        if not (value is None or value is False or (isinstance(value, str) and not value))
    }


def _mermaid_text(text: str) -> str:
    return text.replace(":", "#58;").replace("\n", " ")


def _dot_id(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot_text(text: str) -> str:
    return '"' + text.replace('"', '\\"') + '"'


def _expand(transition: Transition, states: Sequence[State]) -> Transition:
    """``"*"`` in the declared sources as every non-terminal state of ``states`` (but the
    destination); the result remembers what was declared."""
    declared = transition.declared_sources
    if ANY_STATE not in declared:
        return transition
    sources = [name for name in declared if name != ANY_STATE]
    sources += [
        state.name
        for state in states
        if not state.terminal and state.name != transition.dest and state.name not in sources
    ]
    expanded = Transition(
        transition.trigger,
        tuple(sources),
        transition.dest,
        transition.guard,
        transition.requires_reason,
        transition.description,
    )
    object.__setattr__(expanded, "_declared", declared)
    return expanded


def _check(
    states: Sequence[State], transitions: Sequence[Transition], initial: str
) -> list[Problem]:
    problems: list[Problem] = []
    names: dict[str, State] = {}
    for index, state in enumerate(states):
        where = f"states[{index}]"
        if (
            not isinstance(state.name, str)
            or not state.name
            or not state.name.replace("_", "").replace("-", "").isalnum()
        ):
            problems.append(
                Problem(
                    f"{where}.name",
                    state.name,
                    "is not a usable state name",
                    "use letters, digits, - and _",
                )
            )
            continue
        stage = state.stage
        if stage is not None and (
            isinstance(stage, bool) or not isinstance(stage, int) or stage < 0
        ):
            problems.append(
                Problem(
                    f"states.{state.name}.stage",
                    stage,
                    "must be a whole number, 0 or more",
                    "rank the state in the funnel: lead 0, MQL 1, ...; or leave it out",
                )
            )
        if state.name in names:
            problems.append(
                Problem(
                    f"states.{state.name}", state.name, "is defined twice", "define each state once"
                )
            )
        if not state.owner or not isinstance(state.owner, str):
            problems.append(
                Problem(
                    f"states.{state.name}.owner",
                    state.owner,
                    "is empty" if not state.owner else "must be the name of a team",
                    "name the team that owns leads in this state",
                )
            )
        names[state.name] = state
    if not names:
        return [Problem("states", [], "is empty", "define at least an initial state")]
    if initial not in names:
        problems.append(unknown("state", initial, names, "initial"))
    expanded: list[Transition] = []
    for index, transition in enumerate(transitions):
        where = f"transitions[{index}] ({transition.trigger})"
        if not isinstance(transition.trigger, str) or not transition.trigger.isidentifier():
            problems.append(
                Problem(
                    f"{where}.trigger",
                    transition.trigger,
                    "is not a usable trigger name",
                    "use letters, digits and _",
                )
            )
        if not transition.declared_sources:
            problems.append(
                Problem(f"{where}.sources", [], "is empty", "name at least one source state or '*'")
            )
        for source in transition.declared_sources:
            if source != ANY_STATE and (not isinstance(source, str) or source not in names):
                problems.append(unknown("state", source, names, f"{where}.sources"))
        if not isinstance(transition.dest, str) or transition.dest not in names:
            problems.append(unknown("state", transition.dest, names, f"{where}.dest"))
            continue
        if not all(isinstance(source, str) for source in transition.declared_sources):
            continue
        expanded.append(_expand(transition, list(names.values())))
    seen: dict[tuple[str, str], Transition] = {}
    for transition in expanded:
        for source in transition.sources:
            if source not in names:
                continue
            if names[source].terminal:
                problems.append(
                    Problem(
                        f"transitions ({transition.trigger})",
                        source,
                        "leaves a terminal state",
                        f"make {source!r} non-terminal or remove it from the sources",
                    )
                )
            key = (source, transition.trigger)
            if key in seen:
                problems.append(
                    Problem(
                        f"transitions ({transition.trigger})",
                        f"{source} -> {seen[key].dest} | {transition.dest}",
                        f"is ambiguous: {transition.trigger!r} is defined twice from {source!r}",
                        "give each trigger one destination per source state",
                    )
                )
            seen[key] = transition
    if initial not in names:
        return problems
    # Reachability and dead ends are judged on the transitions that are well formed, so they
    # are reported together with the structural problems above.
    expanded = [
        transition
        for transition in expanded
        if all(source in names for source in transition.sources)
    ]
    reachable = {initial}
    queue = deque([initial])
    while queue:
        current = queue.popleft()
        for transition in expanded:
            if current in transition.sources and transition.dest not in reachable:
                reachable.add(transition.dest)
                queue.append(transition.dest)
    for name in names:
        if name not in reachable:
            problems.append(
                Problem(
                    f"states.{name}",
                    name,
                    f"cannot be reached from the initial state {initial!r}",
                    "add a transition into it, or remove it",
                )
            )
    for name, state in names.items():
        leaves = any(name in transition.sources for transition in expanded)
        if not state.terminal and not leaves:
            problems.append(
                Problem(
                    f"states.{name}",
                    name,
                    "is not terminal but no transition leaves it",
                    "add a transition out of it, or mark the state terminal",
                )
            )
    return problems


def _default() -> Lifecycle:
    return Lifecycle(
        states=[
            State("lead", "marketing", description="A new lead: an email is present.", stage=0),
            State(
                "mql",
                "sales",
                description="Marketing-qualified: the mql term holds; a sales rep is assigned.",
                stage=1,
            ),
            State("sal", "sales", description="Sales accepted the MQL.", stage=2),
            State("sql", "sales", description="Sales-qualified: the rep qualified it.", stage=3),
            State("won", "sales", terminal=True, description="A customer.", stage=4),
            State("lost", "sales", terminal=True, description="The deal was lost."),
            State(
                "nurture",
                "marketing",
                description="The need is far away; marketing keeps warming the lead.",
            ),
            State(
                "handback",
                "marketing",
                description="Sales returned the lead: rejected, or attempts exhausted.",
            ),
            State("disqualified", "marketing", terminal=True, description="Not a fit."),
        ],
        transitions=[
            Transition("qualify", "lead", "mql", guard="mql", description="The mql term holds."),
            Transition("accept", "mql", "sal", description="Sales accepts the MQL."),
            Transition(
                "reject", "mql", "handback", requires_reason=True, description="Sales rejects it."
            ),
            Transition(
                "qualify_sales",
                "sal",
                "sql",
                guard="sql",
                description="The rep qualifies it; only while the sql term holds.",
            ),
            Transition("win", "sql", "won"),
            Transition("lose", "sql", "lost", requires_reason=True),
            Transition(
                "nurture",
                ("mql", "sal", "sql"),
                "nurture",
                requires_reason=True,
                description="The need is far away: back to marketing's nurture track.",
            ),
            Transition(
                "hand_back",
                ("mql", "sal"),
                "handback",
                requires_reason=True,
                description="Sales returns the lead to marketing.",
            ),
            Transition(
                "requalify",
                ("nurture", "handback"),
                "mql",
                requires_reason=True,
                description="Marketing sends the lead to sales again.",
            ),
            Transition(
                "disqualify",
                ANY_STATE,
                "disqualified",
                requires_reason=True,
                description="Not a fit.",
            ),
        ],
        initial="lead",
    )


_DEFAULT: Final = _default()
