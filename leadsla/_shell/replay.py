"""Replay an event log through an engine in one call.

:func:`replay` is the batch form of the engine: it applies a whole log (event objects, or lines
of the JSON Lines log), optionally advances to the end of the period, and hands back the engine
with everything it decided. Because ``apply`` fires the timers due before each event, the
result is exactly what a live host would have seen, effect for effect.

Each input is read with :meth:`Event.from_json <leadsla.Event.from_json>`; one that cannot be
read (not JSON, a missing key, a line nested too deeply) is refused by the engine with its
position, and the replay goes on with the next.

With ``until``, the replay stops the clock there: the events at or before ``until`` are
applied, then the engine advances to ``until``; the events after it are read but not applied,
and counted in :attr:`Replay.after_until`. An input that cannot be read is refused wherever it
is (without its time, it cannot be placed before or after ``until``; reading it is all it
takes), and blank lines are skipped as everywhere.

A long replay builds many long-lived records (one per lead, with its history, owners and
clocks). Python's cyclic garbage collector walks all of them again every time the number of
long-lived objects grows by a quarter, which costs about a third of a replay's time while doing
nothing: the engine's records are freed by reference counting. So, by default, :func:`replay`
pauses automatic collection for the duration of the call (as :mod:`timeit` does) and turns it
back on at the end, whatever happens; pass ``pause_gc=False`` to leave the collector alone.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, cast

from attrs import define, field

from leadsla._core.agreement import Agreement
from leadsla._core.calendar import instant_us
from leadsla._core.effects import Duplicate, Effect, Rejected, Retracted
from leadsla._core.engine import Engine
from leadsla._core.errors import EventError, Problem, UsageError
from leadsla._core.events import Event
from leadsla._core.versions import Versions

__all__ = ["Replay", "replay"]

#: What :func:`replay` reads: event objects, JSON Lines text (one event per item) or the
#: decoded JSON objects.
LogItem = Event | str | bytes | Mapping[str, Any]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@define
class Replay:
    """What a replay did: the engine afterwards and the effects, in order.

    ``effects`` is empty when the replay was asked not to keep them (``keep_effects=False``);
    ``counts`` always counts them by type name. ``events`` is the number of inputs read
    (blank lines skipped), ``rejected`` and ``duplicates`` how many of them were refused or
    acknowledged as seen before, and ``after_until`` how many came after the replay's
    ``until`` and were not applied. ``refused`` pairs each refusal that stands with the
    position of the input that caused it, counting from 1 and counting blank lines too: for a
    file, its line number (a refusal a late event made good, by a ``Retracted``, leaves it).
    """

    engine: Engine
    effects: list[Effect] = field(factory=list)
    counts: Counter[str] = field(factory=Counter)
    events: int = 0
    rejected: int = 0
    duplicates: int = 0
    refused: list[tuple[int, Rejected]] = field(factory=list)
    after_until: int = 0

    @property
    def rejections(self) -> list[Rejected]:
        """The refusals, in order (whether or not the effects were kept)."""
        return [rejection for _, rejection in self.refused]


def replay(
    events: Iterable[LogItem],
    agreement: Agreement | Versions | None = None,
    *,
    engine: Engine | None = None,
    until: datetime | None = None,
    keep_effects: bool = True,
    pause_gc: bool = True,
    observe: Callable[[Sequence[Effect]], object] | None = None,
) -> Replay:
    """Apply every event of ``events`` in order, then advance to ``until`` if given.

    ``events`` holds :class:`~leadsla.Event` objects, JSON Lines text (an open file will do;
    blank lines are skipped) or decoded JSON objects. The replay runs on ``engine`` when given
    (to continue a live one), else on a new ``Engine(agreement)``. A bad input is a
    ``Rejected`` effect, as with :meth:`Engine.apply <leadsla.Engine.apply>`: the replay goes
    on (a strict engine raises :class:`~leadsla.EventRejected` instead).

    With ``until``, only the events at or before that instant are applied, and the engine then
    advances to it; the events after it are not applied, and :attr:`Replay.after_until` says
    how many there were (see the module's documentation).

    With ``pause_gc`` (the default), Python's automatic garbage collection is paused while the
    replay runs and restored afterwards (see the module's documentation).

    ``observe``, when given, is called with each input's effects as they come (and with the
    final advance's): to stream them somewhere without keeping them all
    (``keep_effects=False``), which a long log's effects would not fit.

    >>> from datetime import datetime
    >>> from zoneinfo import ZoneInfo
    >>> lines = [
    ...     '{"id": "e1", "type": "lead_created", "lead": "L-1",'
    ...     ' "at": "2026-03-06T16:00:00+02:00", "fields": {"email": "a@b.fi", "score": 62}}',
    ...     "",
    ... ]
    >>> result = replay(lines, until=datetime(2026, 3, 9, 17, tzinfo=ZoneInfo("Europe/Helsinki")))
    >>> result.events, result.rejected, result.counts["ObligationBreached"]
    (1, 0, 2)
    >>> result.engine.lead("L-1").obligation("first-touch").status
    'breached'
    """
    if engine is not None and agreement is not None and engine.agreement is not agreement:
        raise UsageError(
            Problem(
                "agreement",
                agreement.latest.name if isinstance(agreement, Versions) else agreement.name,
                "is not the engine's agreement",
                "pass either an engine or an agreement, not both",
            )
        )
    if until is not None:
        instant_us(until, "until")
    target = engine if engine is not None else Engine(agreement)
    result = Replay(target)
    paused = pause_gc and gc.isenabled()
    if paused:
        gc.disable()
    try:
        _run(target, events, result, keep_effects, until, observe)
        if until is not None:
            advanced = target.advance(until)
            if observe is not None:
                observe(advanced)
            _record(result, advanced, keep_effects)
    finally:
        if paused:
            gc.enable()
    return result


def _run(
    engine: Engine,
    events: Iterable[LogItem],
    result: Replay,
    keep: bool,
    until: datetime | None,
    observe: Callable[[Sequence[Effect]], object] | None,
) -> None:
    apply = engine.apply
    read = Event.from_json
    kept = result.effects
    refused = result.refused
    tally: dict[type[Effect], int] = {}
    count = 0
    after = 0
    # ``until`` as a span from the epoch: instants compare exactly, whatever their zones (a
    # wall-clock comparison in one zone would misplace an autumn's repeated hour).
    limit: timedelta | None = None if until is None else until - _EPOCH
    for position, item in enumerate(events, start=1):
        if isinstance(item, Event):
            event: Event | None = item
        else:
            data = item
            if isinstance(data, (str, bytes)):
                data = data.strip()  # a file's lines end with their newline
                if not data:
                    continue
            try:
                event = read(data)
            except EventError:
                event = None
                effects = engine.apply_json(data)  # the engine's refusal, with its problems
        count += 1
        if event is not None:
            if limit is not None and event.at - _EPOCH > limit:
                after += 1
                continue
            effects = apply(event)
        for effect in effects:
            kind = type(effect)
            tally[kind] = tally.get(kind, 0) + 1
            if kind is Rejected:
                assert isinstance(effect, Rejected)
                refused.append((position, effect))
            elif kind is Retracted:  # a refusal a late event made good leaves the list
                retracted = cast(Retracted, effect)
                if retracted.kind == "rejected":
                    refused[:] = [pair for pair in refused if pair[1].id != retracted.retracts]
        if keep:
            kept.extend(effects)
        if observe is not None:
            observe(effects)
    result.events += count
    result.after_until += after
    _count(result, tally)


def _record(result: Replay, effects: list[Effect], keep: bool) -> None:
    tally: dict[type[Effect], int] = {}
    for effect in effects:
        kind = type(effect)
        tally[kind] = tally.get(kind, 0) + 1
    if keep:
        result.effects.extend(effects)
    _count(result, tally)


def _count(result: Replay, tally: dict[type[Effect], int]) -> None:
    for kind, number in tally.items():
        result.counts[kind.__name__] += number
        if issubclass(kind, Rejected):
            result.rejected += number
        elif issubclass(kind, Duplicate):
            result.duplicates += number
