"""Hypothesis strategies, a state machine and a throwaway PostgreSQL server for testing code
that uses leadsla.

Needs the ``hypothesis`` package (``pip install 'leadsla[test]'``).

>>> from hypothesis import given
>>> from leadsla.testing import calendars
>>> @given(calendars())
... def test_my_deadline_rule(calendar): ...
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import pathlib
import pwd
import shlex
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

try:
    from hypothesis import strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
except ImportError as error:  # pragma: no cover - exercised only without the test extra
    raise ImportError(
        "leadsla.testing needs Hypothesis; install it with: pip install 'leadsla[test]'"
    ) from error

from leadsla._core.agreement import Agreement
from leadsla._core.calendar import WEEKDAYS, BusinessCalendar
from leadsla._core.clocks import ObligationState
from leadsla._core.conditions import RESERVED_NAMES, FieldType
from leadsla._core.effects import (
    Duplicate,
    Effect,
    ObligationBreached,
    ObligationEscalated,
    ObligationWarned,
    Rejected,
    Retracted,
    effect_to_dict,
)
from leadsla._core.engine import Engine
from leadsla._core.errors import NaiveDatetimeError
from leadsla._core.events import (
    ActivityLogged,
    Event,
    LeadConverted,
    LeadCreated,
    LeadErased,
    LeadMerged,
    LeadUpdated,
    OwnerAssigned,
    TransitionRequested,
)
from leadsla._core.obligations import ActivityMatch
from leadsla._core.views import LeadView
from leadsla._shell.simulate import _later

__all__ = [
    "EngineMachine",
    "PostgresUnavailable",
    "aware_datetimes",
    "calendar_specs",
    "calendars",
    "event_streams",
    "interesting_zones",
    "postgres_server",
]

#: Zones that exercise the calendar: daylight saving at 03:00 and at midnight, half-hour and
#: 45-minute offsets, a 30-minute daylight-saving shift, the southern hemisphere, and UTC.
INTERESTING_ZONES: tuple[str, ...] = (
    "UTC",
    "Europe/Helsinki",
    "America/New_York",
    "America/Santiago",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/St_Johns",
    "Europe/London",
)


def interesting_zones() -> st.SearchStrategy[ZoneInfo]:
    """Time zones with awkward offsets and daylight-saving rules."""
    return st.sampled_from(INTERESTING_ZONES).map(ZoneInfo)


def _clock(minutes: int) -> str:
    return "24:00" if minutes == 1440 else f"{minutes // 60:02d}:{minutes % 60:02d}"


@st.composite
def _day_hours(draw: st.DrawFn, *, step: int) -> list[tuple[str, str]]:
    """0-3 non-overlapping intervals in one day; the last may run past midnight."""
    slots = 1440 // step
    count = draw(st.integers(0, 3))
    points = sorted(
        draw(st.sets(st.integers(0, slots - 1), min_size=2 * count, max_size=2 * count))
    )
    intervals = [
        (_clock(points[i] * step), _clock(points[i + 1] * step)) for i in range(0, len(points), 2)
    ]
    overnight = draw(st.booleans())
    if intervals and overnight:
        # Let the last interval run overnight: close before it opens, or at 24:00.
        opening = intervals[-1][0]
        opening_minutes = int(opening[:2]) * 60 + int(opening[3:])
        close_minutes = draw(st.sampled_from([1440, *range(0, opening_minutes + 1, step)]))
        intervals[-1] = (opening, _clock(close_minutes))
    return intervals


@st.composite
def calendar_specs(
    draw: st.DrawFn,
    *,
    zones: st.SearchStrategy[tzinfo] | None = None,
    years: tuple[int, int] = (2025, 2027),
    step: int = 15,
) -> dict[str, Any]:
    """Keyword arguments for :class:`~leadsla.BusinessCalendar`: random weeks with lunch breaks
    and overnight shifts, holidays and overrides within ``years``, in awkward zones."""
    zone = draw(zones if zones is not None else interesting_zones())
    week = {day: draw(_day_hours(step=step)) for day in WEEKDAYS}
    if not any(week.values()):
        week["mon"] = [("09:00", "17:00")]
    first, last = date(years[0], 1, 1), date(years[1], 12, 31)
    holidays = draw(st.lists(st.dates(first, last), max_size=6, unique=True))
    override_days = draw(st.lists(st.dates(first, last), max_size=3, unique=True))
    overrides = {day: draw(_day_hours(step=step)) for day in override_days}
    return {"tz": zone, "week": week, "holidays": holidays, "overrides": overrides}


def calendars(
    *,
    zones: st.SearchStrategy[tzinfo] | None = None,
    years: tuple[int, int] = (2025, 2027),
) -> st.SearchStrategy[BusinessCalendar]:
    """Random valid business calendars (see :func:`calendar_specs`)."""
    return calendar_specs(zones=zones, years=years).map(lambda spec: BusinessCalendar(**spec))


def aware_datetimes(
    *,
    start: datetime = datetime(2025, 6, 1),
    end: datetime = datetime(2027, 6, 1),
    zones: st.SearchStrategy[tzinfo] | None = None,
    minute_aligned: bool = False,
) -> st.SearchStrategy[datetime]:
    """Timezone-aware datetimes between naive bounds, in varied zones."""
    zone_strategy = zones if zones is not None else interesting_zones()
    moments = st.datetimes(
        min_value=start, max_value=end, timezones=zone_strategy, allow_imaginary=False
    )
    if minute_aligned:
        return moments.map(lambda moment: moment.replace(second=0, microsecond=0))
    return moments


# ------------------------------------------------------------------------------------------
# Event streams and a stateful test of the engine, in the words of any agreement.

#: Gaps between consecutive inputs, in minutes: simultaneous events, minutes, hours, a day,
#: several days (so warnings, deadlines, handbacks and periodic clocks all happen).
_GAPS = (0, 1, 5, 30, 90, 240, 1440, 4000)
_START = datetime(2026, 3, 2, 8, 0)


def _after(moment: datetime, minutes: int) -> datetime:
    """``minutes`` of real time after ``moment``, in its zone (not wall-clock arithmetic)."""
    return _later(moment, timedelta(minutes=minutes))


class _Vocabulary:
    """What an agreement lets events say: its triggers, people, fields and activities."""

    def __init__(self, agreement: Agreement) -> None:
        self.triggers = sorted(agreement.lifecycle.triggers)
        people = {member for team in agreement.teams for member in team.members}
        people |= {team.manager for team in agreement.teams if team.manager}
        self.people = sorted(people)
        found: list[ActivityMatch | None] = []
        for spec in agreement.obligations:
            found += [when.activity for when in (spec.starts, spec.met, spec.cancelled) if when]
            if spec.attempts is not None:
                found += [spec.attempts.counts, spec.attempts.reached]
        matches = [match for match in found if match is not None]
        self.kinds = sorted({"call", "email", *(kind for m in matches for kind in m.kinds)})
        self.outcomes = sorted(
            {"connected", "no_answer", *(outcome for m in matches for outcome in m.outcomes)}
        )
        conditions = [term.condition for term in agreement.terms]
        conditions += [rule.when for rule in agreement.rules.rules]
        # Every field the agreement knows, with its type (declared, else as its conditions use
        # it); without any, the names the terms and rules read, with any kind of value.
        fields = {
            name: kind for name, kind in agreement.field_types.items() if name not in RESERVED_NAMES
        }
        if not fields:
            read = set().union(*(condition.names for condition in conditions))
            names = sorted(read - agreement.terms.names - RESERVED_NAMES)
            fields = dict.fromkeys(names, FieldType("any"))
        self.fields = fields
        # The fields the agreement's ``lead`` term reads: a creation mostly gives them, so
        # that most records enter the lifecycle (the others are kept outside it).
        term = next((term for term in agreement.terms if term.name == "lead"), None)
        self.lead_fields = sorted(
            name for name in (term.condition.names if term else ()) if name in fields
        )
        self.zone = ZoneInfo(agreement.timezone)
        # The numbers conditions compare with, and their neighbours: where decisions flip.
        constants: set[float] = set()
        for condition in conditions:
            constants.update(_numbers_in(condition.source))
        self.near = sorted({value + step for value in constants for step in (-1, 0, 1)})


def _numbers_in(source: str) -> list[float]:
    """The numeric literals of a condition's text."""
    return [
        node.value
        for node in ast.walk(ast.parse(source, mode="eval"))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, (int, float))
        and not isinstance(node.value, bool)
    ]


def _values(kind: FieldType, near: Sequence[float]) -> st.SearchStrategy[Any]:
    """Values for a field of type ``kind``, at and around the numbers the agreement's
    conditions compare with (``near``), or None (missing); now and then a value of another
    type, which the engine refuses."""
    numbers = st.one_of(st.integers(-5, 120), st.sampled_from([0, *near]))
    texts = st.one_of(
        st.sampled_from(["ann@acme.fi", "bo@beta.se", "FI", "SE", "US", ""]),
        st.text(alphabet="abcxyz@.-_ ", max_size=6),  # a small alphabet: quick to start
    )
    days = st.dates(date(2025, 1, 1), date(2027, 12, 31))
    anything = st.one_of(numbers, st.booleans(), texts)
    by_kind: dict[str, st.SearchStrategy[Any]] = {
        "number": numbers,
        "boolean": st.booleans(),
        "text": texts,
        "list": st.lists(texts, max_size=3),
        "table": st.dictionaries(st.sampled_from(["a", "b"]), texts, max_size=2),
        "date": days.map(date.isoformat),
        "datetime": days.map(lambda day: f"{day.isoformat()}T09:30:00+02:00"),
    }
    if kind.kind == "choice":
        fitting: st.SearchStrategy[Any] = st.sampled_from(kind.values)
    else:
        fitting = by_kind.get(kind.kind, anything)
    if kind.kind == "any":
        return st.one_of(fitting, st.none())
    # Now and then (one draw in ten or so) a value of any type, which may not fit: the engine
    # must refuse it, cleanly.
    mixed = st.tuples(st.integers(0, 9), fitting, anything).map(
        lambda drawn: drawn[2] if drawn[0] == 9 else drawn[1]
    )
    return st.one_of(mixed, st.none())


@st.composite
def _fields(
    draw: st.DrawFn,
    vocabulary: _Vocabulary,
    *,
    min_size: int,
    with_names: Sequence[str] = (),
) -> dict[str, Any]:
    names = sorted(vocabulary.fields)
    if not names:
        return {}
    chosen = draw(st.lists(st.sampled_from(names), min_size=min_size, unique=True))
    chosen += [name for name in with_names if name not in chosen]
    return {name: draw(_values(vocabulary.fields[name], vocabulary.near)) for name in chosen}


@st.composite
def _event(
    draw: st.DrawFn, vocabulary: _Vocabulary, event_id: str, lead: str, at: datetime, new: bool
) -> Event:
    """One event for ``lead`` at ``at``: a creation when ``new``, else any kind of event."""
    if new:
        fields = draw(_fields(vocabulary, min_size=1, with_names=vocabulary.lead_fields))
        return LeadCreated(id=event_id, lead=lead, at=at, fields=fields)
    kind = draw(st.sampled_from(["update", "activity", "activity", "move", "move", "assign"]))
    people = st.sampled_from(vocabulary.people) if vocabulary.people else st.none()
    if kind == "update":
        return LeadUpdated(
            id=event_id, lead=lead, at=at, fields=draw(_fields(vocabulary, min_size=1))
        )
    if kind == "activity":
        return ActivityLogged(
            id=event_id,
            lead=lead,
            at=at,
            kind=draw(st.sampled_from(vocabulary.kinds)),
            outcome=draw(st.sampled_from(vocabulary.outcomes)),
            by=draw(st.one_of(people, st.none())),
        )
    if kind == "move":
        return TransitionRequested(
            id=event_id,
            lead=lead,
            at=at,
            trigger=draw(st.sampled_from(vocabulary.triggers)),
            by=draw(st.one_of(people, st.none())),
            reason=draw(st.sampled_from([None, "because"])),
        )
    return OwnerAssigned(id=event_id, lead=lead, at=at, owner=draw(st.one_of(people, st.none())))


@st.composite
def event_streams(
    draw: st.DrawFn,
    agreement: Agreement | None = None,
    *,
    leads: int = 3,
    max_events: int = 40,
    start: datetime | None = None,
    housekeeping: bool = False,
) -> list[Event]:
    """Time-ordered event streams for up to ``leads`` leads, in the words of ``agreement``.

    Streams mix creations (each gives the fields the agreement's ``lead`` term reads, missing
    now and then: a record kept outside the lifecycle), field updates (values near the usual
    thresholds, and missing ones), activities, transitions (legal or not, with or without a
    reason) and assignments, spread from simultaneous to days apart, so warnings, breaches,
    handbacks and refusals all happen.
    Fields come from the agreement's declared ``fields`` (else from the names its terms and
    rules read), with numbers at and around those its conditions compare with; triggers come
    from its lifecycle, people from its teams. Now and then an event names a lead not created
    yet, or creates one that exists. ``start`` (timezone-aware) is the first event's time; by
    default 2026-03-02 08:00 in the agreement's zone. With ``housekeeping``, now and then a
    lead is converted, merged into another lead (of the stream, or one it never creates), or
    erased.

    >>> from hypothesis import given, settings
    >>> from leadsla import Engine, Rejected
    >>> @settings(max_examples=20, derandomize=True, database=None)
    ... @given(event_streams())
    ... def test_nothing_raises(events):
    ...     engine = Engine()
    ...     for event in events:
    ...         engine.apply(event)
    >>> test_nothing_raises()
    """
    if start is not None and (start.tzinfo is None or start.utcoffset() is None):
        raise NaiveDatetimeError.for_field("start", start)
    resolved = agreement if agreement is not None else Agreement.default()
    vocabulary = _Vocabulary(resolved)
    moment = start if start is not None else _START.replace(tzinfo=vocabulary.zone)
    names = [f"L-{number}" for number in range(1, leads + 1)]
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=leads, unique=True))
    created: set[str] = set()
    events: list[Event] = []
    for number in range(draw(st.integers(1, max_events))):
        moment = _after(moment, draw(st.sampled_from(_GAPS)))
        lead = draw(st.sampled_from(chosen))
        # Now and then a creation for a lead that exists, or an event for one that does not.
        new = (lead not in created and draw(st.integers(0, 20)) > 0) or draw(
            st.integers(0, 30)
        ) == 0
        if new:
            created.add(lead)
        event_id = f"e{number}"
        if housekeeping and not new and draw(st.integers(0, 12)) == 0:
            events.append(draw(_housekeeping(event_id, lead, moment, names)))
        else:
            events.append(draw(_event(vocabulary, event_id, lead, moment, new)))
    return events


@st.composite
def _housekeeping(
    draw: st.DrawFn, event_id: str, lead: str, at: datetime, names: Sequence[str]
) -> Event:
    """A conversion, a merge into another lead (of the stream, or one it never creates), or
    an erasure."""
    kind = draw(st.sampled_from(["convert", "merge", "erase"]))
    if kind == "convert":
        return LeadConverted(
            id=event_id, lead=lead, at=at, to=draw(st.sampled_from(["opportunity", "contact"]))
        )
    if kind == "merge":
        into = draw(st.sampled_from([name for name in names if name != lead] + ["L-0"]))
        return LeadMerged(id=event_id, lead=lead, at=at, into=into)
    return LeadErased(id=event_id, lead=lead, at=at)


class EngineMachine(RuleBasedStateMachine):
    """A Hypothesis state machine that drives an :class:`~leadsla.Engine` and checks it.

    It sends events (new, repeated, and older than the engine's clock) and advances time, in
    random order, and checks after every step that every clock is consistent (its deadline not
    before its opening, its status matching the facts it carries), that a refused event or a
    repeated one changes no lead, and at the end that replaying the same inputs into a new
    engine gives the same effects, byte for byte. Set ``agreement`` in a subclass to test your
    own agreement::

        class MyAgreementMachine(EngineMachine):
            agreement = Agreement.from_toml("agreement.toml")

        TestMyAgreement = MyAgreementMachine.TestCase
    """

    agreement: ClassVar[Agreement | None] = None
    leads: ClassVar[int] = 3

    def __init__(self) -> None:
        super().__init__()
        self.used = self.agreement if self.agreement is not None else Agreement.default()
        self.vocabulary = _Vocabulary(self.used)
        self.engine = Engine(self.used)
        self.moment = _START.replace(tzinfo=self.vocabulary.zone)
        self.inputs: list[Event | datetime] = []
        self.effects: list[Effect] = []
        self.standing: Counter[str] = Counter()  # ids of effects said and not withdrawn
        self.accepted: list[Event] = []
        self.created: set[str] = set()
        self.number = 0

    def _views(self) -> dict[str, LeadView]:
        return {lead: self.engine.lead(lead) for lead in self.engine.leads()}

    def _said(self, effects: list[Effect]) -> None:
        """Keep the effects; a retraction must withdraw an effect said and still standing."""
        self.effects.extend(effects)
        for effect in effects:
            if isinstance(effect, Retracted):
                assert self.standing[effect.retracts] > 0, f"{effect!r} withdraws nothing"
                self.standing[effect.retracts] -= 1
            elif not isinstance(effect, Duplicate):
                self.standing[effect.id] += 1

    def _send(self, event: Event) -> list[Effect]:
        before = self._views()
        effects = self.engine.apply(event)
        self.inputs.append(event)
        self._said(effects)
        if effects in ([Duplicate(event.lead, event.at, event.id)],) or (
            len(effects) == 1 and isinstance(effects[0], Rejected)
        ):
            assert self._views() == before, f"{effects[0]!r} changed a lead"
        if not any(isinstance(effect, (Rejected, Duplicate)) for effect in effects):
            self.accepted.append(event)
            self.created.add(event.lead)
        return effects

    @rule(data=st.data(), gap=st.sampled_from(_GAPS))
    def send_an_event(self, data: st.DataObject, gap: int) -> None:
        self.moment = _after(self.moment, gap)
        lead = data.draw(st.sampled_from([f"L-{n}" for n in range(1, self.leads + 1)]))
        new = lead not in self.created or data.draw(st.integers(0, 30)) == 0
        event = data.draw(_event(self.vocabulary, f"e{self.number}", lead, self.moment, new))
        self.number += 1
        self._send(event)

    @rule(gap=st.sampled_from(_GAPS))
    def advance(self, gap: int) -> None:
        self.moment = _after(self.moment, gap)
        before = self.engine.clock
        effects = self.engine.advance(self.moment)
        self.inputs.append(self.moment)
        self._said(effects)
        for effect in effects:
            # A timer fires at its own instant: after the clock it was left by, by now.
            # (Instants, not wall clocks: one zone's repeated autumn hour would mislead.)
            at = effect.at.timestamp()
            assert before is None or at >= before.timestamp(), f"{effect!r} fired before {before}"
            assert at <= self.moment.timestamp(), f"{effect!r} fired after {self.moment}"
            if isinstance(effect, ObligationBreached):
                assert at == effect.due_at.timestamp(), f"{effect!r} breached off its deadline"
            if isinstance(effect, ObligationWarned):
                assert at <= effect.due_at.timestamp(), f"{effect!r} warned after its deadline"
            if isinstance(effect, ObligationEscalated):
                assert at > effect.due_at.timestamp(), f"{effect!r} escalated by its deadline"

    @precondition(lambda self: bool(self.accepted))
    @rule(data=st.data())
    def send_an_event_again(self, data: st.DataObject) -> None:
        """An event sent again is a duplicate while its time is within the allowed lateness
        (the engine remembers the ids of that window); older, it is refused as too late (or,
        for an id the engine still holds a little longer, acknowledged). Either way nothing
        changes (checked by ``_send``)."""
        event = data.draw(st.sampled_from(self.accepted))
        clock = self.engine.clock
        within = clock is None or event.at >= clock - self.engine.allowed_lateness
        effects = self._send(event)
        if within:
            assert effects == [Duplicate(event.lead, event.at, event.id)], effects
        else:
            assert [type(effect) for effect in effects] in ([Rejected], [Duplicate]), effects

    @precondition(lambda self: bool(self.created) and self.engine.clock is not None)
    @rule(data=st.data())
    def send_an_event_too_late(self, data: st.DataObject) -> None:
        clock = self.engine.clock
        assert clock is not None
        lead = data.draw(st.sampled_from(sorted(self.created)))
        at = clock - self.engine.allowed_lateness - timedelta(minutes=1)
        event = LeadUpdated(id=f"late{self.number}", lead=lead, at=at, fields={})
        self.number += 1
        effects = self._send(event)
        assert [type(effect) for effect in effects] == [Rejected], effects

    @precondition(lambda self: bool(self.created) and self.engine.clock is not None)
    @rule(data=st.data(), back=st.sampled_from([1, 30, 120, 600]))
    def send_a_late_event(self, data: st.DataObject, back: int) -> None:
        """An event within the allowed lateness is put in its place (or refused as its lead
        would refuse it there); its corrections only withdraw effects still standing."""
        clock = self.engine.clock
        assert clock is not None
        lead = data.draw(st.sampled_from(sorted(self.created)))
        at = max(clock - timedelta(minutes=back), clock - self.engine.allowed_lateness)
        event = data.draw(_event(self.vocabulary, f"late{self.number}", lead, at, False))
        self.number += 1
        self._send(event)

    @invariant()
    def every_clock_is_consistent(self) -> None:
        for lead in self.engine.leads():
            for clock in self.engine.lead(lead).obligations:
                _check_clock(clock)

    def teardown(self) -> None:
        fresh = Engine(self.used)
        effects: list[Effect] = []
        for item in self.inputs:
            effects += fresh.advance(item) if isinstance(item, datetime) else fresh.apply(item)
        assert _rendered(effects) == _rendered(self.effects), "a replay gave other effects"


def _check_clock(clock: ObligationState) -> None:
    where = f"{clock.lead} {clock.name} #{clock.number}"
    assert clock.due_at.timestamp() >= clock.opened_at.timestamp(), f"{where}: due before opening"
    status = clock.status
    assert status in ("open", "paused", "met", "met_late", "breached", "cancelled"), where
    assert (clock.paused_since is not None) == (status == "paused"), f"{where}: paused_since"
    assert (clock.met_at is not None) == (status in ("met", "met_late")), f"{where}: met_at"
    assert (clock.breached_at is not None) == (status in ("breached", "met_late")), where
    assert (clock.cancelled_at is not None) == (status == "cancelled"), f"{where}: cancelled_at"
    if status == "met_late":
        assert clock.lateness is not None, f"{where}: met late without its lateness"
        assert clock.lateness >= timedelta(0), f"{where}: negative lateness"


def _rendered(effects: list[Effect]) -> list[str]:
    return [json.dumps(effect_to_dict(effect), sort_keys=True) for effect in effects]


# -- a throwaway PostgreSQL server ----------------------------------------------------------------


class PostgresUnavailable(RuntimeError):
    """:func:`postgres_server` cannot start a server here; the message says why."""


def _postgres_binaries() -> tuple[str, str]:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise PostgresUnavailable(
            "psycopg is not installed (pip install 'leadsla[postgres]')"
        ) from None
    names = ("initdb", "pg_ctl")
    found = [shutil.which(name) for name in names]
    if None in found:  # Debian and Ubuntu keep them out of PATH
        versions = pathlib.Path("/usr/lib/postgresql").glob("*/bin")
        newest = sorted(
            versions, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0
        )
        extra = ":".join(str(p) for p in reversed(newest))
        found = [shutil.which(name, path=extra) for name in names]
    initdb, pg_ctl = found
    if initdb is None or pg_ctl is None:
        raise PostgresUnavailable("PostgreSQL's initdb and pg_ctl are not on PATH")
    return initdb, pg_ctl


def _unprivileged() -> dict[str, Any]:
    """How to run the server: as ourselves, or (as root, which PostgreSQL refuses) as the
    ``postgres`` user, else ``nobody``."""
    if os.geteuid() != 0:
        return {}
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    raise PostgresUnavailable("running as root, with neither a postgres nor a nobody user")


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server of its own, in a temporary folder, for as long as the ``with``
    lasts: its connection string (user ``leadsla``, database ``postgres``; make a database
    per test). It listens on a Unix socket in that folder only, does not sync to disk, and
    is removed afterwards. Run as root, it runs as the ``postgres`` user (or ``nobody``):
    PostgreSQL refuses root. Raises :class:`PostgresUnavailable` when psycopg or
    PostgreSQL's ``initdb`` and ``pg_ctl`` are missing (skip the tests then)."""
    initdb, pg_ctl = _postgres_binaries()
    who = _unprivileged()
    # As root, in /tmp: the server's user must reach the folder (TMPDIR may be /root/...).
    home = pathlib.Path(tempfile.mkdtemp(prefix="leadsla-pg-", dir="/tmp" if who else None))
    data, log = str(home / "data"), str(home / "log")

    def run(*command: str) -> None:
        subprocess.run(command, check=True, capture_output=True, text=True, cwd=home, **who)

    try:
        if who:
            os.chown(home, who["user"], who["group"])
        run(initdb, "-D", data, "-U", "leadsla", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = (
            f"-k {shlex.quote(str(home))} -c listen_addresses='' -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60"
        )
        run(pg_ctl, "-D", data, "-o", options, "-l", log, "-w", "-t", "60", "start")
    except (OSError, subprocess.CalledProcessError) as error:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            run(pg_ctl, "-D", data, "-m", "immediate", "stop")  # if it started after all
        shutil.rmtree(home, ignore_errors=True)
        said = getattr(error, "stderr", None) or getattr(error, "stdout", None) or str(error)
        raise PostgresUnavailable(f"PostgreSQL did not start: {said.strip()}") from None
    try:
        yield f"host={home} user=leadsla dbname=postgres"
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            run(pg_ctl, "-D", data, "-m", "immediate", "stop")
        shutil.rmtree(home, ignore_errors=True)
