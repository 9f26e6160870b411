"""A lead's recent history, and how a late event rewrites it.

Theory of operation
===================

Each lead is applied in its own event-time order. An event that arrives after newer inputs of
its lead (a call logged this morning for yesterday, a webhook retried out of order) is put in
its place, and the lead is worked out again from there: the events after it, and the timers
(warnings, deadlines) that come due between them, are applied again to the state just before
it. What comes out is compared with what came out the first time, effect by effect, by their
ids (:attr:`~leadsla._core.effects.Effect.id`: lead, origin, position, content): an effect
that no longer holds is withdrawn with a :class:`~leadsla._core.effects.Retracted`, and an
effect that is new is emitted. Everything that did not change is said once, the first time.

To do that, the engine keeps for each lead a :class:`Journal`: the events of the last
``allowed_lateness`` in time order, each with the lead's record and clocks just after it, and
the state before the first of them (the *base*). Nothing older is kept: an event older than
the engine's clock minus the allowed lateness is refused, so the base never needs to move
back. As the clock moves on, older entries are folded into the base, and a lead that has been
quiet for longer than the allowed lateness keeps no journal at all: its current state is its
base. Beyond a budget of quiet leads, those quiet the longest are held packed
(:mod:`leadsla._core.packing`): record and clocks as one ``bytes`` value, read back when the
lead is next touched.

The first run is not stored: it is worked out again from the same state with the same
inputs, which gives the same effects (the engine is deterministic), so memory holds records,
not effect lists.
"""

from __future__ import annotations

import heapq
from collections import Counter, OrderedDict, deque
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, NamedTuple

from leadsla._core.calendar import from_instant_us, instant_us
from leadsla._core.clocks import ObligationState
from leadsla._core.effects import Duplicate, Effect, Rejected, Retracted, kind_of
from leadsla._core.errors import (
    InvalidTransition,
    NaiveDatetimeError,
    Problem,
    RuleLoopError,
    UsageError,
    WorkflowError,
    render_problems,
)
from leadsla._core.events import Event
from leadsla._core.lead import Lead
from leadsla._core.ownership import AssignmentBook, BookDraft, Pick, pins_of
from leadsla._core.packing import Packer
from leadsla._core.steps import LeadChange, Stepper, live
from leadsla._core.tally import Contribution, Tally
from leadsla._core.timers import DEADLINE, Timer, TimerQueue
from leadsla._core.views import Due, LeadView, merge_order

__all__ = [
    "EPOCH",
    "NEVER",
    "REFUSED",
    "EngineState",
    "Entry",
    "Journal",
    "Ledger",
    "Logged",
    "Packed",
    "Rerun",
    "Seen",
    "corrections",
    "redo",
    "refusal",
    "repeated",
    "rerun",
    "too_far",
    "too_late",
]

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
#: Before any instant (a lead's base before its creation).
NEVER: Final = -(1 << 63)
_NO_CONTRIBUTION: Contribution = frozenset()
#: After any instant.
_LATER: Final = 1 << 63

#: The errors that make the workflow refuse an event (the lead keeps its record).
REFUSED: Final = (InvalidTransition, WorkflowError, RuleLoopError, NaiveDatetimeError)


class Logged(NamedTuple):
    """One event in a lead's journal, with the lead's record and clocks just after it, and
    whether the lead took it (a refused event is kept too: an earlier event arriving late may
    make it good, as it would have been in time order)."""

    at_us: int
    event: Event
    lead: Lead | None
    clocks: tuple[ObligationState, ...]
    taken: bool = True


_new_logged: Final = tuple.__new__  # Logged from a tuple of all five fields, on the hot path


class Journal:
    """A lead's events of the last allowed lateness, after its base state."""

    __slots__ = ("base_clocks", "base_lead", "base_us", "entries", "refused")

    def __init__(
        self, lead: Lead | None, clocks: tuple[ObligationState, ...], base_us: int
    ) -> None:
        self.base_lead = lead
        self.base_clocks = clocks
        self.base_us = base_us
        self.entries: list[Logged] = []
        #: How many entries the lead refused (kept in case a late event makes them good).
        self.refused = 0

    def without(self, event_id: str) -> Journal:
        """This journal without a refused entry of that id (an event sent again replaces
        it: a refused entry changed nothing, so the states stay true)."""
        kept = self._without(event_id)
        if kept is None:
            return self
        copy = Journal(self.base_lead, self.base_clocks, self.base_us)
        copy.hold(kept)
        return copy

    def add(self, logged: Logged) -> None:
        """Add an entry in its time order, replacing a refused entry of the same event id."""
        kept = self._without(logged.event.id)
        if kept is not None:
            self.hold(kept)
        self.entries.insert(self.position(logged.at_us), logged)  # the end, but when late
        self.refused += not logged.taken

    def hold(self, entries: list[Logged]) -> None:
        """Hold ``entries`` (in time order) instead of the journal's own."""
        self.entries = entries
        self.refused = sum(not entry.taken for entry in entries)

    def _without(self, event_id: str) -> list[Logged] | None:
        """The entries less a refused one of that id; None when there is none."""
        if not self.refused:
            return None
        kept = [e for e in self.entries if e.taken or e.event.id != event_id]
        return kept if len(kept) < len(self.entries) else None

    def position(self, at_us: int) -> int:
        """Where an event at ``at_us`` goes: after every entry at or before it."""
        entries = self.entries
        index = len(entries)
        while index and entries[index - 1].at_us > at_us:
            index -= 1
        return index

    def state_before(self, index: int) -> tuple[Lead | None, tuple[ObligationState, ...], int]:
        """The lead's record, clocks and time just after the entry before ``index``."""
        if index == 0:
            return self.base_lead, self.base_clocks, self.base_us
        entry = self.entries[index - 1]
        return entry.lead, entry.clocks, entry.at_us

    def fold(self, limit_us: int) -> None:
        """Fold every entry older than ``limit_us`` into the base."""
        entries = self.entries
        count = 0
        while count < len(entries) and entries[count].at_us < limit_us:
            count += 1
        if count:
            last = entries[count - 1]
            self.base_lead, self.base_clocks, self.base_us = last.lead, last.clocks, last.at_us
            if self.refused:  # recounted
                self.hold(entries[count:])
            else:
                del entries[:count]

    def find(self, event_id: str) -> Event | None:
        """The journal's event of that id, if it holds one."""
        for entry in self.entries:
            if entry.event.id == event_id:
                return entry.event
        return None


class Entry:
    """One lead as the engine keeps it: the record, its clocks, what it adds to the
    commitments' tallies (kept, so a change only works out the new contribution), the time of
    its latest step, its journal of recent events (None when it has been quiet for longer than
    the allowed lateness) and how often it was recomputed (its timers' epoch)."""

    __slots__ = ("clocks", "epoch", "journal", "last_us", "lead", "tally")

    def __init__(
        self,
        lead: Lead,
        clocks: tuple[ObligationState, ...],
        tally: Contribution,
        last_us: int,
        journal: Journal | None = None,
        epoch: int = 0,
    ) -> None:
        self.lead = lead
        self.clocks = clocks
        self.tally = tally
        self.last_us = last_us
        self.journal = journal
        self.epoch = epoch


class Packed(Entry):
    """A quiet lead held packed (:mod:`leadsla._core.packing`): its record and clocks are read
    back from one ``bytes`` value each time they are asked for, and the ledger puts an
    :class:`Entry` in its place (:meth:`unpacked`) before anything of it changes but its
    journal."""

    __slots__ = ("packed", "packer")

    def __init__(  # (Entry's own record and clocks slots stay empty: the properties stand in)
        self,
        tally: Contribution,
        last_us: int,
        journal: Journal | None,
        epoch: int,
        packed: bytes,
        packer: Packer,
    ) -> None:
        self.tally, self.last_us, self.journal, self.epoch = tally, last_us, journal, epoch
        self.packed = packed
        self.packer = packer

    @classmethod
    def of(cls, entry: Entry, packed: bytes, packer: Packer) -> Packed:
        """``entry``, its record and clocks ``packed``."""
        return cls(entry.tally, entry.last_us, entry.journal, entry.epoch, packed, packer)

    def __reduce__(self) -> tuple[type[Packed], tuple[Any, ...]]:
        # (Pickled as it is held: by default its record and clocks would be read back.)
        return Packed, (
            self.tally,
            self.last_us,
            self.journal,
            self.epoch,
            self.packed,
            self.packer,
        )

    @property
    def lead(self) -> Lead:
        return self.packer.unpack(self.packed)[0]

    @lead.setter
    def lead(self, value: Lead) -> None:
        raise AttributeError("a packed lead is unpacked (Packed.unpacked) before it changes")

    @property
    def clocks(self) -> tuple[ObligationState, ...]:
        return self.packer.unpack(self.packed)[1]

    @clocks.setter
    def clocks(self, value: tuple[ObligationState, ...]) -> None:
        raise AttributeError("a packed lead is unpacked (Packed.unpacked) before it changes")

    def unpacked(self) -> Entry:
        """The same lead as an :class:`Entry` of objects."""
        lead, clocks = self.packer.unpack(self.packed)
        return Entry(lead, clocks, self.tally, self.last_us, self.journal, self.epoch)


class Ledger:
    """Every lead as the engine keeps it (:class:`Entry`), the commitments' tally of them,
    and their journals, folded as the clock moves on."""

    __slots__ = (
        "entries",
        "fold_at",
        "fold_lead",
        "lateness",
        "merged",
        "orphans",
        "packed_beyond",
        "packer",
        "picks",
        "quiet",
        "tally",
    )

    def __init__(self, tally: Tally, lateness_us: int, packed_beyond: int | None = None) -> None:
        self.entries: dict[str, Entry] = {}
        #: Per surviving lead, the records merged into it (as keys, in the order merged).
        self.merged: dict[str, dict[str, None]] = {}
        #: Events for leads not created (yet), within the allowed lateness.
        self.orphans: dict[str, Journal] = {}
        self.tally = tally
        self.lateness = lateness_us
        #: When to look at each journal again (µs), and whose: one item per journal, nearly
        #: oldest first (an item put back goes last); two queues side by side rather than one
        #: of pairs, a tuple less per lead. A journal is folded in batches: its entries are
        #: kept until the newest of them at the last look is older than the window, so at
        #: most twice the allowed lateness of a busy lead's events is held.
        self.fold_at: deque[int] = deque()
        self.fold_lead: deque[str] = deque()
        #: Per lead, the owners order-dependent policies gave it while it has a journal (a
        #: late event's re-run keeps them: see :func:`redo`).
        self.picks: dict[str, list[Pick]] = {}
        #: How many quiet leads are kept as objects; beyond them, those quiet the longest are
        #: held packed (None: none is; see :mod:`leadsla._core.packing`).
        self.packed_beyond = packed_beyond
        self.packer = Packer()
        #: The quiet leads held as objects (no journal: quiet for longer than the allowed
        #: lateness), in the order they fell quiet; a lead touched again leaves it.
        self.quiet: OrderedDict[str, None] = OrderedDict()

    def take(self, change: LeadChange) -> None:
        """Keep a committed step of a lead: record, clocks, tally, journal."""
        lead = change.lead
        clocks = tuple(change.clocks)
        tally = self.tally
        entry = self.entries.get(lead.id)
        keep = self.lateness > 0
        if type(entry) is Packed:  # (its state before is the journal's base, below)
            entry = self.entries[lead.id] = entry.unpacked()
        if lead.standing is not None or (entry is not None and entry.lead.standing is not None):
            self._apart(entry.lead if entry is not None else None, lead)
        if entry is None:
            contribution = tally.of(lead.history) if change.counted else _NO_CONTRIBUTION
            tally.replace(_NO_CONTRIBUTION, contribution)
            entry = self.entries[lead.id] = Entry(lead, clocks, contribution, change.at_us)
            if keep:  # after the events parked for it (a late creation may come before them)
                entry.journal = self.orphans.pop(lead.id, None)
                if entry.journal is None:
                    entry.journal = Journal(None, (), NEVER)
                    self.look_again(change.at_us, lead.id)
        else:
            if keep and entry.journal is None:  # (else _journal would give the one it has)
                self._journal(entry, lead.id, change.at_us)
            entry.lead, entry.clocks, entry.last_us = lead, clocks, change.at_us
            if change.counted:
                contribution = tally.of(lead.history)
                tally.replace(entry.tally, contribution)
                entry.tally = contribution
        if keep and change.book is not None and change.book.picked:
            self.picks.setdefault(lead.id, []).extend(change.book.picked)
        event = change.event
        if keep and event is not None and (journal := entry.journal) is not None:
            logged = _new_logged(Logged, (change.at_us, event, lead, clocks, True))
            entries = journal.entries
            if journal.refused or (entries and entries[-1].at_us > change.at_us):
                journal.add(logged)
            else:  # in time order, nothing refused to replace: the end
                entries.append(logged)
        if lead.standing is not None and lead.standing.erased_at is not None:
            self._forget(entry, lead.id)

    def _apart(self, before: Lead | None, after: Lead) -> None:
        """Note what a lead's new record changes of the records merged into others."""
        was = before.merged_into if before is not None else None
        now = after.merged_into
        if was == now:
            return
        if was is not None and (absorbed := self.merged.get(was)) is not None:
            absorbed.pop(after.id, None)
            if not absorbed:
                del self.merged[was]
        if now is not None:
            self.merged.setdefault(now, {})[after.id] = None

    def _forget(self, entry: Entry, lead_id: str) -> None:
        """An erased lead keeps no history: its events held personal data, and no late
        event can go before its erasure (one that comes is refused, see :meth:`late`)."""
        entry.journal = None
        self.picks.pop(lead_id, None)
        self.orphans.pop(lead_id, None)

    def late(
        self, event: Event, clock: datetime | None, limit_us: int, lateness_us: int
    ) -> Problem:
        """Why an event behind the clock cannot be put in its place: its lead was erased, or
        the history it needs is gone (:func:`too_late`)."""
        entry = self.entries.get(event.lead)
        erased = entry.lead.erased_at if entry is not None else None
        if erased is None:
            return too_late(event, clock, limit_us, lateness_us)
        return Problem(
            "lead",
            event.lead,
            f"names a record that was erased ({erased.isoformat()}): it takes no more events, "
            "late ones included",
            "a person who comes back is a new record: give it a new lead id",
        )

    def view(self, lead_id: str, as_of: datetime | None, stepper: Stepper) -> LeadView:
        """A lead's record and clocks: now, or as they stood at event time ``as_of`` (its
        events up to then, and its timers due by then; a time after the clock tells what
        stands then if nothing else happens). Raises ``KeyError`` for a lead unknown then,
        and :class:`~leadsla.UsageError` for a time older than the history kept."""
        entry = self.entries[lead_id]
        if as_of is None:
            return LeadView(entry.lead, entry.clocks, self._merged(lead_id, as_of, stepper))
        at_us = instant_us(as_of, "as_of")
        journal = entry.journal
        lead: Lead | None
        if journal is None:
            oldest, lead, clocks, start = entry.last_us, entry.lead, entry.clocks, entry.last_us
        else:
            oldest = journal.base_us
            lead, clocks, start = journal.state_before(journal.position(at_us))
        if at_us < oldest:
            zone = as_of.tzinfo or UTC
            raise UsageError(
                Problem(
                    "as_of",
                    as_of,
                    f"is older than the history the engine keeps of lead {lead_id}",
                    f"ask about {from_instant_us(oldest, zone).isoformat()} or later, or "
                    "replay the log up to that time (leadsla lead LEAD --as-of TIME does)",
                )
            )
        run = rerun(stepper, lead, clocks, start, [], at_us, entry.epoch, None)
        if run.lead is None:
            raise KeyError(lead_id)
        return LeadView(run.lead, run.clocks, self._merged(lead_id, as_of, stepper))

    def merged_views(self, lead_id: str) -> list[LeadView]:
        """The views of the records this ledger holds that were merged into ``lead_id`` (which
        it may not hold: a partitioned store joins those of every partition), without the
        records merged into them."""
        return [
            LeadView(self.entries[other].lead, self.entries[other].clocks)
            for other in self.merged.get(lead_id, ())
        ]

    def _merged(
        self,
        lead_id: str,
        as_of: datetime | None,
        stepper: Stepper,
        seen: frozenset[str] = frozenset(),
    ) -> tuple[LeadView, ...]:
        """The views of the records merged into ``lead_id`` (by ``as_of``), in the order they
        were merged; each with those merged into it (a record met twice is shown once)."""
        absorbed = self.merged.get(lead_id)
        if not absorbed:
            return ()
        seen = seen | {lead_id}
        found = []
        for other in absorbed:
            if other in seen:
                continue
            entry = self.entries[other]
            if as_of is None:
                view = LeadView(entry.lead, entry.clocks)
            else:
                try:
                    view = self.view(other, as_of, stepper)
                except (KeyError, UsageError):  # not created, or not merged, by then
                    continue
            if view.lead.merged_into != lead_id:
                continue
            view = LeadView(view.lead, view.obligations, self._merged(other, as_of, stepper, seen))
            found.append(view)
        return tuple(sorted(found, key=merge_order))

    def journal_for(self, lead_id: str, at_us: int) -> Journal | None:
        """The journal a late event at ``at_us`` goes into: the lead's own; a new one on its
        current state when it has been quiet since before the event; the events parked for a
        lead not created yet. None: the history it needs is gone."""
        entry = self.entries.get(lead_id)
        if entry is None:
            return self.orphans.get(lead_id) or Journal(None, (), NEVER)
        if entry.journal is not None:
            return entry.journal if entry.journal.base_us <= at_us else None
        if at_us >= entry.last_us:
            return Journal(entry.lead, entry.clocks, entry.last_us)
        return None

    def refused(self, event: Event, at_us: int) -> None:
        """Keep an event its lead refused, in case a late event makes it good (an event for
        a lead that does not exist is parked, in case its creation arrives late)."""
        if not self.lateness:
            return
        entry = self.entries.get(event.lead)
        if entry is not None and entry.lead.erased_at is not None:
            return  # nothing can make it good, and it may hold personal data
        if entry is None:  # parked: its creation may still arrive, late
            parked = self.orphans.get(event.lead)
            if parked is None:
                parked = self.orphans[event.lead] = Journal(None, (), NEVER)
                self.look_again(at_us, event.lead)
            parked.add(Logged(at_us, event, None, (), False))
            return
        self._journal(entry, event.lead, at_us).add(
            Logged(at_us, event, entry.lead, entry.clocks, False)
        )

    def _journal(self, entry: Entry, lead_id: str, at_us: int) -> Journal:
        """The lead's journal; one started on its current state (where a late event starts)
        when it has none, and looked at again once ``at_us`` is older than the window."""
        if entry.journal is None:
            entry.journal = Journal(entry.lead, entry.clocks, entry.last_us)
            self.look_again(at_us, lead_id)
            self.quiet.pop(lead_id, None)  # (touched again: no longer quiet)
        return entry.journal

    def redone(
        self, lead_id: str, journal: Journal, index: int, run: Rerun, epoch: int
    ) -> list[Timer]:
        """Keep a lead worked out again from entry ``index`` of ``journal``; the timers to
        queue."""
        kept = Journal(journal.base_lead, journal.base_clocks, journal.base_us)
        kept.hold([*journal.entries[:index], *run.entries])
        assert run.lead is not None
        contribution = self.tally.of(run.lead.history)
        entry = self.entries.get(lead_id)
        if type(entry) is Packed:  # (replaced below)
            entry = self.entries[lead_id] = entry.unpacked()
        self.quiet.pop(lead_id, None)  # (touched again: no longer quiet)
        self._apart(entry.lead if entry is not None else None, run.lead)
        if entry is None:
            self.orphans.pop(lead_id, None)
            self.tally.replace(_NO_CONTRIBUTION, contribution)
            self.entries[lead_id] = Entry(
                run.lead, run.clocks, contribution, run.last_us, kept, epoch
            )
        else:
            self.tally.replace(entry.tally, contribution)
            entry.lead, entry.clocks, entry.tally = run.lead, run.clocks, contribution
            entry.last_us, entry.journal, entry.epoch = run.last_us, kept, epoch
        if kept.entries:
            self.look_again(kept.entries[-1].at_us, lead_id)
        if run.picks is not None:
            self.picks[lead_id] = run.picks
        if run.lead.erased_at is not None:
            self._forget(self.entries[lead_id], lead_id)
        return run.timers

    def look_again(self, at_us: int, lead_id: str) -> None:
        """Look at the lead's journal again once ``at_us`` is older than the window."""
        self.fold_at.append(at_us)
        self.fold_lead.append(lead_id)

    def fold(self, clock_us: int) -> None:
        """Forget the history no event can reach any more: events older than the clock minus
        the allowed lateness join their lead's base, and a lead quiet since before then keeps
        no journal."""
        fold_at, fold_lead, leads = self.fold_at, self.fold_lead, self.entries
        look_again = self.look_again
        limit_us = clock_us - self.lateness
        while fold_at and fold_at[0] < limit_us:
            fold_at.popleft()
            lead_id = fold_lead.popleft()
            entry = leads.get(lead_id)
            if entry is None and (parked := self.orphans.get(lead_id)) is not None:
                parked.fold(limit_us)
                if parked.entries:
                    look_again(parked.entries[-1].at_us, lead_id)
                else:
                    del self.orphans[lead_id]
                continue
            if entry is None or (journal := entry.journal) is None:
                continue
            if entry.last_us < limit_us and (
                not journal.entries or journal.entries[-1].at_us < limit_us
            ):  # quiet since before the window (the usual case): nothing to fold, only to drop
                entry.journal = None
                self.picks.pop(lead_id, None)
                if self.packed_beyond is not None and type(entry) is Entry:
                    self.quiet[lead_id] = None
                continue
            if journal.entries:
                journal.fold(limit_us)
                if (picks := self.picks.get(lead_id)) is not None:  # those no re-run reaches
                    base = journal.base_us
                    picks[:] = [pick for pick in picks if instant_us(pick.at) >= base]
            if journal.entries:  # come back when these are all old enough: in batches
                look_again(journal.entries[-1].at_us, lead_id)
            else:  # a timer fired since: its state is the base until it is old enough too
                look_again(entry.last_us, lead_id)
        beyond = self.packed_beyond
        if beyond is not None and len(self.quiet) > beyond:
            self._pack_quiet(beyond)

    def _pack_quiet(self, beyond: int) -> None:
        """Pack the leads quiet the longest, beyond the ``beyond`` most recently quiet; one
        with a clock open is not packed (its timer will touch it), and leaves the count."""
        quiet, entries, pack = self.quiet, self.entries, self.packer.pack
        while len(quiet) > beyond:
            entry = entries.get(quiet.popitem(last=False)[0])
            if type(entry) is not Entry or entry.journal is not None:
                continue  # (not expected: a lead touched again leaves the queue)
            clocks = entry.clocks
            for clock in clocks:
                if clock.status == "open":
                    break
            else:
                packed = pack(entry.lead, clocks)
                if packed is not None:
                    entries[entry.lead.id] = Packed.of(entry, packed, self.packer)

    def upcoming(self, queue: TimerQueue, limit: int, stepper: Stepper) -> list[Due]:
        """The warnings and deadlines still to come up to ``limit``, in firing order."""
        upcoming: list[tuple[int, int, str, int, Due]] = []
        for timer in queue.due(limit):
            entry = self.entries[timer.lead]
            if not live(timer, entry.clocks, entry.epoch):
                continue
            clock = entry.clocks[timer.clock]
            timing = stepper.of(entry.lead).timing(clock)
            due_us = instant_us(clock.due_at)
            moments = []
            if clock.status == "open":
                moments.append((due_us, DEADLINE))
                if timing.warnings:
                    warnings = timing.warning_instants(clock, due_us, instant_us(clock.opened_at))
                    moments += [
                        (at, kind) for kind, at in enumerate(warnings) if kind >= clock.warned
                    ]
            given = clock.warned - timing.warnings  # the escalations already given
            climbing = clock.status == "open" or (
                clock.status == "breached" and stepper.of(entry.lead).escalates(entry.lead, clock)
            )
            for number, (step_us, _) in enumerate(timing.escalation_order(due_us)):
                if climbing and number >= given:
                    moments.append((step_us, DEADLINE + 1 + timing.warnings + number))
            for at_us, kind in moments:
                if at_us <= limit:
                    what: Literal["warning", "deadline", "escalation"] = (
                        "deadline"
                        if kind == DEADLINE
                        else "warning"
                        if kind < DEADLINE
                        else "escalation"
                    )
                    at = from_instant_us(at_us, clock.due_at.tzinfo or UTC)
                    owner = entry.lead.owner
                    item = Due(at, what, timer.lead, clock.name, clock.number, clock.due_at, owner)
                    upcoming.append((at_us, kind, timer.lead, timer.clock, item))
        upcoming.sort(key=lambda item: item[:4])
        return [item[4] for item in upcoming]


class Rerun:
    """What applying a lead's inputs again gave: its record, clocks, effects, journal entries,
    the timers still to come, and the time of its last step."""

    __slots__ = (
        "clocks",
        "counted",
        "effects",
        "entries",
        "last_us",
        "lead",
        "picks",
        "refused",
        "timers",
    )

    def __init__(
        self, lead: Lead | None, clocks: tuple[ObligationState, ...], last_us: int
    ) -> None:
        #: The lead's picks by order-dependent policies after a late event's re-run.
        self.picks: list[Pick] | None = None
        self.lead = lead
        self.clocks = clocks
        self.last_us = last_us
        self.effects: list[Effect] = []
        self.entries: list[Logged] = []
        self.timers: list[Timer] = []
        self.counted = False
        #: The refusal of the run's ``first`` event, when the lead could not take it.
        self.refused: Rejected | None = None


def rerun(
    stepper: Stepper,
    lead: Lead | None,
    clocks: tuple[ObligationState, ...],
    start_us: int,
    events: Sequence[tuple[int, Event]],
    until_us: int,
    epoch: int,
    book: BookDraft | None,
    first: Event | None = None,
) -> Rerun:
    """Apply ``events`` (in time order) to a lead whose record and clocks are ``lead`` and
    ``clocks`` at ``start_us``, with the lead's timers in between, then its timers up to
    ``until_us``. An event its lead cannot take is refused (a ``Rejected`` effect) and kept
    in the journal entries; when that event is ``first``, the refusal is also ``refused``."""
    done = Rerun(lead, clocks, start_us)
    due = stepper.of(lead).timers_of(clocks, epoch, lead, start_us) if lead is not None else []
    heapq.heapify(due)
    for at_us, event in events:
        _fire(stepper, done, due, at_us, book)
        child = book.child() if book is not None else None
        try:
            change = stepper.event(done.lead, done.clocks, event, at_us, child, epoch)
        except REFUSED as error:
            rejected = refusal(event.lead, event.at, event.id, error.problems)
            if event is first:
                done.refused = rejected
            done.effects.append(rejected)
            done.entries.append(Logged(at_us, event, done.lead, done.clocks, False))
            continue
        if book is not None and child is not None:
            book.merge(child)
        done.lead, done.clocks, done.last_us = change.lead, tuple(change.clocks), at_us
        done.effects.extend(change.effects)
        done.counted = done.counted or change.counted
        done.entries.append(Logged(at_us, event, done.lead, done.clocks))
        for timer in change.timers:
            heapq.heappush(due, timer)
    _fire(stepper, done, due, until_us, book)
    done.timers = due
    return done


def _fire(
    stepper: Stepper, done: Rerun, due: list[Timer], until_us: int, book: BookDraft | None
) -> None:
    """Fire the lead's timers due at or before ``until_us``, in order."""
    while due and due[0].at_us <= until_us:
        timer = heapq.heappop(due)
        if done.lead is None or not live(timer, done.clocks, timer.epoch):
            continue
        child = book.child() if book is not None else None
        change = stepper.timer(done.lead, done.clocks, timer, child)
        if book is not None and child is not None:
            book.merge(child)
        done.lead, done.clocks, done.last_us = change.lead, tuple(change.clocks), timer.at_us
        done.effects.extend(change.effects)
        done.counted = done.counted or change.counted
        for new in change.timers:
            heapq.heappush(due, new)


def corrections(
    before: Sequence[Effect], after: Sequence[Effect], event: Event, at: datetime
) -> list[Effect]:
    """What to say when a lead's effects were ``before`` and now are ``after``: a
    ``Retracted`` for each effect of ``before`` that ``after`` lacks (in order), then each
    effect of ``after`` that ``before`` lacks (in order). Effects are matched by id."""
    kept = Counter(effect.id for effect in after)
    said = Counter(effect.id for effect in before)
    reason = f"event {event.id} at {at.isoformat()} arrived late"
    out: list[Effect] = []
    origin = "event:" + event.id
    for effect in before:
        if kept[effect.id] > 0:
            kept[effect.id] -= 1
            continue
        retracted = Retracted(effect.lead, effect.at, effect.id, kind_of(effect), reason)
        out.append(retracted)
    for effect in after:
        if said[effect.id] > 0:
            said[effect.id] -= 1
            continue
        out.append(effect)
    for position, effect in enumerate(out):
        if type(effect) is Retracted:
            effect.stamped(origin, position)
    return out


def refusal(
    lead: str | None, at: datetime | None, event_id: str | None, problems: Sequence[Problem]
) -> Rejected:
    """A refused input: its problems are the effect's details and, rendered, its reason."""
    rejected = Rejected(lead or "", at or EPOCH, render_problems(problems), event_id, problems)
    if event_id is not None:
        rejected.stamped("event:" + event_id, 0)
    return rejected


class EngineState(NamedTuple):
    """What an engine holds besides its agreement and settings (for a snapshot)."""

    clock: datetime | None
    clock_us: int
    ledger: Ledger
    timers: TimerQueue
    seen: Seen
    book: AssignmentBook | None


class Seen:
    """The ids of the events taken that are not older than the allowed lateness, each with
    its lead (the record's id string).

    An older event is refused as too late whatever its id, so its id need not be kept: the
    map does not grow with the log. Ids leave in arrival order once their event's time falls
    out of the window (a late event's id may stay a little longer: never shorter).
    """

    __slots__ = ("_ids", "_leads", "_times", "next_us")

    def __init__(self) -> None:
        self._leads: dict[str, str] = {}
        # The ids in arrival order and their events' times, side by side (no pair per id).
        self._times: deque[int] = deque()
        self._ids: deque[str] = deque()
        #: When the first id kept may go (checked by the engine: a call per input costs).
        self.next_us = _LATER

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._leads

    def __len__(self) -> int:
        return len(self._leads)

    def lead(self, event_id: str) -> str:
        """The lead of a seen event."""
        return self._leads[event_id]

    def add(self, event_id: str, lead: str, at_us: int) -> None:
        self._leads[event_id] = lead
        if not self._times:
            self.next_us = at_us
        self._times.append(at_us)
        self._ids.append(event_id)

    def took(self, entries: Sequence[Logged], lead: str) -> None:
        """Add the events a lead took, of a journal's ``entries``."""
        for logged in entries:
            if logged.taken:
                self.add(logged.event.id, lead, logged.at_us)

    def forget(self, limit_us: int) -> None:
        """Forget the ids of events older than ``limit_us``."""
        times, ids, leads = self._times, self._ids, self._leads
        while times and times[0] < limit_us:
            times.popleft()
            leads.pop(ids.popleft(), None)
        self.next_us = times[0] if times else _LATER


def redo(
    stepper: Stepper,
    journal: Journal,
    event: Event,
    at_us: int,
    until_us: int,
    epoch: int,
    book: BookDraft | None,
    picks: Sequence[Pick] = (),
) -> tuple[Journal, int, Rerun, list[Effect]]:
    """Put a late event in its place in ``journal`` and work the lead out again up to
    ``until_us``: the journal it went into (without an earlier refused copy of the event),
    where, the new run, and the corrections to emit. When the lead cannot take the event
    where it goes, ``run.refused`` says so (and the event is kept, refused)."""
    journal = journal.without(event.id)
    index = journal.position(at_us)
    lead, clocks, start_us = journal.state_before(index)
    later = [(logged.at_us, logged.event) for logged in journal.entries[index:]]
    events = [(at_us, event), *later]
    # Order-dependent policies keep the owners they gave (pinned by team and instant, in the
    # order given), and the book takes only the difference between the two runs.
    new_book = BookDraft(book, pins_of(picks)) if book is not None else None
    old_book = BookDraft(book, pins_of(picks)) if book is not None else None
    run = rerun(stepper, lead, clocks, start_us, events, until_us, epoch, new_book, first=event)
    old = rerun(stepper, lead, clocks, start_us, later, until_us, epoch, old_book)
    if book is not None and new_book is not None and old_book is not None:
        book.merge(new_book)
        book.merge(old_book, -1)
        run.picks = [*_less(picks, old_book.picked or ()), *(new_book.picked or ())]
    return journal, index, run, corrections(old.effects, run.effects, event, event.at)


def _less(picks: Sequence[Pick], taken: Sequence[Pick]) -> list[Pick]:
    """``picks`` in order, less one of each of ``taken`` (what the first run gave again)."""
    gone = Counter(taken)
    kept = []
    for pick in picks:
        if gone[pick] > 0:
            gone[pick] -= 1
        else:
            kept.append(pick)
    return kept


def too_late(event: Event, clock: datetime | None, limit_us: int, lateness_us: int) -> Problem:
    """Why an event older than the allowed lateness is refused."""
    shown = clock.isoformat() if clock else "?"
    oldest = from_instant_us(limit_us, (clock.tzinfo if clock else None) or UTC)
    return Problem(
        "at",
        event.at,
        "is older than the allowed lateness",
        f"the engine's clock is at {shown} and the allowed lateness is "
        f"{timedelta(microseconds=lateness_us)}, so the oldest event it takes is at "
        f"{oldest.isoformat()}: send events sooner, give the engine a longer "
        "allowed_lateness, or replay the log into a new engine",
    )


def too_far(event: Event, clock: datetime, horizon_us: int) -> Problem:
    """Why an event dated too far ahead of the clock is refused."""
    return Problem(
        "at",
        event.at,
        "is too far ahead of the engine's clock",
        f"the clock is at {clock.isoformat()} and the horizon is "
        f"{timedelta(microseconds=horizon_us)}: check the event's date (a wrong year?), "
        "or give the engine a longer horizon",
    )


def repeated(entries: Mapping[str, Entry], lead: str, event: Event) -> Duplicate | Problem:
    """An event whose id was seen before, for ``lead``: a duplicate when it is the same
    event (compared in full while its lead's journal holds the first, else by lead), or
    why it is refused as a conflict."""
    entry = entries.get(lead)
    first = entry.journal.find(event.id) if entry and entry.journal else None
    if lead == event.lead and (first is None or first == event):
        duplicate = Duplicate(event.lead, event.at, event.id)
        duplicate.stamped("event:" + event.id, 0)
        return duplicate
    earlier = repr(first) if first is not None else f"an event of lead {lead}"
    return Problem(
        "id",
        event.id,
        "was seen before with different content",
        f"the first was {earlier}; give a correction its own id",
    )
