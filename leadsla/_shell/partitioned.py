"""Replay one log in partitions by lead, with exactly the results of one process.

Theory of operation
===================

A lead's record, clocks and effects depend on its own events, the agreement, partition-safe
assignment policies, and one thing they share with every other lead: the engine's clock. The
clock decides which timers have fired when an event arrives, whether an event is late (older
than the clock: put in its place, with corrections) and whether it is too far ahead (beyond
the horizon: refused). In one process the clock is moved by every lead's events. So a
partition replaying only its own leads must see, before each of its events, the clock one
process would have had there; then each lead gets, effect for effect, what one process gives
it.

The replay has three stages, each a set of tasks that a scheduler (Dask, or this module's
in-process runner) may run anywhere:

1. **parse** (one task per block of the input: a byte range of a JSON Lines file, a row group
   of a Parquet file; in parallel): read each input, find its lead and time, give it to its
   partition (a stable hash of the lead id, :func:`~leadsla._shell.postgres.partition_of`), and
   note for each input the instant it would move the clock to (none for a blank line, a line
   that is not an event, or one after the replay's end);
2. **scan** (one task per block, each after the previous: the one serial stage, over about 18
   bytes an input: its instant, its offset, its partition): the clock before each input, by
   the engine's rule (an event moves the clock to its time unless it is late or beyond the
   horizon), given to each partition for its inputs;
3. **replay** (one task per partition; in parallel): a fresh engine applies the partition's
   inputs in log order, first advancing to the clock one process had where an input is late
   globally or could be beyond the horizon, then advances to the end (``until``, else the
   final clock), and hands back what it counted (:class:`PartitionResult`): counts, refusals,
   :class:`~leadsla._shell.totals.Totals`, the scorecard's parts, and, when asked, its effects
   and the final state of each lead.

Everything a partition hands back adds up: counts add, refusals are placed by their input's
position, and the scorecard's parts keep every clock's times, so medians and percentiles come
out exact. What a partition cannot see is another partition's events: two leads' events with
one id (a conflict in one process) are each taken in their own partition, so event ids must
not repeat across leads. And one process does not move its clock for an event whose id it has
seen; the scan, which keeps no ids, does: such an event dated after the clock is listed
(:attr:`PartitionedReplay.inexact`), since what follows it may differ. Agreements whose
assignment depends on the order of leads (strict round robin, least loaded, capacities) are
refused, unless the log gives every owner (``owners="given"``).
"""

from __future__ import annotations

import gzip
import io
import itertools
import json
import os
import zlib
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Final, Literal

import attrs
from attrs import frozen

from leadsla._core.agreement import Agreement
from leadsla._core.calendar import instant_us, span_us
from leadsla._core.effects import Duplicate, Effect, Rejected, Retracted, effect_to_dict
from leadsla._core.engine import DEFAULT_HORIZON, DEFAULT_LATENESS, Engine
from leadsla._core.errors import EventError, LeadSLAError, Problem, UsageError
from leadsla._core.events import Event
from leadsla._core.ownership import AssignmentPolicy, AssignmentRequest
from leadsla._core.periods import Period
from leadsla._core.versions import Versions
from leadsla._shell.keeping import gc_paused
from leadsla._shell.postgres import partition_of
from leadsla._shell.report import (
    PeriodCard,
    ScorecardParts,
    scorecard_of_parts,
    scorecard_parts,
)
from leadsla._shell.totals import Totals

__all__ = [
    "Block",
    "OwnersFromTheLog",
    "PartitionResult",
    "PartitionedReplay",
    "Plan",
    "blocks_of",
    "order_dependent",
    "parse_block",
    "replay_partition",
    "replay_partitioned",
    "scan_block",
]

#: No instant: before every clock.
NEVER: Final = -(2**63)
#: The partition of an input no partition replays (a blank line, one after the end).
NOWHERE: Final = 0xFFFF
#: JSON Lines files are cut into blocks of about this many bytes.
BLOCK_BYTES: Final = 32 * 2**20
#: Files read as Parquet event logs.
PARQUET: Final = (".parquet", ".pq")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

Owners = Literal["policy", "given"]


@frozen
class Block:
    """A part of the input one parse task reads: bytes ``start`` to ``end`` of a JSON Lines
    file (the lines that start in it), or row groups ``start`` to ``end`` of a Parquet file.
    ``file`` is the file's place among the inputs; blocks are numbered in log order."""

    path: str  # resolved: the workers of a cluster open it wherever they run
    kind: Literal["jsonl", "gz", "parquet"]
    start: int
    end: int
    file: int
    shown: str = ""  # the path as given, for messages


def blocks_of(
    paths: Sequence[str | os.PathLike[str]], block_bytes: int = BLOCK_BYTES
) -> list[Block]:
    """The blocks of ``paths``, in log order (the files in the order given). A JSON Lines file
    is cut just after a line feed at or past every ``block_bytes`` bytes (a file without one
    is one block); a compressed one (``.gz``) is one block: it cannot be read from the
    middle; a Parquet file gives a block per row group."""
    if block_bytes < 1:
        raise UsageError(
            Problem("block_bytes", block_bytes, "must be 1 or more", "give e.g. 32 * 2**20")
        )
    blocks: list[Block] = []
    for number, given in enumerate(paths):
        path = Path(given)
        where, shown = str(path.resolve()), str(given)
        try:
            if path.is_dir():
                raise IsADirectoryError(21, "it is a folder")
            size = path.stat().st_size
            if path.suffix.lower() in PARQUET:
                groups = _parquet_file(path).metadata.num_row_groups
                blocks.extend(
                    Block(where, "parquet", group, group + 1, number, shown)
                    for group in range(groups)
                )
            elif path.suffix.lower() == ".gz":
                blocks.append(Block(where, "gz", 0, size, number, shown))
            else:
                cuts = _cuts(path, size, block_bytes)
                blocks.extend(
                    Block(where, "jsonl", first, last, number, shown)
                    for first, last in itertools.pairwise(cuts)
                )
        except OSError as error:
            raise _unreadable(shown, error.strerror or str(error)) from None
        except LeadSLAError:
            raise
        except Exception as error:  # pyarrow's ArrowInvalid: not a Parquet file
            raise _unreadable(shown, f"not a Parquet file: {error}") from None
    return blocks


def _unreadable(shown: str, why: str) -> UsageError:
    return UsageError(
        Problem(
            "log",
            shown,
            f"cannot be read ({why})",
            "give JSON Lines (UTF-8, one event a line; or .gz) or Parquet event logs",
        )
    )


def _cuts(path: Path, size: int, block_bytes: int) -> list[int]:
    """Where a JSON Lines file's blocks start, and its end: just after the first line feed at
    or past each multiple of ``block_bytes`` (so every block starts a line, whatever the line
    ends: a CR LF ends with its LF, and a lone CR never splits a block)."""
    cuts = [0]
    with path.open("rb") as raw:
        target = block_bytes
        while target < size:
            raw.seek(max(target, cuts[-1]))
            raw.readline()  # to the end of the line under way (after its LF)
            cut = raw.tell()
            if cut >= size:
                break
            cuts.append(cut)
            target = cut + block_bytes
    cuts.append(size)
    return cuts


def _parquet_file(path: Path) -> Any:
    from leadsla._shell.parquet import _pyarrow_parquet

    return _pyarrow_parquet().ParquetFile(path)


def _lines(block: Block) -> Iterator[str | dict[str, Any]]:
    """The inputs of a block: its lines, read as one process reads a log (UTF-8, a byte-order
    mark at the file's start skipped, universal line ends), or the rows of its row groups as
    JSON objects."""
    if block.kind == "parquet":
        yield from _parquet_events(block)
        return
    encoding = "utf-8-sig" if block.start == 0 else "utf-8"
    try:
        if block.kind == "gz":
            with gzip.open(block.path, "rt", encoding=encoding, newline=None) as lines:
                yield from lines
            return
        with open(block.path, "rb") as raw:
            raw.seek(block.start)
            data = raw.read(block.end - block.start)
        with io.TextIOWrapper(io.BytesIO(data), encoding=encoding, newline=None) as lines:
            yield from lines
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as error:
        why = "is not UTF-8 text" if isinstance(error, UnicodeDecodeError) else str(error)
        raise _unreadable(block.shown or block.path, why) from None


def _parquet_events(block: Block) -> Iterator[dict[str, Any]]:
    """The rows of a Parquet event log's row groups as events in their JSON form: a column a
    key; nulls left out; times in ISO 8601; ``fields`` a JSON object's text, or a struct (whose
    null members are left out)."""
    table = _parquet_file(Path(block.path)).read_row_groups(list(range(block.start, block.end)))
    for row in table.to_pylist():
        event: dict[str, Any] = {}
        for key, value in row.items():
            if value is None:
                continue
            if isinstance(value, (datetime, date)):
                event[key] = value.isoformat()
            elif key == "fields" and isinstance(value, str):
                try:
                    event[key] = json.loads(value)
                except (ValueError, RecursionError):
                    event[key] = value  # not JSON: the engine refuses the row, where it is
            elif key == "fields" and isinstance(value, dict):
                # A struct has every member in every row: a null member is one the row does
                # not give (to set a field to null, write fields as JSON text).
                event[key] = {name: member for name, member in value.items() if member is not None}
            else:
                event[key] = value
        yield event


@frozen
class Parsed:
    """What a parse task found in its block (see the module's documentation)."""

    count: int  # inputs (lines, blank ones too: the positions one process counts)
    events: int  # inputs that are not blank
    after: int  # events after the end, not applied
    ats: array[int]  # per input: where it moves the clock to (NEVER: nowhere)
    offsets: array[int]  # per input: its time's UTC offset in seconds (how the clock says it)
    parts: array[int]  # per input: its partition (NOWHERE: none)


def parse_block(
    block: Block, partitions: int, until_us: int | None
) -> tuple[Parsed, list[list[tuple[int, str | dict[str, Any]]]]]:
    """Stage 1: the block's inputs, each given to its partition with its place in the block."""
    with gc_paused():
        return _parse_block(block, partitions, until_us)


def _parse_block(
    block: Block, partitions: int, until_us: int | None
) -> tuple[Parsed, list[list[tuple[int, str | dict[str, Any]]]]]:
    pieces: list[list[tuple[int, str | dict[str, Any]]]] = [[] for _ in range(partitions)]
    ats, offsets, parts = array("q"), array("l"), array("H")
    count = events = after = 0
    read = Event.from_json
    for index, read_item in enumerate(_lines(block)):
        count += 1
        # A line without its line end, as one process reads it.
        item = read_item.strip() if isinstance(read_item, str) else read_item
        if isinstance(item, str) and not item:
            ats.append(NEVER)
            offsets.append(0)
            parts.append(NOWHERE)
            continue
        events += 1
        try:
            event = read(item)
        except EventError:  # refused where it stands, with the clock then: any partition
            lead = _lead_of(item)
            ats.append(NEVER)
            offsets.append(0)
            part = partition_of(lead, partitions) if lead is not None else 0
            parts.append(part)
            pieces[part].append((index, item))
            continue
        at_us = instant_us(event.at)
        if until_us is not None and at_us > until_us:
            after += 1
            ats.append(NEVER)
            offsets.append(0)
            parts.append(NOWHERE)
            continue
        part = partition_of(event.lead, partitions)
        ats.append(at_us)
        offset = event.at.utcoffset()
        offsets.append(0 if offset is None else int(offset.total_seconds()))
        parts.append(part)
        pieces[part].append((index, item))
    return Parsed(count, events, after, ats, offsets, parts), pieces


def _lead_of(item: str | dict[str, Any]) -> str | None:
    try:
        data = json.loads(item) if isinstance(item, str) else item
    except (ValueError, RecursionError):
        return None
    lead = data.get("lead") if isinstance(data, dict) else None
    return lead if isinstance(lead, str) else None


#: An instant as the engine's clock says it: µs since the epoch, and the UTC offset (seconds)
#: of the event that set it.
Clock = tuple[int, int]


def scan_block(
    parsed: Parsed, clock: Clock, horizon_us: int | None, partitions: int
) -> tuple[Clock, list[tuple[array[int], array[int]]]]:
    """Stage 2: the clock before each of the block's inputs, per partition (instants and
    offsets), from the clock before the block; and the clock after it. An event moves the
    clock to its time unless it is older than the clock (late) or further ahead than the
    horizon (refused)."""
    clocks = [(array("q"), array("l")) for _ in range(partitions)]
    clock_us, offset = clock
    for at_us, at_offset, part in zip(parsed.ats, parsed.offsets, parsed.parts, strict=True):
        if part != NOWHERE:
            instants, offsets = clocks[part]
            instants.append(clock_us)
            offsets.append(offset)
        if (
            at_us != NEVER
            and at_us >= clock_us
            and (horizon_us is None or clock_us == NEVER or at_us <= clock_us + horizon_us)
        ):
            clock_us, offset = at_us, at_offset
    return (clock_us, offset), clocks


@frozen
class Plan:
    """What every partition replays with: the agreement (or versions), the engine's settings,
    where the replay ends, and what to hand back."""

    agreement: Agreement | Versions
    partitions: int
    allowed_lateness: timedelta = DEFAULT_LATENESS
    horizon: timedelta | None = DEFAULT_HORIZON
    until: datetime | None = None
    keep_effects: bool = False
    scorecard: bool = False
    per: Period | None = None
    between: tuple[date, date] | None = None
    out: str | None = None

    @property
    def horizon_us(self) -> int | None:
        return None if self.horizon is None else span_us(self.horizon)

    @property
    def until_us(self) -> int | None:
        return None if self.until is None else instant_us(self.until, "until")

    def end(self, clock: Clock) -> Clock:
        """Where every partition advances to at the end: ``until``, else the log's last clock."""
        if self.until is None:
            return clock
        offset = self.until.utcoffset()
        return (instant_us(self.until, "until"), int(offset.total_seconds()) if offset else 0)


@attrs.define(eq=False)
class PartitionResult:
    """What one partition's replay hands back (see the module's documentation). ``refused``
    places each refusal that stands by its input's block and place in the block."""

    partition: int
    events: int = 0
    inexact: list[tuple[int, int, str]] = attrs.field(factory=list)
    rejected: int = 0
    duplicates: int = 0
    counts: Counter[str] = attrs.field(factory=Counter)
    refused: list[tuple[int, int, Rejected]] = attrs.field(factory=list)
    totals: Totals = attrs.field(factory=Totals)
    parts: ScorecardParts | None = None
    effects: list[dict[str, Any]] | None = None
    files: tuple[str, ...] = ()


def replay_partition(
    partition: int,
    plan: Plan,
    pieces: Sequence[Sequence[tuple[int, str | dict[str, Any]]]],
    clocks: Sequence[tuple[array[int], array[int]]],
    end: Clock,
) -> PartitionResult:
    """Stage 3: partition ``partition``'s inputs (``pieces`` and ``clocks``, one of each per
    block, in log order) replayed by a fresh engine, then advanced to ``end`` (NEVER: not
    at all). See the module's documentation for what it hands back. The garbage collector
    waits while it runs, as :func:`leadsla.replay` has it wait."""
    with gc_paused():
        return _replay_partition(partition, plan, pieces, clocks, end)


def _replay_partition(
    partition: int,
    plan: Plan,
    pieces: Sequence[Sequence[tuple[int, str | dict[str, Any]]]],
    clocks: Sequence[tuple[array[int], array[int]]],
    end: Clock,
) -> PartitionResult:
    engine = Engine(plan.agreement, allowed_lateness=plan.allowed_lateness, horizon=plan.horizon)
    result = PartitionResult(partition)
    horizon_us = plan.horizon_us
    kept: list[dict[str, Any]] | None = [] if plan.keep_effects or plan.out else None
    tally: dict[type[Effect], int] = {}
    refused = result.refused
    read = Event.from_json
    clock_us, clock_offset = NEVER, 0  # this engine's clock, and the offset it is said in

    def took(effects: list[Effect], block: int, index: int) -> None:
        for effect in effects:
            kind = type(effect)
            tally[kind] = tally.get(kind, 0) + 1
            if kind is Rejected:
                assert isinstance(effect, Rejected)
                refused.append((block, index, effect))
            elif kind is Retracted:
                retracted = effect
                assert isinstance(retracted, Retracted)
                if retracted.kind == "rejected":
                    refused[:] = [r for r in refused if r[2].id != retracted.retracts]
        if kept is not None:
            kept.extend(effect_to_dict(effect) for effect in effects)

    for block, (piece, (instants, offsets)) in enumerate(zip(pieces, clocks, strict=True)):
        for (index, item), global_us, offset in zip(piece, instants, offsets, strict=True):
            result.events += 1
            try:
                event: Event | None = read(item)
            except EventError:
                event = None
            at_us = NEVER if event is None else instant_us(event.at)
            behind = global_us > clock_us or (
                # the same instant, said by another lead's event in another offset
                global_us == clock_us != NEVER and offset != clock_offset
            )
            if behind and (
                event is None
                or at_us < global_us
                or (horizon_us is not None and (clock_us == NEVER or at_us > clock_us + horizon_us))
            ):
                # The clock one process had here: for an event late in the whole log, one
                # beyond the horizon of this engine's clock, and a refusal (which says it).
                took(engine.advance(_instant(global_us, offset)), block, index)
                clock_us, clock_offset = global_us, offset
            if event is None:
                took(engine.apply_json(item), block, index)
                continue
            effects = engine.apply(event)
            took(effects, block, index)
            seen = _seen_before(effects, event)
            if seen and at_us > global_us:
                # The log's clock moved to this event's time in the scan, but one process
                # does not move its clock for an id it has seen: not exact from here on.
                result.inexact.append((block, index, event.id))
            if (
                not seen
                and at_us >= clock_us
                and (horizon_us is None or clock_us == NEVER or at_us <= clock_us + horizon_us)
            ):
                clock_us = at_us  # as the engine's rule moves its clock
                moved = event.at.utcoffset()
                clock_offset = 0 if moved is None else int(moved.total_seconds())
    end_us, end_offset = end
    if end_us != NEVER and end_us >= clock_us:
        took(engine.advance(_instant(end_us, end_offset)), len(pieces), 0)
    for kind, number in tally.items():
        result.counts[kind.__name__] += number
        if issubclass(kind, Rejected):
            result.rejected += number
        elif issubclass(kind, Duplicate):
            result.duplicates += number
    result.totals = Totals.of(engine)
    if plan.scorecard:
        result.parts = scorecard_parts(engine, per=plan.per, between=plan.between)
    if plan.out is not None:
        leads = [_lead_row(engine, lead) for lead in engine.leads()]
        result.files = _write(plan.out, partition, kept or [], leads)
    if plan.keep_effects:
        result.effects = kept
    return result


def _seen_before(effects: Sequence[Effect], event: Event) -> bool:
    """Whether the engine took ``event`` as one whose id it had seen (a duplicate, or a
    conflict)."""
    for effect in effects:
        if isinstance(effect, Duplicate) and effect.lead == event.lead:
            return True
        if isinstance(effect, Rejected) and any(
            isinstance(problem, Problem) and problem.field == "id" and problem.value == event.id
            for problem in effect.details or ()
        ):
            return True
    return False


def _instant(at_us: int, offset: int) -> datetime:
    """An instant as an event with this UTC offset says it (the engine's clock is the time of
    the event that moved it last, as that event said it)."""
    return (_EPOCH + timedelta(microseconds=at_us)).astimezone(timezone(timedelta(seconds=offset)))


def _lead_row(engine: Engine, lead_id: str) -> dict[str, Any]:
    """A lead's final state, as a row: its state, owner, version, and its clocks' outcomes."""
    view = engine.lead(lead_id)
    owner = view.owner
    return {
        "lead": lead_id,
        "state": view.state,
        "team": owner.team if owner else None,
        "person": owner.person if owner else None,
        "version": view.lead.version,
        "clocks": json.dumps(
            {f"{clock.name}#{clock.number}": clock.status for clock in view.obligations}
        ),
    }


def _write(
    out: str, partition: int, effects: list[dict[str, Any]], leads: list[dict[str, Any]]
) -> tuple[str, ...]:
    """A partition's effects and leads as Parquet files of its own, written whole under a
    temporary name and then renamed: a task run again (a lost worker) replaces its files, so
    the output never holds an effect twice."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(out)
    written = []
    for kind, rows, columns in (
        ("effects", effects, ("id", "type", "lead", "origin", "effect")),
        ("leads", leads, ("lead", "state", "team", "person", "version", "clocks")),
    ):
        target = folder / kind / f"part-{partition:05d}.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        if kind == "effects":
            data = {
                "id": [row["id"] for row in rows],
                "type": [row["type"] for row in rows],
                "lead": [row.get("lead") for row in rows],
                "origin": [row["origin"] for row in rows],
                "effect": [json.dumps(row, ensure_ascii=False) for row in rows],
            }
        else:
            data = {column: [row[column] for row in rows] for column in columns}
        table = pa.table({column: pa.array(data[column], type=pa.string()) for column in columns})
        # Hidden until renamed: readers of the folder (pyarrow datasets) skip dot files.
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        pq.write_table(table, temporary)
        os.replace(temporary, target)
        written.append(str(target))
    return tuple(written)


def order_dependent(agreement: Agreement | Versions) -> list[str]:
    """Why the agreement's assignment depends on the order of leads (one reason a team; empty
    when every team is partition-safe)."""
    versions = agreement if isinstance(agreement, Versions) else Versions([agreement])
    found: dict[str, str] = {}
    for version in versions:
        for team, why in version.workflow.order_dependent.items():
            found.setdefault(team, why)
    return [f"team {team}: {why}" for team, why in found.items()]


@frozen
class OwnersFromTheLog(AssignmentPolicy):
    """Assigns no one: the lead stays with the team until the log's own ``assign`` event
    names its owner. What a partitioned replay puts in place of a policy whose choice depends
    on other leads, when the log gives every owner (``owners="given"``)."""

    def assign(self, request: AssignmentRequest) -> str | None:
        return None

    def describe(self) -> str:
        return "owners as the log gives them"


def given_owners(agreement: Agreement | Versions) -> Agreement | Versions:
    """The agreement (each version) with every order-dependent team's policy replaced by
    :class:`OwnersFromTheLog`, and no member's capacity counted: the log's own ``assign``
    events give the owners, whatever the order of the leads."""
    if isinstance(agreement, Versions):
        return Versions([_given(version) for version in agreement])
    return _given(agreement)


def _given(agreement: Agreement) -> Agreement:
    dependent = agreement.workflow.order_dependent
    if not dependent:
        return agreement
    teams = tuple(
        attrs.evolve(team, policy=OwnersFromTheLog()) if team.name in dependent else team
        for team in agreement.teams
    )
    people = tuple(attrs.evolve(person, capacity=None) for person in agreement.people)
    return attrs.evolve(agreement, teams=teams, people=people)


def run_local(blocks: Sequence[Block], plan: Plan) -> tuple[list[Parsed], list[PartitionResult]]:
    """The three stages run one after the other in this process: what the Dask runner does
    on a cluster, for tests and small logs."""
    parsed, pieces = [], []
    for block in blocks:
        found, split = parse_block(block, plan.partitions, plan.until_us)
        parsed.append(found)
        pieces.append(split)
    clock: Clock = (NEVER, 0)
    clocks = []
    for found in parsed:
        clock, split_clocks = scan_block(found, clock, plan.horizon_us, plan.partitions)
        clocks.append(split_clocks)
    end = plan.end(clock)
    results = [
        replay_partition(
            part,
            plan,
            [split[part] for split in pieces],
            [split[part] for split in clocks],
            end,
        )
        for part in range(plan.partitions)
    ]
    return parsed, results


@attrs.define(eq=False)
class PartitionedReplay:
    """What a partitioned replay did, merged from its partitions: the counts a one-process
    :class:`~leadsla.Replay` gives (``events`` read, ``rejected``, ``duplicates``,
    ``after_until``, ``counts`` of effects by type), the refusals that stand with the file and
    line (or row) of their input, the :class:`~leadsla._shell.totals.Totals`, the scorecard's
    parts when asked for, the effects when kept (as :func:`~leadsla.effect_to_dict` gives them,
    partition by partition), and the files written."""

    versions: Versions
    partitions: int
    events: int = 0
    rejected: int = 0
    duplicates: int = 0
    after_until: int = 0
    counts: Counter[str] = attrs.field(factory=Counter)
    refused: list[tuple[str, int, Rejected]] = attrs.field(factory=list)
    totals: Totals = attrs.field(factory=Totals)
    parts: ScorecardParts | None = None
    effects: list[dict[str, Any]] | None = None
    files: list[str] = attrs.field(factory=list)
    dashboard: str | None = None
    #: Events that repeat an id seen before with a later time (file, line, id): one process
    #: does not move its clock for them, the scan did, so what follows may differ.
    inexact: list[tuple[str, int, str]] = attrs.field(factory=list)

    def scorecard(self) -> list[PeriodCard]:
        """The scorecard of the whole log (asked for with ``scorecard=True``)."""
        if self.parts is None:
            raise UsageError(
                Problem(
                    "scorecard",
                    None,
                    "was not gathered by this replay",
                    "replay with scorecard=True (leadsla report gathers it)",
                )
            )
        return scorecard_of_parts(self.parts, self.versions)


def merged(
    plan: Plan,
    blocks: Sequence[Block],
    sizes: Sequence[tuple[int, int, int]],
    results: Sequence[PartitionResult],
) -> PartitionedReplay:
    """The partitions' results as one (``sizes``: each block's inputs, events, events after
    the end)."""
    versions = (
        plan.agreement if isinstance(plan.agreement, Versions) else Versions([plan.agreement])
    )
    replayed = PartitionedReplay(versions, plan.partitions)
    starts = []
    line, previous = 0, -1
    for block, (count, _, after) in zip(blocks, sizes, strict=True):
        if block.file != previous:
            line, previous = 0, block.file
        starts.append((block.shown or block.path, line))
        line += count
        replayed.after_until += after
    parts: ScorecardParts | None = None
    for result in sorted(results, key=lambda found: found.partition):
        replayed.events += result.events
        replayed.rejected += result.rejected
        replayed.duplicates += result.duplicates
        replayed.counts.update(result.counts)
        for block_number, index, rejection in result.refused:
            path, first = starts[block_number]
            replayed.refused.append((path, first + index + 1, rejection))
        for block_number, index, event_id in result.inexact:
            path, first = starts[block_number]
            replayed.inexact.append((path, first + index + 1, event_id))
        replayed.totals.merge(result.totals)
        if result.parts is not None:
            parts = result.parts if parts is None else parts.merge(result.parts)
        if result.effects is not None:
            if replayed.effects is None:
                replayed.effects = []
            replayed.effects.extend(result.effects)
        replayed.files.extend(result.files)
    # Inputs after the end are read but not replayed: they count as events read.
    replayed.events += replayed.after_until
    order = {b.shown or b.path: b.file for b in blocks}
    replayed.refused.sort(key=lambda item: (order[item[0]], item[1]))
    replayed.inexact.sort(key=lambda item: (order[item[0]], item[1]))
    replayed.parts = parts
    return replayed


def _sizes(parsed: Parsed) -> tuple[int, int, int]:
    return parsed.count, parsed.events, parsed.after


def _nth(items: Sequence[Any], index: int) -> Any:
    return items[index]


def run_dask(
    blocks: Sequence[Block],
    plan: Plan,
    client: Any,
    *,
    progress: Callable[[int, int], object] | None = None,
) -> tuple[list[tuple[int, int, int]], list[PartitionResult]]:
    """The three stages as a Dask graph on ``client``'s cluster (see the module's
    documentation): parse tasks in parallel, the scan's chain, the replays in parallel. A task
    lost with its worker is run again by Dask (``retries``); a partition's files are replaced
    whole, so nothing is written twice. ``progress`` is told (done, of) as the blocks are
    parsed and the partitions replayed."""
    from dask.delayed import delayed

    count = plan.partitions
    parse = delayed(parse_block, nout=2, pure=True)
    scan = delayed(scan_block, nout=2, pure=True)
    nth = delayed(_nth, pure=True)
    parsed = [parse(block, count, plan.until_us) for block in blocks]
    clock: Any = (NEVER, 0)
    clocks = []
    for found, _ in parsed:
        clock, split = scan(found, clock, plan.horizon_us, count)
        clocks.append(split)
    end = delayed(plan.end, pure=True)(clock)
    replays = [
        delayed(replay_partition, pure=True)(
            part,
            plan,
            [nth(pieces, part) for _, pieces in parsed],
            [nth(split, part) for split in clocks],
            end,
        )
        for part in range(count)
    ]
    sizes = [delayed(_sizes, pure=True)(found) for found, _ in parsed]
    futures = client.compute([*sizes, *replays], retries=3)
    if progress is not None:
        from distributed import as_completed

        for done, _ in enumerate(as_completed(futures), start=1):  # type: ignore[no-untyped-call]
            progress(done, len(futures))
    gathered = client.gather(futures)
    return list(gathered[: len(sizes)]), list(gathered[len(sizes) :])


def replay_partitioned(
    paths: Sequence[str | os.PathLike[str]],
    agreement: Agreement | Versions | None = None,
    *,
    partitions: int | None = None,
    client: Any = None,
    until: datetime | None = None,
    allowed_lateness: timedelta = DEFAULT_LATENESS,
    horizon: timedelta | None = DEFAULT_HORIZON,
    owners: Owners = "policy",
    out: str | os.PathLike[str] | None = None,
    scorecard: bool = False,
    per: Period | None = None,
    between: tuple[date, date] | None = None,
    keep_effects: bool = False,
    block_bytes: int = BLOCK_BYTES,
    progress: Callable[[int, int], object] | None = None,
) -> PartitionedReplay:
    """Replay the event logs ``paths`` (JSON Lines, ``.gz``, or Parquet; one log, the files in
    the order given) in ``partitions`` partitions by lead, on ``client``'s Dask cluster (None:
    in this process, one partition after the other), with exactly the results of one process
    (see the module's documentation): the effects, as a set, and every count, total and
    scorecard are the same. ``out``: a folder where each partition writes its effects
    (``effects/part-NNNNN.parquet``) and its leads' final states (``leads/...``).
    ``owners="given"``: the log's ``assign`` events give the owners, so an agreement whose
    assignment depends on the order of leads can be replayed (its policy assigns no one).
    ``progress``, on a cluster, is told (tasks done, of) as they finish."""
    resolved: Agreement | Versions = agreement if agreement is not None else Agreement.default()
    if owners == "given":
        resolved = given_owners(resolved)
    elif owners != "policy":
        raise UsageError(Problem("owners", owners, "is not a choice", 'give "policy" or "given"'))
    else:
        reasons = order_dependent(resolved)
        if reasons:
            raise UsageError(
                Problem(
                    "agreement",
                    "; ".join(reasons),
                    "assigns leads in an order a partitioned replay cannot keep",
                    "use partition-safe policies (round-robin by lead id, rules), or, when the "
                    'log gives every owner (assign events), replay with owners="given" '
                    "(--owners given)",
                )
            )
    if partitions is None:
        partitions = _default_partitions(client)
    if not 1 <= partitions < NOWHERE:
        raise UsageError(
            Problem("partitions", partitions, "is out of range", f"give 1 to {NOWHERE - 1}")
        )
    plan = Plan(
        resolved,
        partitions,
        allowed_lateness=allowed_lateness,
        horizon=horizon,
        until=until,
        keep_effects=keep_effects,
        scorecard=scorecard,
        per=per,
        between=between,
        out=None if out is None else str(Path(out).resolve()),
    )
    if plan.out is not None:
        _clear(Path(plan.out))
    blocks = blocks_of(paths, block_bytes)
    if client is None:
        parsed, results = run_local(blocks, plan)
        sizes = [_sizes(found) for found in parsed]
        return merged(plan, blocks, sizes, results)
    sizes, results = run_dask(blocks, plan, client, progress=progress)
    replayed = merged(plan, blocks, sizes, results)
    replayed.dashboard = getattr(client, "dashboard_link", None)
    return replayed


def _clear(out: Path) -> None:
    """``out``'s folders made, and the part files an earlier replay left in it removed (only
    those: ``effects/`` and ``leads/`` files named ``part-NNNNN.parquet``, and their hidden
    temporary twins), so the folder holds this replay's partitions and no others."""
    for kind in ("effects", "leads"):
        folder = out / kind
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UsageError(
                Problem(
                    "out",
                    str(out),
                    f"cannot hold the output ({error.strerror or error})",
                    "give a folder (it is made if missing) that you may write to",
                )
            ) from None
        if folder.is_dir():
            for found in folder.iterdir():
                name = found.name
                if (name.startswith("part-") and name.endswith(".parquet")) or (
                    name.startswith(".part-") and name.endswith(".tmp")
                ):
                    found.unlink()


def _default_partitions(client: Any) -> int:
    """Twice the cluster's threads (so a slow partition does not hold the others up), else 1."""
    if client is None:
        return 1
    threads = sum(client.nthreads().values()) if hasattr(client, "nthreads") else 1
    return max(1, 2 * threads)
