"""The ``leadsla`` command: the shell around the library for analysts and scripts.

Commands: ``demo``, ``init``, ``check``, ``summary``, ``diagram``, ``recipe``, ``replay``,
``report``, ``due``, ``lead``, ``whatif``, ``simulate``. Exit codes: 0 success; 1 the input has
problems (listed on stderr, one per line, ``FILE:LINE: field: ...``); 2 usage errors (argparse).
"""

from __future__ import annotations

import argparse
import glob
import io
import json
import os
import re
import stat
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn, TextIO, TypeVar
from zoneinfo import ZoneInfo

import attrs

from leadsla._core.agreement import Agreement
from leadsla._core.duration import Duration
from leadsla._core.effects import (
    Effect,
    Erased,
    Migrated,
    Rejected,
    RuleFired,
    effect_to_dict,
)
from leadsla._core.engine import Engine
from leadsla._core.errors import (
    AgreementError,
    DurationError,
    LeadSLAError,
    Problem,
    UsageError,
    did_you_mean,
)
from leadsla._core.events import (
    ActivityLogged,
    Event,
    LeadCreated,
    LeadErased,
    LeadUpdated,
    TransitionRequested,
)
from leadsla._core.lead import Standing
from leadsla._core.periods import PERIODS
from leadsla._core.versions import Versions
from leadsla._core.views import LeadView
from leadsla._shell.agreement_write import agreement_to_toml
from leadsla._shell.csv import CsvMapping, recipe_text
from leadsla._shell.dispatch import ACTIONS, Dispatcher
from leadsla._shell.importing import Counted, ImportReport, ImportStream, stream_sources
from leadsla._shell.keeping import Store
from leadsla._shell.migrate import migrate
from leadsla._shell.partitioned import PartitionedReplay, replay_partitioned
from leadsla._shell.postgres import PostgresStore
from leadsla._shell.render import (
    accepted,
    describe_effect,
    format_span,
    plural,
    stamp,
)
from leadsla._shell.replay import Replay, replay
from leadsla._shell.report import (
    OUTCOMES,
    render_scorecard,
    scorecard,
)
from leadsla._shell.service import LineSource, handlers_from, serve, stop_signals
from leadsla._shell.simulate import simulate
from leadsla._shell.store import SqliteStore
from leadsla._shell.summary import render_summary
from leadsla._shell.totals import Totals
from leadsla._version import __version__

if TYPE_CHECKING:
    from tqdm import tqdm

__all__ = ["main"]

_T = TypeVar("_T")


def _demo_events() -> list[Event]:
    """A working week on the default agreement: five leads and what happens to them."""
    zone = ZoneInfo("Europe/Helsinki")

    def at(day: int, hour: int, minute: int = 0) -> datetime:
        return datetime(2026, 3, day, hour, minute, tzinfo=zone)

    events: list[Event] = [
        LeadCreated(
            id="e1", lead="L-1", at=at(6, 16), fields={"email": "ann@acme.fi", "score": 62}
        ),
        LeadCreated(
            id="e2", lead="L-2", at=at(9, 9, 10), fields={"email": "bo@beta.se", "score": 35}
        ),
        TransitionRequested(id="e3", lead="L-1", at=at(9, 9, 30), trigger="accept"),
        LeadCreated(
            id="e4", lead="L-3", at=at(9, 10), fields={"email": "cy@gamma.de", "score": 80}
        ),
        LeadCreated(
            id="e5",
            lead="L-4",
            at=at(9, 11),
            fields={"email": "di@delta.fi", "score": 70, "need_months": 9},
        ),
        LeadUpdated(id="e6", lead="L-2", at=at(9, 14), fields={"score": 55}),
    ]
    number = 7
    for day, hour in ((9, 15), (10, 10), (10, 14), (11, 10), (11, 15), (12, 11)):
        events.append(
            ActivityLogged(
                id=f"e{number}",
                lead="L-1",
                at=at(day, hour),
                kind="call",
                outcome="no_answer",
                by="bob",
            )
        )
        number += 1
    events += [
        ActivityLogged(
            id=f"e{number}",
            lead="L-2",
            at=at(10, 9, 15),
            kind="call",
            outcome="connected",
            by="bob",
        ),
        TransitionRequested(id=f"e{number + 1}", lead="L-2", at=at(10, 9, 20), trigger="accept"),
        LeadUpdated(
            id=f"e{number + 2}",
            lead="L-2",
            at=at(10, 11),
            fields={"budget_confirmed": True, "need_months": 2},
        ),
        TransitionRequested(
            id=f"e{number + 3}", lead="L-2", at=at(10, 11, 5), trigger="qualify_sales"
        ),
        TransitionRequested(id=f"e{number + 4}", lead="L-2", at=at(10, 11, 6), trigger="win"),
    ]
    return sorted(events, key=lambda event: event.at)


def _demo(arguments: argparse.Namespace, out: TextIO) -> int:
    """Replay a working week on the default agreement and show what the engine decided; then
    write the week's scorecard as an HTML page (--report) and say where."""
    engine = Engine()
    agreement = engine.agreement
    zone = ZoneInfo(agreement.timezone)
    out.write(
        f"leadsla {__version__} demo: {agreement.name}, {agreement.calendar(None).describe()}\n"
    )
    out.write("A week of five leads, replayed through the engine; each line is one decision.\n\n")
    for event in _demo_events():
        effects = engine.apply(event)
        for effect in effects:
            if isinstance(effect, RuleFired):
                continue  # its move follows on the next line, with the rule as its cause
            _line(out, effect, zone)
    end = datetime(2026, 3, 13, 17, 0, tzinfo=zone)
    for effect in engine.advance(end):
        _line(out, effect, zone)
    out.write(f"\nWhere the leads are on {stamp(end)}:\n")
    for lead_id in engine.leads():
        view = engine.lead(lead_id)
        running = ", ".join(
            f"{o.name} paused" if o.is_paused else f"{o.name} due {stamp(o.due_at)}"
            for o in view.open_obligations
        )
        out.write(
            f"  {lead_id:4}  {view.state:9} owner {view.owner}{'; ' + running if running else ''}\n"
        )
    out.write("\nWhy is L-3 not an SQL?\n")
    for line in agreement.workflow.explain(engine.lead("L-3").lead, "sql").lines():
        out.write(f"  {line}\n")
    for volume in engine.volumes():
        out.write(
            f"\nMQLs delivered in {volume.period}: {volume.delivered} of {volume.target} "
            f"committed; {volume.accepted} accepted by sales.\n"
        )
    title = f"Scorecard: {agreement.name}, the demo week"
    report = render_scorecard(scorecard(engine), "html", title=title)
    _write(Path(arguments.report), report, "--report")
    out.write(f"\nThe week's scorecard, with its charts: {arguments.report}\n")
    return 0


def _line(out: TextIO, effect: Effect, zone: ZoneInfo) -> None:
    out.write(f"{stamp(effect.at.astimezone(zone))}  {effect.lead:4}  {describe_effect(effect)}\n")


# The note ``_load`` adds to an agreement file's error, naming the file: where the error is
# printed, each problem is shown as ``FILE:LINE: problem`` (as ``check`` does).
_IN_FILE = "in the agreement file "


def _located(path: str, problem: Problem) -> str:
    where = f"{path}:{problem.line}" if problem.line else path
    return f"{where}: {attrs.evolve(problem, line=None)}"


def _file_lines(path: str, problems: Sequence[Problem]) -> list[str]:
    """A file's problems in the order of its lines, each as ``FILE:LINE: problem``."""
    ordered = sorted(problems, key=lambda p: (p.line is None, p.line or 0, p.field))
    return [_located(path, problem) for problem in ordered]


def _message(error: LeadSLAError) -> str:
    """What the command prints for ``error``: an agreement file's problems with their lines."""
    for note in getattr(error, "__notes__", ()):
        if isinstance(note, str) and note.startswith(_IN_FILE):
            return "\n".join(_file_lines(note.removeprefix(_IN_FILE), error.problems))
    return str(error)


def _load(path: str) -> Agreement:
    try:
        return Agreement.from_toml(Path(path))
    except LeadSLAError as error:
        error.add_note(f"{_IN_FILE}{path}")
        raise


def _emit(text: str, output: str | None, out: TextIO, field: str = "output") -> None:
    if output is None or output == "-":
        if text:
            out.write(text if text.endswith("\n") else text + "\n")
        return
    _write(Path(output), text, field)


def _write(path: Path, text: str, field: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise UsageError(
            Problem(
                field,
                str(path),
                f"cannot be written ({error.strerror or error})",
                "give a path in a folder that exists and that you may write to",
            )
        ) from None


def _init(arguments: argparse.Namespace, out: TextIO) -> int:
    """Write the default agreement, commented, as a file to edit (or to stdout with -)."""
    text = agreement_to_toml(Agreement.default(), comments=True)
    path: str = arguments.path
    if path == "-":
        out.write(text)
        return 0
    target = Path(path)
    if target.exists() and not arguments.force:
        raise UsageError(
            Problem("path", path, "already exists", "choose another path or pass --force")
        )
    _write(target, text, "path")
    out.write(f"Wrote {path}; check it with: leadsla check {path}\n")
    return 0


def _check(arguments: argparse.Namespace, out: TextIO) -> int:
    """Read an agreement file and report every problem at once, with its line."""
    try:
        agreement = _load(arguments.file)
    except LeadSLAError as error:
        for line in _file_lines(arguments.file, error.problems):
            print(line, file=sys.stderr)
        count = len(error.problems)
        print(f"{count} problem{'s' if count != 1 else ''} in {arguments.file}", file=sys.stderr)
        return 1
    lifecycle = agreement.lifecycle
    out.write(
        f"{arguments.file}: {agreement.name} is valid: "
        f"{plural(len(lifecycle.states), 'state')}, "
        f"{plural(len(agreement.obligations), 'obligation')}, "
        f"{plural(len(agreement.rules.rules), 'rule')}, "
        f"{plural(len(agreement.commitments), 'commitment')}.\n"
    )
    funnel = agreement.funnel()
    if funnel is not None:
        for sentence in funnel.sentences():
            out.write(f"  {sentence}\n")
    return 0


def _summary(arguments: argparse.Namespace, out: TextIO) -> int:
    """Render the agreement as a one-page summary both teams can read and sign."""
    _emit(render_summary(_load(arguments.file), arguments.format), arguments.output, out)
    return 0


def _diagram(arguments: argparse.Namespace, out: TextIO) -> int:
    """Draw the lead lifecycle as a Mermaid or Graphviz DOT state diagram."""
    lifecycle = _load(arguments.file).lifecycle
    text = lifecycle.to_mermaid() if arguments.format == "mermaid" else lifecycle.to_dot()
    _emit(text, arguments.output, out)
    return 0


def _instant(text: str, field: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise UsageError(
            Problem(
                field,
                text,
                "is not a time with its UTC offset",
                "write e.g. 2026-03-31T17:00:00+03:00 or 2026-03-31T14:00:00Z",
            )
        )
    return moment


# A log read faster than this shows no bar: a short command's output is not preceded by a flash.
_PROGRESS_DELAY = 0.25
# A CSV file's events are counted on their bar this many at a time.
_PROGRESS_CHUNK = 1024


def _progress_shown(arguments: argparse.Namespace) -> bool:
    """Whether reading the log shows a progress bar: only when stderr is a terminal, never with
    --quiet, and not while the effects stream to the terminal (``replay --effects -``)."""
    if arguments.quiet or not sys.stderr.isatty():
        return False
    return not (getattr(arguments, "effects", None) == "-" and sys.stdout.isatty())


def _progress_name(arguments: argparse.Namespace, label: str) -> str:
    """The name on the bar: the command's; for ``whatif``, which replays the log twice,
    ``current`` or ``alternative`` (the replay through the alternative has a ``label``)."""
    if arguments.command == "whatif":
        return "alternative" if label else "current"
    return str(arguments.command)


def _progress(name: str, total: int | None, unit: str) -> tqdm[NoReturn]:
    """A progress bar on stderr, drawn once it has run for ``_PROGRESS_DELAY`` seconds, and
    erased when closed (``leave=False``): what the command says next starts on a clean line."""
    from tqdm import tqdm  # imported only for a bar: it takes about 50 ms

    return tqdm(
        desc=name,
        total=total,
        unit=unit,
        unit_scale=True,
        unit_divisor=1024 if unit == "B" else 1000,
        file=sys.stderr,
        leave=False,
        delay=_PROGRESS_DELAY,
        dynamic_ncols=True,
    )


@contextmanager
def _log_text(path: Path, *, newline: str | None, bar: str | None) -> Iterator[TextIO]:
    """``path`` opened as UTF-8 text (a byte-order mark, as some Windows tools write, is not
    part of line 1) and, while it is read, a progress bar named ``bar`` on stderr (unless
    ``bar`` is None), in bytes of the file. The bar is gone once the file is closed, before
    the summary and the refused lines are written."""
    with path.open("rb", buffering=0) as raw, ExitStack() as stack:
        update: Callable[[int], object] = _ignore
        if bar is not None:
            status = os.fstat(raw.fileno())
            size = status.st_size if stat.S_ISREG(status.st_mode) else None  # a pipe: unknown
            update = stack.enter_context(_progress(bar, size, "B")).update
        buffered = io.BufferedReader(Counted(raw, update))
        with io.TextIOWrapper(buffered, encoding="utf-8-sig", newline=newline) as text:
            yield text


def _ignore(count: int) -> None:
    """No progress bar: the bytes read are not counted."""


def _counted_events(events: Iterator[_T], bar: str, total: int) -> Iterator[_T]:
    """``events`` as they are replayed, counted on a progress bar named ``bar``: the files
    are read first (their bar in bytes), then their events replayed (this bar)."""
    with _progress(bar, total, " events") as progress:
        count = 0
        for event in events:
            yield event
            count += 1
            if count == _PROGRESS_CHUNK:
                progress.update(count)
                count = 0
        progress.update(count)


def _size(path: Path) -> int:
    """A file's size in bytes (0 when it cannot be known: the read will say why)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _agreements(files: Sequence[str] | None) -> Agreement | Versions:
    """The agreement of the --agreement files: the default one, the one file's, or the
    versions of several, oldest first (a problem with their order names the file)."""
    if not files:
        return Agreement.default()
    loaded = [_load(path) for path in files]
    if len(loaded) == 1:
        return loaded[0]
    try:
        return Versions(loaded)
    except AgreementError as error:
        raise AgreementError(*(_in_file(problem, files) for problem in error.problems)) from None


def _in_file(problem: Problem, files: Sequence[str]) -> Problem:
    """A problem with the order of versions, its field naming the file (not its index)."""
    index, _, rest = problem.field.removeprefix("versions[").partition("]")
    if not index.isdigit() or int(index) >= len(files):
        return problem
    return attrs.evolve(
        problem,
        field=f"{files[int(index)]}: {rest.removeprefix('.')}",
        fix=f"{problem.fix} (and give the --agreement files oldest first)",
    )


def _replayed(
    arguments: argparse.Namespace,
    until: datetime | None,
    agreement: Agreement | Versions | None = None,
    *,
    field: str = "--until",
    label: str = "",
    tell_after: bool = True,
    observe: Callable[[Sequence[Effect]], object] | None = None,
) -> Replay:
    """The log replayed through ``agreement`` (else --agreement, else the default one) up to
    ``until``: the events at or before it are applied, then the engine advances to it. How
    many events came after it, not applied, is said on stderr (naming the option as
    ``field``; unless ``tell_after`` is false), and refused lines as LOG:LINE: reason, after
    ``label`` if given."""
    if agreement is None:
        agreement = _agreements(arguments.agreement)
    sources = _sources(arguments)
    path = Path(arguments.log or sources[0][1])
    bar = _progress_name(arguments, label) if _progress_shown(arguments) else None
    wheres: dict[int, str] = {}  # for CSV files: where each refused event comes from
    report = ImportReport()
    try:
        if sources:
            newest = agreement.latest if isinstance(agreement, Versions) else agreement
            with ExitStack() as reading:  # the bar in bytes, while the files are read
                read = None
                if bar is not None:
                    size = sum(_size(Path(file)) for _, file in sources)
                    read = reading.enter_context(_progress(bar, size or None, "B")).update
                stream = stream_sources(sources, newest, strict=arguments.strict, read=read)
            with stream:
                report = stream.report
                agreement = _joined(agreement, stream, label)
                shown = {name: file for (_, file), name in zip(sources, stream.names, strict=True)}
                # The replay reads an event and applies it before it reads the next: a
                # refusal it observes is the last event's, whose place is kept here.
                read_count = 0
                place = ("", 0)  # its source and row

                def tracked() -> Iterator[Event]:
                    nonlocal read_count, place
                    for source, row, event in stream:
                        read_count += 1
                        place = (source, row)
                        yield event

                def observed(effects: Sequence[Effect]) -> None:
                    for effect in effects:
                        if isinstance(effect, Rejected):
                            wheres[read_count] = f"{shown[place[0]]}:{place[1]}"
                            break
                    if observe is not None:
                        observe(effects)

                events = tracked()
                if bar is not None:  # then a bar of the events replayed
                    events = _counted_events(events, bar, stream.count)
                result = replay(
                    events, agreement, until=until, keep_effects=False, observe=observed
                )
        else:
            with _log_text(path, newline=None, bar=bar) as log:
                result = replay(log, agreement, until=until, keep_effects=False, observe=observe)
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "is not UTF-8 text"
        raise UsageError(
            Problem(
                "log",
                str(path),
                f"cannot be read ({reason or error})",
                "give the path of a CSV file with a header row"
                if arguments.mapping
                else "give the path of a JSON Lines file, one event per line",
            )
        ) from None
    for line, rejection in result.refused:
        where = wheres.get(line, f"{arguments.log}:{line}")
        print(f"{label}{where}: {rejection.reason}", file=sys.stderr)
    if not label:  # (whatif reads the files again for the alternative: said once)
        _say_refusals(report, arguments, label)
    if result.after_until and until is not None and tell_after:
        count = result.after_until
        print(
            f"{label}{plural(count, 'event')} in {_log_label(arguments)} came after {field} "
            f"{until.isoformat()} and {'was' if count == 1 else 'were'} not applied",
            file=sys.stderr,
        )
    return result


def _sources(arguments: argparse.Namespace) -> list[tuple[CsvMapping, str]]:
    """The CSV sources the --mapping options name: ``MAPPING`` (for LOG) or
    ``MAPPING=FILE``, where ``MAPPING`` is a file or ``recipe:NAME``, a recipe leadsla
    ships (``leadsla recipe`` lists them)."""
    sources: list[tuple[CsvMapping, str]] = []
    for given in arguments.mapping or ():
        mapping_path, sign, data_path = given.partition("=")
        if not sign:
            if arguments.log is None:
                raise UsageError(
                    Problem(
                        "--mapping",
                        given,
                        "names no file to read, and no LOG is given",
                        "write --mapping MAPPING=FILE, or give LOG",
                    )
                )
            data_path = arguments.log
        if mapping_path.startswith(_RECIPE):
            mapping = CsvMapping.recipe(mapping_path.removeprefix(_RECIPE))
        else:
            mapping = CsvMapping.from_toml(Path(mapping_path))
        sources.append((mapping, data_path))
    if arguments.log is None and not sources:
        raise UsageError(
            Problem("LOG", None, "is missing", "give the event log, or --mapping MAPPING=FILE")
        )
    if arguments.log is not None and sources and arguments.log not in (f for _, f in sources):
        raise UsageError(
            Problem(
                "LOG",
                arguments.log,
                "would not be read: every --mapping names a file of its own",
                "leave LOG out, or give its mapping as --mapping MAPPING (without =FILE)",
            )
        )
    return sources


def _log_label(arguments: argparse.Namespace) -> str:
    """How messages name the log: LOG, else the files the --mapping options read."""
    if arguments.log is not None:
        return str(arguments.log)
    files = [given.partition("=")[2] for given in arguments.mapping or ()]
    return " + ".join(file for file in files if file) or "the log"


#: How --mapping names a recipe instead of a file: recipe:hubspot=contacts.csv.
_RECIPE = "recipe:"


def _recipe(arguments: argparse.Namespace, out: TextIO) -> int:
    """Print a mapping file leadsla ships for a CRM's standard export (a recipe), to copy
    and adapt; without NAME, list the recipes. Use one as it is with
    --mapping recipe:NAME=FILE."""
    if arguments.name is None:
        names = CsvMapping.recipes()
        width = max(len(name) for name in names)
        for name in names:
            title = recipe_text(name).splitlines()[0].removeprefix("#").strip()
            out.write(f"{name:<{width}}  {title}\n")
        return 0
    _emit(recipe_text(arguments.name), arguments.output, out)
    return 0


def _joined(
    agreement: Agreement | Versions, imported: ImportStream, label: str
) -> Agreement | Versions:
    """The agreement with the people the data named joined to their teams (and said)."""
    for team, people in imported.joined.items():
        if people:
            print(
                f"{label}{len(people)} {'person' if len(people) == 1 else 'people'} from the "
                f"data joined team {team}: "
                f"{', '.join(people)}",
                file=sys.stderr,
            )
    if isinstance(agreement, Versions):
        return Versions([imported.with_people(version) for version in agreement])
    return imported.with_people(agreement)


def _say_refusals(report: ImportReport, arguments: argparse.Namespace, label: str) -> None:
    """What the import refused, one line per reason, on stderr (and as JSON with
    --refusals); the count is kept for the exit code."""
    arguments.import_refused = report.refused_rows
    for line in report.lines():
        print(f"{label}{line}", file=sys.stderr)
    if getattr(arguments, "refusals", None):
        Path(arguments.refusals).write_text(
            json.dumps(report.to_data(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
        )


def _refused(result: Replay, arguments: argparse.Namespace) -> int:
    """The exit code: 1 when lines of the log were refused (and a count on stderr)."""
    imported = getattr(arguments, "import_refused", 0)
    if imported:
        print(f"{plural(imported, 'row')} refused by the mapping", file=sys.stderr)
    if not result.refused:
        return 1 if imported else 0
    if arguments.mapping:
        said = f"{plural(len(result.refused), 'event')} refused by the engine"
    else:
        said = f"{plural(len(result.refused), 'line')} refused in {arguments.log}"
    print(said, file=sys.stderr)
    return 1


def _replay(arguments: argparse.Namespace, out: TextIO) -> int:
    """Replay an event log (JSON Lines) through the agreement and say what it made of it.

    Refused lines go to stderr as LOG:LINE: reason (exit 1); the summary goes to stdout:
    the clocks by how they ended (on time, met late, breached, cancelled, open), the deadlines
    missed (met late or breached) by obligation and owner, and the commitments per tracking
    period. --until replays the log up to TIME and advances to it
    (the end of the period), so every deadline passed by then counts; the events after it are
    not applied, and stderr says how many. --effects writes every effect as JSON Lines (with
    --effects -, to stdout, and the summary to stderr).
    """
    until = _instant(arguments.until, "--until") if arguments.until else None
    if arguments.engine == "dask":
        if arguments.effects:
            raise UsageError(
                Problem(
                    "--effects",
                    arguments.effects,
                    "is for one process: a partitioned replay writes its effects per partition",
                    "give --out FOLDER (each partition's effects as Parquet, with their ids)",
                )
            )
        spread = _partitioned(arguments, until, _agreements(arguments.agreement))
        out.write(
            _replay_said(
                arguments.log,
                spread.events,
                spread.rejected,
                spread.duplicates,
                spread.totals,
                spread.versions,
            )
        )
        return _spread_refused(spread, arguments)
    _local_only(arguments)
    if arguments.effects:
        # Streamed as they come, not kept: a long log's effects would not fit in memory.
        with _opened(arguments.effects, out, "--effects") as sink:

            def write(effects: Sequence[Effect]) -> None:
                for effect in effects:
                    sink.write(json.dumps(effect_to_dict(effect), ensure_ascii=False) + "\n")

            result = _replayed(arguments, until, observe=write)
        if arguments.effects == "-":
            out = sys.stderr  # stdout carries the effects: keep it JSON Lines
    else:
        result = _replayed(arguments, until)
    engine = result.engine
    out.write(
        _replay_said(
            _log_label(arguments),
            result.events,
            result.rejected,
            result.duplicates,
            Totals.of(engine),
            engine.versions,
        )
    )
    return _refused(result, arguments)


def _replay_said(
    log: str,
    events: int,
    rejected: int,
    duplicates: int,
    totals: Totals,
    versions: Versions,
) -> str:
    """What ``leadsla replay`` says of a replay: the counts, the clocks by how they ended, the
    deadlines missed by obligation and owner, and the commitments per period."""
    report = [
        f"{log}: {plural(events, 'event')} on {versions.latest.name}, "
        f"{rejected} refused, {plural(duplicates, 'duplicate')}; "
        f"{plural(totals.leads, 'lead')}"
        + (f"; clock at {stamp(totals.clock)}" if totals.clock else ""),
        _outcomes_line(totals),
    ]
    breaches = totals.breaches
    if breaches:
        report.append("Deadlines missed (met late or breached), by obligation and owner:")
        for obligation in sorted({name for name, _ in breaches}):
            owners = sorted(
                ((who, n) for (name, who), n in breaches.items() if name == obligation),
                key=lambda item: (-item[1], item[0]),
            )
            total = sum(n for _, n in owners)
            listed = ", ".join(f"{who} {n}" for who, n in owners)
            report.append(f"  {obligation}: {total} ({listed})")
    volumes = totals.volumes(versions)
    if volumes:
        report.append("Commitments:")
        for volume in volumes:
            report.append(
                f"  {volume.commitment} {volume.period}: {volume.delivered} of {volume.target}"
                f"{accepted(volume)}: {'met' if volume.met else 'not met'}"
            )
    return "\n".join(report) + "\n"


def _outcomes_line(totals: Totals) -> str:
    """The clocks by how they ended, in the words of every report."""
    outcomes = totals.outcomes
    said = ", ".join(f"{outcomes[outcome]} {outcome}" for outcome in OUTCOMES)
    return f"Obligations: {plural(outcomes.total(), 'clock')}: {said}"


@contextmanager
def _opened(output: str, out: TextIO, field: str) -> Iterator[TextIO]:
    """``output`` opened for writing text, or ``out`` for ``-``."""
    if output == "-":
        yield out
        return
    try:
        handle = Path(output).open("w", encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as error:
        raise UsageError(
            Problem(
                field,
                output,
                f"cannot be written ({error.strerror or error})",
                "give a path in a folder that exists and that you may write to",
            )
        ) from None
    with handle:
        yield handle


def _scores(rejected: int, totals: Totals, versions: Versions) -> dict[tuple[int, str], int]:
    """What a replay came to, as counts under stable (section, label) keys, to compare two."""
    outcomes = totals.outcomes
    scores = {
        (0, "events refused"): rejected,
        (0, "clocks opened"): outcomes.total(),
        **{(0, f"clocks {outcome}"): outcomes[outcome] for outcome in OUTCOMES},
    }
    breached: Counter[tuple[int, str]] = Counter()
    for (obligation, owner), count in totals.breaches.items():
        breached[(1, f"  missed: {obligation}")] += count
        breached[(2, f"  missed, owner {owner}")] += count
    scores.update(breached)
    # On time among the clocks that came due, in whole per cent, per obligation and per owner
    # (who had the lead when each clock was decided, as in the scorecard).
    for (kind, name), count in totals.due.items():
        label = f"  on time %: {name}" if kind == "obligation" else f"  on time %, owner {name}"
        scores[(1 if kind == "obligation" else 2, label)] = round(
            100 * totals.on_time[(kind, name)] / count
        )
    scores.update(((3, f"leads now in {state}"), n) for state, n in totals.states.items())
    for volume in totals.volumes(versions):
        key = f"{volume.commitment} {volume.period}"
        scores[(4, f"{key}: delivered (of {volume.target})")] = volume.delivered
        scores[(4, f"{key}: accepted")] = volume.accepted
    return scores


def _whatif(arguments: argparse.Namespace, out: TextIO) -> int:
    """Replay one log under two agreements and compare what each makes of it.

    The current agreement is --agreement (default: the default agreement), the other is the
    file ALTERNATIVE. Side by side: refused events, the clocks by how they ended (on time,
    met late, breached, cancelled, open), the deadlines missed by obligation and by owner,
    where the leads end up, and
    each commitment per period, with the change.
    """
    until = _instant(arguments.until, "--until") if arguments.until else None
    alternative = _load(arguments.alternative)
    if arguments.engine == "dask":
        with _dask_client(arguments) as client:
            now = _partitioned(arguments, until, _agreements(arguments.agreement), client)
            then = _partitioned(arguments, until, alternative, client, label="alternative")
        before = _scores(now.rejected, now.totals, now.versions)
        after = _scores(then.rejected, then.totals, then.versions)
        code = max(
            _spread_refused(now, arguments),
            _spread_refused(then, arguments, f"[{arguments.alternative}] "),
        )
    else:
        _local_only(arguments)
        current = _replayed(arguments, until)
        # The same log, so the same events after --until: said once, for the current one.
        other = _replayed(
            arguments, until, alternative, label=f"[{arguments.alternative}] ", tell_after=False
        )
        before = _scores(current.rejected, Totals.of(current.engine), current.engine.versions)
        after = _scores(other.rejected, Totals.of(other.engine), other.engine.versions)
        code = max(_refused(current, arguments), 1 if other.refused else 0)
    # Each section in its place: the counts in their order, breaches and states by name,
    # commitments by period.
    keys = sorted(
        dict.fromkeys([*before, *after]),
        key=lambda key: (key[0], key[1] if key[0] in (1, 2, 3) else ""),
    )
    names = (
        " then ".join(arguments.agreement or ["default agreement"]),
        arguments.alternative,
    )
    width = max(len(label) for _, label in keys)
    rows = [("", *names, "change")]
    for key in keys:
        a, b = before.get(key, 0), after.get(key, 0)
        rows.append((key[1], str(a), str(b), f"{b - a:+d}" if b != a else ""))
    widths = [width, *(max(len(row[i]) for row in rows) for i in (1, 2, 3))]
    for row in rows:
        cells = [row[0].ljust(widths[0]), *(row[i].rjust(widths[i]) for i in (1, 2, 3))]
        out.write("  ".join(cells).rstrip() + "\n")
    return code


def _partitioned(
    arguments: argparse.Namespace,
    until: datetime | None,
    agreement: Agreement | Versions,
    client: Any = None,
    *,
    label: str = "",
    scorecard: bool = False,
    per: Any = None,
    between: tuple[date, date] | None = None,
) -> PartitionedReplay:
    """The log replayed in partitions on a Dask cluster (``--engine dask``): the cluster
    ``--scheduler`` names, else a local one of ``--workers`` processes (or ``client``'s)."""
    if arguments.mapping:
        raise UsageError(
            Problem(
                "--mapping",
                arguments.mapping[0],
                "is for one process: a partitioned replay reads event logs",
                "import the CSV files once (leadsla replay --mapping ... --effects is not it: "
                "write the events with leadsla.import_sources), or replay without --engine dask",
            )
        )
    if arguments.log is None:
        raise UsageError(Problem("LOG", None, "is missing", "give the event log"))
    if arguments.partitions is not None and arguments.partitions < 1:
        raise UsageError(
            Problem("--partitions", arguments.partitions, "must be 1 or more", "give e.g. 8")
        )
    if arguments.workers is not None and arguments.workers < 1:
        raise UsageError(Problem("--workers", arguments.workers, "must be 1 or more", "give 2"))
    # A file of that name is the log (its name may hold [ or ?); else a glob of files.
    if Path(arguments.log).exists():
        paths = [arguments.log]
    else:
        paths = sorted(glob.glob(arguments.log)) or [arguments.log]
    # whatif writes the alternative's partitions beside the current agreement's
    out = arguments.out if arguments.out is None or not label else Path(arguments.out) / label
    with ExitStack() as stack:
        if client is None:
            client = stack.enter_context(_dask_client(arguments))
        told = None
        if _progress_shown(arguments):
            bar = stack.enter_context(_progress(_progress_name(arguments, label), None, " tasks"))

            def told(done: int, of: int) -> None:
                bar.total = of
                bar.n = done
                bar.refresh()

        return replay_partitioned(
            paths,
            agreement,
            partitions=arguments.partitions,
            client=client,
            until=until,
            owners=arguments.owners,
            out=out,
            scorecard=scorecard,
            per=per,
            between=between,
            progress=told,
        )


@contextmanager
def _dask_client(arguments: argparse.Namespace) -> Iterator[Any]:
    """A Dask client: of the cluster at ``--scheduler``, else of a local cluster of
    ``--workers`` processes (default: one per core), closed on leaving. Its dashboard's
    address goes to stderr (unless ``-q``)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UsageError(
            Problem(
                "--engine",
                "dask",
                "needs Dask distributed, which is not installed",
                "pip install 'leadsla[dask]'",
            )
        ) from None
    with ExitStack() as stack:
        if arguments.scheduler:
            try:
                client = stack.enter_context(Client(arguments.scheduler))  # type: ignore[no-untyped-call]
            except (OSError, TimeoutError) as error:
                raise UsageError(
                    Problem(
                        "--scheduler",
                        arguments.scheduler,
                        f"cannot be reached ({error})",
                        "give the address of a running Dask scheduler (tcp://host:8786)",
                    )
                ) from None
        else:
            workers = arguments.workers or os.cpu_count() or 1
            cluster = stack.enter_context(
                LocalCluster(  # type: ignore[no-untyped-call]
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",
                    silence_logs=40,
                )
            )
            client = stack.enter_context(Client(cluster))  # type: ignore[no-untyped-call]
        if not arguments.quiet:
            print(f"Dask dashboard: {client.dashboard_link}", file=sys.stderr)
        yield client


def _local_only(arguments: argparse.Namespace) -> None:
    """Without --engine dask, the options of a partitioned replay are mistakes: say so."""
    given = [
        option
        for option, value in (
            ("--workers", arguments.workers),
            ("--scheduler", arguments.scheduler),
            ("--partitions", arguments.partitions),
            ("--out", arguments.out),
            ("--owners", None if arguments.owners == "policy" else arguments.owners),
        )
        if value is not None
    ]
    if given:
        raise UsageError(
            Problem(
                given[0],
                getattr(arguments, given[0].removeprefix("--")),
                "is an option of a partitioned replay",
                "add --engine dask, or leave it out",
            )
        )


def _spread_refused(
    spread: PartitionedReplay, arguments: argparse.Namespace, label: str = ""
) -> int:
    """A partitioned replay's refusals on stderr as FILE:LINE: reason (after ``label``), and
    the exit code: 1 when lines were refused, or when it was not exact (see
    PartitionedReplay.inexact)."""
    for path, line, rejection in spread.refused:
        print(f"{label}{path}:{line}: {rejection.reason}", file=sys.stderr)
    for path, line, event_id in spread.inexact:
        print(
            f"{label}{path}:{line}: event {event_id!r} repeats an id seen before, dated after "
            "the log's clock: one process would not move its clock for it, so this "
            "partitioned replay may differ from one after it; give it its own id, or replay "
            "without --engine dask",
            file=sys.stderr,
        )
    if spread.after_until and arguments.until and not label:
        print(
            f"{plural(spread.after_until, 'event')} came after --until {arguments.until} and "
            f"{'was' if spread.after_until == 1 else 'were'} not applied",
            file=sys.stderr,
        )
    if spread.refused and not label:
        print(f"{plural(len(spread.refused), 'line')} refused in {arguments.log}", file=sys.stderr)
    return 1 if spread.refused or spread.inexact else 0


def _report(arguments: argparse.Namespace, out: TextIO) -> int:
    """The review-meeting scorecard: each tracking period's commitments, obligations (clocks
    by how they ended: on time, met late, breached, cancelled, open; the attainment; the
    median and p90 time to meet, in each obligation's unit), the same per owner, breaches by
    owner, leads entering each state, and why leads went back or were lost. --format md,
    json (every figure) or csv (a row per period, obligation and owner) for other tools.

    --until replays the log up to the end of the period and advances to it, so every deadline
    passed by then counts (the events after it are left out, and stderr says how many).
    """
    until = _instant(arguments.until, "--until") if arguments.until else None
    between = _between(arguments)
    if arguments.engine == "dask":
        spread = _partitioned(
            arguments,
            until,
            _agreements(arguments.agreement),
            scorecard=True,
            per=arguments.per,
            between=between,
        )
        agreement = spread.versions.latest
        cards = spread.scorecard()
        code = _spread_refused(spread, arguments)
    else:
        _local_only(arguments)
        result = _replayed(arguments, until)
        agreement = result.engine.agreement
        cards = scorecard(result.engine, per=arguments.per, between=between)
        code = _refused(result, arguments)
    if between is not None:
        span = f"from {between[0].isoformat()} to {between[1].isoformat()}"
    else:
        span = f"by {arguments.per or agreement.tracking_period}"
    title = f"Scorecard: {agreement.name}, {span}, from {_log_label(arguments)}"
    _emit(render_scorecard(cards, arguments.format, title=title), arguments.output, out)
    return code


def _between(arguments: argparse.Namespace) -> tuple[date, date] | None:
    """The report's date range from --from and --to (both days included), or None."""
    first, last = arguments.start, arguments.end
    if first is None and last is None:
        return None
    if first is None or last is None:
        given, missing = ("--from", "--to") if last is None else ("--to", "--from")
        raise UsageError(
            Problem(
                missing,
                None,
                f"is needed with {given}",
                "give both days of the range, e.g. --from 2026-03-01 --to 2026-03-15",
            )
        )
    if arguments.per:
        raise UsageError(
            Problem(
                "--per",
                arguments.per,
                "cannot be given with --from and --to (a range is one card)",
                "leave out --per, or --from and --to",
            )
        )
    return _day(first, "--from"), _day(last, "--to")


def _day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(
            Problem(field, text, "is not a date", "write it as YYYY-MM-DD, e.g. 2026-03-01")
        ) from None


def _diff(arguments: argparse.Namespace, out: TextIO) -> int:
    """Say what a new version of an agreement changes, in the one-pager's words.

    Each part that differs (the name, version and effective date, the goal, a term, an
    obligation, a commitment, a team, a state, a rule, a transition, a calendar, the tracking
    period, the review) is listed with what the summary says of it before and after, in the
    summary's order. The exit code is 0 whether or not they differ; with --exit-code, 1 when
    they differ (as git diff --exit-code).
    """
    from leadsla._shell.diff import agreement_diff, render_diff

    changes = agreement_diff(_load(arguments.old), _load(arguments.new))
    text = render_diff(changes, arguments.format, arguments.old, arguments.new)
    _emit(text, arguments.output, out)
    return 1 if changes and arguments.exit_code else 0


def _simulate(arguments: argparse.Namespace, out: TextIO) -> int:
    """Write a synthetic event log (JSON Lines) for trying an agreement without data.

    Leads arrive a few minutes apart from --start; marketing raises their scores until about
    two thirds become MQLs; reps accept or reject them, call, qualify, win or lose; some drift
    to nurture. The same --seed gives the same log. It uses the default agreement's fields and
    triggers (see leadsla.simulate).
    """
    agreement = _load(arguments.agreement) if arguments.agreement else Agreement.default()
    start = _instant(arguments.start, "--start") if arguments.start else None
    if arguments.leads < 0:
        raise UsageError(
            Problem("--leads", arguments.leads, "must not be negative", "give 0 or more")
        )
    events = simulate(arguments.leads, seed=arguments.seed, start=start, agreement=agreement)
    text = "".join(event.to_json() + "\n" for event in events)
    _emit(text, arguments.output, out)
    if arguments.output not in (None, "-"):
        out.write(f"Wrote {len(events)} events for {arguments.leads} leads to {arguments.output}\n")
    return 0


def _due(arguments: argparse.Namespace, out: TextIO) -> int:
    """List the warnings and deadlines coming up after the log, in the order they fire.

    The log is replayed up to --at (default: the last event's time) and the engine advances to
    it, so what was due by then has fired (the events after it are left out, and stderr says
    how many). The list runs from then to --until, or for --within
    (default: 1 business day on the agreement's calendar).
    """
    at = _instant(arguments.at, "--at") if arguments.at else None
    # The options are checked before the log is read.
    until = _instant(arguments.until, "--until") if arguments.until else None
    within = _duration(arguments.within or "1 business day", "--within")
    result = _replayed(arguments, at, field="--at")
    engine = result.engine
    now = engine.clock
    if now is None:
        out.write(f"{_log_label(arguments)} has no events: nothing is due.\n")
        return _refused(result, arguments)
    if until is not None:
        if until.timestamp() < now.timestamp():
            raise UsageError(
                Problem(
                    "--until",
                    until.isoformat(),
                    f"is before now ({now.isoformat()})",
                    "give a later time, or --within a duration",
                )
            )
        span = ""
    else:
        until = engine.agreement.calendar(None).add(now, within)
        span = f" ({within})"
    zone = ZoneInfo(engine.agreement.timezone)
    due = engine.due(until)
    heading = "Due" if due else "Nothing due"
    out.write(
        f"{heading} from {stamp(now.astimezone(zone))} to {stamp(until.astimezone(zone))}{span}"
    )
    out.write(":\n" if due else ".\n")
    for item in due:
        out.write(
            f"{stamp(item.at.astimezone(zone))}  {item.kind:8}  {item.lead:6}  "
            f"{item.obligation} #{item.number}, due {stamp(item.due_at.astimezone(zone))}, "
            f"owner {item.owner}\n"
        )
    return _refused(result, arguments)


def _duration(text: str, field: str) -> Duration:
    try:
        return Duration.parse(text)
    except DurationError as error:
        raise DurationError(*(attrs.evolve(p, field=field) for p in error.problems)) from None


def _lead(arguments: argparse.Namespace, out: TextIO) -> int:
    """Tell one lead's story from the log: where it is, who owns it, why it moved, its clocks.

    With --at, the story up to that time: the log is replayed up to it (the events after it are
    left out, and stderr says how many) and the engine advances to it.
    """
    at = _instant(arguments.at, "--at") if arguments.at else None
    result = _replayed(arguments, at, field="--at")
    engine = result.engine
    if arguments.lead not in set(engine.leads()):
        known = list(engine.leads())
        raise UsageError(
            Problem(
                "lead",
                arguments.lead,
                "is not in the log",
                f"the log has {plural(len(known), 'lead')}"
                + (did_you_mean(arguments.lead, known) if known else "")
                + "; give the id as the events write it",
            )
        )
    zone = ZoneInfo(engine.agreement.timezone)
    view = engine.lead(arguments.lead)
    lead = view.lead

    def when(moment: datetime) -> str:
        return stamp(moment.astimezone(zone))

    lines = [f"{lead.id}: {lead.state}, owner {lead.owner}"]
    if lead.standing is not None:
        lines.append(_standing_said(lead.standing, when))
    if lead.fields:
        lines.append("Fields: " + ", ".join(f"{k}={v!r}" for k, v in lead.fields.items()))
    absorbed = _absorbed(view)
    if absorbed:
        lines.append(f"Merged into it: {', '.join(absorbed)} (their moves below, marked)")
    lines.append("History:")
    for entry in view.history:
        mark = "" if entry.lead == lead.id else f"[{entry.lead}] "
        lines.append(f"  {when(entry.at)}  {mark}{describe_effect(entry)}")
        for explanation in entry.explanations:
            lines.extend(f"      {line}" for line in explanation.lines())
    lines.append("Owners:")
    for interval in lead.ownership:
        end = f" to {when(interval.end)}" if interval.end is not None else " on"
        lines.append(f"  from {when(interval.start)}{end}: {interval.owner} ({interval.reason})")
    if view.obligations:
        lines.append("Clocks:")
    for clock in view.obligations:
        facts = [f"opened {when(clock.opened_at)}", f"due {when(clock.due_at)}"]
        if clock.breached_at is not None:
            facts.append(f"breached, owner {clock.breach_owner}")
        if clock.met_at is not None:
            late = f", {format_span(clock.lateness)} late" if clock.lateness else ""
            facts.append(f"met {when(clock.met_at)}{late}")
        if clock.cancelled_at is not None:
            facts.append(f"cancelled {when(clock.cancelled_at)}")
        if clock.outcome:
            facts.append(clock.outcome)
        lines.append(f"  {clock.name} #{clock.number}: {clock.status}; {'; '.join(facts)}")
    out.write("\n".join(lines) + "\n")
    return _refused(result, arguments)


def _standing_said(standing: Standing, when: Callable[[datetime], str]) -> str:
    """How a record stands apart from the lifecycle, in a line of its story."""
    said = {
        "outside": f"Not a lead: its {standing.detail} term did not hold when it was created "
        f"({when(standing.at)}), nor since; kept outside the lifecycle",
        "converted": f"Converted to {standing.detail} {when(standing.at)}: left the lifecycle",
        "merged": f"Merged into {standing.detail} {when(standing.at)}: left the lifecycle",
        "erased": f"Erased {when(standing.at)}: left the lifecycle",
    }[standing.kind]
    if standing.erased_at is not None and standing.kind != "erased":
        said += f"; personal fields erased {when(standing.erased_at)}"
    return said


def _absorbed(view: LeadView) -> list[str]:
    """The ids of the records merged into a lead, and into those, in order."""
    found: list[str] = []
    pending = list(reversed(view.merged))
    while pending:
        merged = pending.pop()
        found.append(merged.lead.id)
        pending.extend(reversed(merged.merged))
    return found


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leadsla",
        description="Marketing–sales service level agreements as executable, testable rules.",
    )
    parser.add_argument("--version", action="version", version=f"leadsla {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo", help="replay a sample week on the default agreement", description=_demo.__doc__
    )
    demo.add_argument(
        "--report",
        metavar="FILE",
        help="where to write the week's HTML report (default: %(default)s)",
        default=str(Path(tempfile.gettempdir()) / "leadsla-demo-report.html"),
    )
    demo.set_defaults(handler=_demo)

    init = commands.add_parser(
        "init", help="write the default agreement as a file to edit", description=_init.__doc__
    )
    init.add_argument(
        "path", nargs="?", default="agreement.toml", help="where to write (default: %(default)s)"
    )
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(handler=_init)

    check = commands.add_parser(
        "check", help="validate an agreement file", description=_check.__doc__
    )
    check.add_argument("file", help="the agreement file (TOML)")
    check.set_defaults(handler=_check)

    summary = commands.add_parser(
        "summary", help="print the agreement as a one-pager", description=_summary.__doc__
    )
    summary.add_argument("file", help="the agreement file (TOML)")
    summary.add_argument("--format", choices=("text", "md", "html"), default="text")
    summary.add_argument("-o", "--output", help="write to this file instead of stdout")
    summary.set_defaults(handler=_summary)

    diagram = commands.add_parser(
        "diagram", help="draw the lead lifecycle", description=_diagram.__doc__
    )
    diagram.add_argument("file", help="the agreement file (TOML)")
    diagram.add_argument("--format", choices=("mermaid", "dot"), default="mermaid")
    diagram.add_argument("-o", "--output", help="write to this file instead of stdout")
    diagram.set_defaults(handler=_diagram)

    recipe = commands.add_parser(
        "recipe",
        help="print a mapping for a CRM's export, to copy and adapt",
        description=_recipe.__doc__,
    )
    recipe.add_argument("name", metavar="NAME", nargs="?", help="the recipe (default: list them)")
    recipe.add_argument("-o", "--output", help="write to this file instead of stdout")
    recipe.set_defaults(handler=_recipe)

    replay_command = commands.add_parser(
        "replay",
        help="replay an event log and report on it",
        description=_replay.__doc__,
    )
    _log_arguments(replay_command)
    _until_argument(replay_command)
    replay_command.add_argument(
        "--effects", metavar="OUT", help="write every effect as JSON Lines to OUT (- for stdout)"
    )
    _engine_arguments(replay_command)
    replay_command.set_defaults(handler=_replay)

    due = commands.add_parser(
        "due", help="list the warnings and deadlines coming up", description=_due.__doc__
    )
    _log_arguments(due)
    due.add_argument(
        "--at",
        "--as-of",
        dest="at",
        metavar="TIME",
        help="now, with its offset (default: the last event's time): what was due as of then",
    )
    span = due.add_mutually_exclusive_group()
    span.add_argument("--until", metavar="TIME", help="list up to this time (ISO 8601 with offset)")
    span.add_argument(
        "--within", metavar="DURATION", help="list for this long (default: 1 business day)"
    )
    due.set_defaults(handler=_due)

    lead = commands.add_parser(
        "lead", help="tell one lead's story from the log", description=_lead.__doc__
    )
    _log_arguments(lead)
    lead.add_argument("lead", metavar="LEAD", help="the lead's id")
    lead.add_argument(
        "--at",
        "--as-of",
        dest="at",
        metavar="TIME",
        help="the story as of this time (ISO 8601 with offset): the events up to it",
    )
    lead.set_defaults(handler=_lead)

    run = commands.add_parser(
        "run",
        help="run as a service: read events, keep them, deliver effects",
        description=_run.__doc__,
    )
    run.add_argument(
        "--db",
        required=True,
        metavar="STORE",
        help="the store: a SQLite file, or a PostgreSQL URL (postgresql://...)",
    )
    run.add_argument(
        "--agreement", metavar="FILE", help="the agreement of a new store (default: the default)"
    )
    run.add_argument("--follow", metavar="FILE", help="read the lines appended to FILE")
    run.add_argument(
        "--from-start", action="store_true", help="with --follow, read FILE from its start"
    )
    run.add_argument(
        "--handler",
        action="append",
        dest="handlers",
        metavar="SPEC",
        help="module:function (every effect), or KEY=module:function (an action or effect type)",
    )
    run.add_argument(
        "--tick",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="advance to the wall clock this often (60; 0: never, to load history)",
    )
    run.add_argument(
        "--status",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="write a status line this often (60; 0: only when stopping)",
    )
    run.add_argument(
        "--attempts", type=int, default=5, help="failed deliveries before a dead letter (5)"
    )
    run.add_argument(
        "--backoff",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="wait after a first failed delivery, doubled after each (1)",
    )
    run.add_argument(
        "--max-backoff",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="the longest wait between two deliveries of an effect (3600)",
    )
    run.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        default=30.0,
        help="a handler's time limit (30; a hung one would keep the service from stopping)",
    )
    run.add_argument(
        "--lease",
        type=float,
        metavar="SECONDS",
        default=600.0,
        help="how long a delivery pass holds the effects it claimed from a PostgreSQL store "
        "(600; longer than a pass of up to 1000 effects takes)",
    )
    run.set_defaults(handler=_run)

    adopt = commands.add_parser(
        "adopt", help="add a new version of the agreement to a store", description=_adopt.__doc__
    )
    adopt.add_argument("file", metavar="FILE", help="the new version's agreement file (TOML)")
    adopt.add_argument(
        "--db", required=True, metavar="STORE", help="the store: a SQLite file or PostgreSQL URL"
    )
    adopt.set_defaults(handler=_adopt)

    migrate_command = commands.add_parser(
        "migrate",
        help="move chosen open leads to a newer agreement version",
        description=_migrate.__doc__,
    )
    migrate_command.add_argument("--db", required=True, metavar="STORE", help="the store")
    migrate_command.add_argument("--to", required=True, metavar="NAME", help="the version")
    migrate_command.add_argument(
        "--at", required=True, metavar="TIME", help="from when (ISO 8601 with offset)"
    )
    which = migrate_command.add_mutually_exclusive_group(required=True)
    which.add_argument("--lead", nargs="+", metavar="ID", help="the leads to move")
    which.add_argument("--state", nargs="+", metavar="STATE", help="move the leads in these")
    migrate_command.add_argument(
        "--map", action="append", metavar="OLD=NEW", help="the state a lead in OLD takes"
    )
    migrate_command.set_defaults(handler=_migrate)

    erase = commands.add_parser(
        "erase",
        help="erase a lead's personal data from a store (a GDPR request)",
        description=_erase.__doc__,
    )
    erase.add_argument("lead", metavar="LEAD", help="the lead's id")
    erase.add_argument(
        "--db",
        "--store",
        dest="db",
        required=True,
        metavar="STORE",
        help="the store: a SQLite file, or a PostgreSQL URL (postgresql://...)",
    )
    erase.add_argument("--at", metavar="TIME", help="when (ISO 8601 with offset; default: now)")
    erase.add_argument("--by", metavar="WHO", help="who asked for it (kept on the event)")
    erase.add_argument("--id", metavar="ID", help="the event's id (default: erase:LEAD:TIME)")
    erase.add_argument(
        "--agreement", metavar="FILE", help="the agreement, for a store that does not keep it"
    )
    erase.set_defaults(handler=_erase)

    outbox = commands.add_parser(
        "outbox", help="a store's pending effects and dead letters", description=_outbox.__doc__
    )
    outbox.add_argument(
        "db", metavar="DB", help="the store: a SQLite file, or a PostgreSQL URL (postgresql://...)"
    )
    outbox.add_argument(
        "--agreement", metavar="FILE", help="the agreement, for a store that does not keep it"
    )
    requeue = outbox.add_mutually_exclusive_group()
    requeue.add_argument(
        "--requeue", metavar="ID", nargs="+", help="put these dead letters back in the outbox"
    )
    requeue.add_argument(
        "--requeue-all", action="store_true", help="put every dead letter back in the outbox"
    )
    outbox.add_argument(
        "--prune",
        type=float,
        metavar="DAYS",
        help="forget the effects acknowledged more than DAYS days ago",
    )
    outbox.set_defaults(handler=_outbox)

    report = commands.add_parser(
        "report", help="the review-meeting scorecard of a log", description=_report.__doc__
    )
    _log_arguments(report)
    _until_argument(report)
    report.add_argument("--format", choices=("text", "md", "json", "csv", "html"), default="text")
    report.add_argument("-o", "--output", help="write to this file instead of stdout")
    report.add_argument(
        "--per",
        choices=PERIODS,
        help="count by this period instead of the agreement's tracking period",
    )
    report.add_argument(
        "--from",
        dest="start",
        metavar="DAY",
        help="one card for the days from DAY (YYYY-MM-DD, with --to)",
    )
    report.add_argument(
        "--to", dest="end", metavar="DAY", help="to DAY, included (YYYY-MM-DD, with --from)"
    )
    _engine_arguments(report)
    report.set_defaults(handler=_report)

    diff = commands.add_parser(
        "diff", help="what a new version of an agreement changes", description=_diff.__doc__
    )
    diff.add_argument("old", metavar="OLD", help="the agreement file before (TOML)")
    diff.add_argument("new", metavar="NEW", help="the agreement file after (TOML)")
    diff.add_argument("--format", choices=("text", "md"), default="text")
    diff.add_argument("-o", "--output", help="write to this file instead of stdout")
    diff.add_argument(
        "--exit-code", action="store_true", help="exit with 1 when the agreements differ"
    )
    diff.set_defaults(handler=_diff)

    simulate_command = commands.add_parser(
        "simulate", help="write a synthetic event log", description=_simulate.__doc__
    )
    simulate_command.add_argument(
        "--leads", type=int, default=100, help="how many leads (default: %(default)s)"
    )
    simulate_command.add_argument(
        "--seed", type=int, default=7, help="the random seed (default: %(default)s)"
    )
    simulate_command.add_argument(
        "--start",
        metavar="TIME",
        help="when the first lead arrives (default: Mon 2026-03-02 09:00 local)",
    )
    simulate_command.add_argument(
        "--agreement", metavar="FILE", help="the agreement file (default: the default agreement)"
    )
    simulate_command.add_argument("-o", "--output", help="write to this file instead of stdout")
    simulate_command.set_defaults(handler=_simulate)

    whatif = commands.add_parser(
        "whatif", help="compare two agreements on one log", description=_whatif.__doc__
    )
    _log_arguments(whatif)
    whatif.add_argument(
        "alternative", metavar="ALTERNATIVE", help="the agreement file to compare with (TOML)"
    )
    _until_argument(whatif)
    _engine_arguments(whatif)
    whatif.set_defaults(handler=_whatif)
    return parser


def _engine_arguments(command: argparse.ArgumentParser) -> None:
    group = command.add_argument_group(
        "partitioned replay on Dask (the dask extra: pip install 'leadsla[dask]')"
    )
    group.add_argument(
        "--engine",
        choices=("local", "dask"),
        default="local",
        help="local: this process (the default); dask: the log split by lead and replayed in "
        "partitions on a Dask cluster, with the same results (LOG may then be a glob of "
        "JSON Lines or Parquet files, replayed as one log in name order)",
    )
    group.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="with --engine dask: start a local cluster of N worker processes (default: one "
        "per core)",
    )
    group.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="with --engine dask: use the cluster whose scheduler is at ADDRESS (tcp://host:8786)",
    )
    group.add_argument(
        "--partitions",
        type=int,
        metavar="P",
        help="with --engine dask: how many partitions (default: twice the cluster's threads)",
    )
    group.add_argument(
        "--owners",
        choices=("policy", "given"),
        default="policy",
        help="with --engine dask: given: the log's assign events give every owner, so a team "
        "that deals leads in order (strict round robin, least loaded, capacities) assigns no "
        "one itself (default: policy; such a team is then refused)",
    )
    group.add_argument(
        "--out",
        metavar="FOLDER",
        help="with --engine dask: write each partition's effects and leads' final states "
        "as Parquet under FOLDER (effects/, leads/)",
    )


def _until_argument(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--until",
        metavar="TIME",
        help="replay up to this time (ISO 8601 with offset) and advance to it",
    )


def _is_postgres(db: str) -> bool:
    """Whether ``db`` names a PostgreSQL database: a URL, or a key=value connection string
    ("host=db.internal dbname=crm") that is not a file's name."""
    if db.startswith(("postgresql://", "postgres://")):
        return True
    return re.match(r"\s*(host|hostaddr|port|dbname|user|service)\s*=", db) is not None and (
        not Path(db).exists()
    )


def _open_store(db: str, agreement: Agreement | None) -> Store:
    """The store ``db`` names: a PostgreSQL URL, else a SQLite file."""
    if _is_postgres(db):
        return PostgresStore(db, agreement)
    return SqliteStore(db, agreement)


def _adopt(arguments: argparse.Namespace, out: TextIO) -> int:
    """Add a new version of the agreement to a store: FILE, in force from its effective day
    (under [agreement]). The leads created from then on are judged by it; those created
    before keep the version they were created under. Refused, and nothing changes, when FILE
    does not validate, its version's name is taken, or its effective day is not after the
    newest version's and the store's clock."""
    if not _is_postgres(arguments.db) and not Path(arguments.db).is_file():
        raise UsageError(
            Problem("--db", arguments.db, "is not a file", "give the path of a store's file")
        )
    agreement = _load(arguments.file)
    with _open_store(arguments.db, None) as store:
        versions = store.adopt(agreement)
        names = ", ".join(
            f"{a.version} (from {a.effective.isoformat()})" if a.effective else a.version
            for a in versions
        )
        out.write(f"{store.where}: adopted version {agreement.version}; versions: {names}\n")
    return 0


def _migrate(arguments: argparse.Namespace, out: TextIO) -> int:
    """Move chosen open leads of a store to a newer version of its agreement (--to NAME) from
    --at TIME on: the leads named by --lead, or every open lead in a --state. Each keeps its
    state, or takes the one --map OLD=NEW gives (needed for a state the new lifecycle lacks);
    its running clocks are recomputed by the new version, and what its state starts there is
    opened. Refused, listing every lead that cannot move, and nothing moves."""
    if not _is_postgres(arguments.db) and not Path(arguments.db).is_file():
        raise UsageError(
            Problem("--db", arguments.db, "is not a file", "give the path of a store's file")
        )
    at = _instant(arguments.at, "--at")
    states = {}
    for pair in arguments.map or ():
        old, equals, new = pair.partition("=")
        if not equals or not old or not new:
            raise UsageError(
                Problem("--map", pair, "is not OLD=NEW", "write e.g. --map nurture=handback")
            )
        states[old] = new
    chosen = set(arguments.state or ())
    with _open_store(arguments.db, None) as store:
        select: Callable[[LeadView], bool] | list[str] = (
            list(arguments.lead) if arguments.lead else (lambda view: view.state in chosen)
        )
        effects = migrate(store, select, to=arguments.to, at=at, states=states)
        moved = [effect for effect in effects if isinstance(effect, Migrated)]
        out.write(f"{store.where}: moved {plural(len(moved), 'lead')} to version {arguments.to}\n")
        zone = ZoneInfo(store.agreement.timezone)
        for effect in effects:
            _line(out, effect, zone)
    return 0


def _erase(arguments: argparse.Namespace, out: TextIO) -> int:
    """Erase a person's data from a store (a GDPR request): an erase event for LEAD, kept like
    any other, which erases the values of the agreement's personal fields from the lead and
    from everything the store keeps of it (its events, its effects, its snapshots; the freed
    space too), and closes the lead: its open clocks are cancelled, and it takes no more
    events. Its states, clocks and the tallies stay. --at: when (default: now, or the store's
    clock when that is later)."""
    if not _is_postgres(arguments.db) and not Path(arguments.db).is_file():
        raise UsageError(
            Problem("--db", arguments.db, "is not a file", "give the path of a store's file")
        )
    agreement = _load(arguments.agreement) if arguments.agreement else None
    with _open_store(arguments.db, agreement) as store:
        try:
            store.lead(arguments.lead)
        except KeyError:
            raise UsageError(
                Problem(
                    "LEAD",
                    arguments.lead,
                    f"is not a lead of {store.where}",
                    "give the id as the store's events write it (leadsla outbox lists a "
                    "store's pending effects, with their leads)",
                )
            ) from None
        clocks = [engine.clock for engine in store.engines() if engine.clock is not None]
        at = _instant(arguments.at, "--at") if arguments.at else max([datetime.now(UTC), *clocks])
        event_id = arguments.id or f"erase:{arguments.lead}:{at.isoformat()}"
        event = LeadErased(id=event_id, lead=arguments.lead, at=at, by=arguments.by)
        effects = store.apply(event)
        zone = ZoneInfo(store.agreement.timezone)
        refused = next(
            (e for e in effects if isinstance(e, Rejected) and e.event == event_id), None
        )
        if refused is not None:  # (its details are the problems it names)
            raise UsageError(*refused.details)
        [erased] = [e for e in effects if isinstance(e, Erased) and e.lead == arguments.lead]
        fields = ", ".join(erased.fields) or "none held a value"
        out.write(
            f"{store.where}: erased lead {arguments.lead} (personal fields: {fields}); "
            "its events, effects and snapshots no longer hold their values\n"
        )
        for effect in effects:
            _line(out, effect, zone)
    return 0


def _outbox(arguments: argparse.Namespace, out: TextIO) -> int:
    """Show a store's outbox: how many effects wait for delivery, and the dead letters (the
    effects whose delivery failed too often), with their last error. --requeue ID (or
    --requeue-all) puts dead letters back in the outbox, their attempts forgotten."""
    if not _is_postgres(arguments.db) and not Path(arguments.db).is_file():
        raise UsageError(
            Problem(
                "DB",
                arguments.db,
                "is not a file",
                "give the path of a store's file, or a PostgreSQL URL (postgresql://...)",
            )
        )
    agreement = _load(arguments.agreement) if arguments.agreement else None
    with _open_store(arguments.db, agreement) as store:
        arguments.db = store.where  # (without a password)
        if arguments.requeue or arguments.requeue_all:
            count = store.requeue(None if arguments.requeue_all else arguments.requeue)
            out.write(f"{arguments.db}: requeued {plural(count, 'dead letter')}\n")
        if arguments.prune is not None:
            if arguments.prune < 0:
                raise UsageError(
                    Problem(
                        "--prune", arguments.prune, "is not a number of days >= 0", "give e.g. 30"
                    )
                )
            before = datetime.now(UTC) - timedelta(days=arguments.prune)
            count = store.prune(before)
            out.write(
                f"{arguments.db}: forgot {plural(count, 'effect')} acknowledged more than "
                f"{arguments.prune:g} days ago\n"
            )
        pending, dead = store.pending(), store.dead_letters()
        line = f"{arguments.db}: {plural(len(pending), 'effect')} pending"
        if pending:
            line += f" (oldest: {pending[0].type} of {pending[0].lead}, outbox #{pending[0].seq})"
        out.write(line + f", {plural(len(dead), 'dead letter')}\n")
        for item in dead:
            out.write(
                f"  #{item.seq} {item.id} {item.type} of {item.lead}, "
                f"{plural(item.attempts, 'attempt')}: {item.error}\n"
            )
    return 0


def _run(arguments: argparse.Namespace, out: TextIO) -> int:
    """Run leadsla as a service beside a CRM: read events (JSON Lines) from stdin, or from a
    file that grows (--follow), keep them in the store DB, deliver the effects to the handlers
    (--handler module:function, or KEY=module:function for an action or effect type), and
    every --tick seconds advance to the wall clock so that deadlines fire when nothing
    arrives. A status line goes to stderr every --status seconds, refused lines as
    NAME:LINE: reason, and failed deliveries. SIGINT or SIGTERM stops it once the lines read
    are applied and the current handler call has ended; at the end of stdin it delivers what
    is pending, then stops."""
    for option, value, zero in (
        ("--tick", arguments.tick, True),
        ("--status", arguments.status, True),
        ("--timeout", arguments.timeout, False),
        ("--backoff", arguments.backoff, False),
        ("--max-backoff", arguments.max_backoff, False),
        ("--lease", arguments.lease, False),
    ):
        if value is not None and (value < 0 or (value == 0 and not zero)):
            raise UsageError(
                Problem(
                    option,
                    value,
                    "is not a number of seconds >= 0" if zero else "is not a number of seconds > 0",
                    "give e.g. 60" + (" (0: never)" if zero else ""),
                )
            )
    if arguments.follow and not Path(arguments.follow).is_file():
        raise UsageError(
            Problem("--follow", arguments.follow, "is not a file", "give the file the feed grows")
        )
    if arguments.from_start and not arguments.follow:
        raise UsageError(
            Problem("--from-start", True, "needs --follow", "give --follow FILE, or leave it out")
        )
    default, keyed = handlers_from(arguments.handlers or [])
    agreement = _load(arguments.agreement) if arguments.agreement else None
    timeout = None if arguments.timeout is None else timedelta(seconds=arguments.timeout)
    with stop_signals() as stop, _open_store(arguments.db, agreement) as store:
        dispatcher = Dispatcher(
            store,
            actions={k: h for k, h in keyed.items() if k in ACTIONS},
            effects={k: h for k, h in keyed.items() if k not in ACTIONS},
            default=default,
            attempts=arguments.attempts,
            backoff=timedelta(seconds=arguments.backoff),
            max_backoff=timedelta(seconds=arguments.max_backoff),
            timeout=timeout,
            lease=timedelta(seconds=arguments.lease),
        )
        mark = None
        if arguments.follow:
            handle = open(arguments.follow, "rb")  # noqa: SIM115 - open for the loop's life
            mark = f"follow:{Path(arguments.follow).resolve()}"
            offset, line = _resume(store.mark(mark), handle, arguments.from_start, arguments.follow)
            source = LineSource(
                handle.fileno(),
                follow=True,
                offset=offset,
                number=line,
                path=arguments.follow,
                err=sys.stderr,
            )
            name = arguments.follow
            print(f"leadsla run: reading {name} from line {line + 1}", file=sys.stderr)
        else:
            handle = None
            source, name = LineSource(sys.stdin.fileno(), follow=False), "stdin"
            print("leadsla run: reading stdin", file=sys.stderr)
        try:
            return serve(
                store,
                source,
                dispatcher,
                name=name,
                tick=arguments.tick,
                status=arguments.status,
                err=sys.stderr,
                mark=mark,
                stop=stop,
            )
        finally:
            source.close()
            if handle is not None:
                handle.close()


def _resume(saved: str | None, handle: BinaryIO, from_start: bool, path: str) -> tuple[int, int]:
    """Where to start reading a followed file, and the number of the line before: after the
    last line the store kept from it (a restart loses nothing and repeats nothing), else its
    end (line numbers then count from there), or its start when asked."""
    size = handle.seek(0, os.SEEK_END)
    if saved is not None and not from_start:
        offset, _, line = saved.partition(":")
        if int(offset) <= size:
            return handle.seek(int(offset)), int(line or 0)
        print(
            f"leadsla: {path} is shorter than when last read (rotated?): read from its start",
            file=sys.stderr,
        )
        return handle.seek(0), 0
    return (handle.seek(0), 0) if from_start else (size, 0)


def _log_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "log",
        metavar="LOG",
        nargs="?",
        help="the event log (JSON Lines, one event per line; or CSV with --mapping)",
    )
    command.add_argument(
        "--mapping",
        metavar="MAPPING[=FILE]",
        action="append",
        help="read LOG as CSV, its rows made into events by this mapping (TOML, or "
        "recipe:NAME for a recipe leadsla ships); or, with =FILE, read FILE (CSV, .gz or "
        ".zip) by it: give it once per file, and the files' events are merged by time into "
        "one log",
    )
    command.add_argument(
        "--strict",
        action="store_true",
        help="stop at the first row the mapping refuses (default: skip it, and report it)",
    )
    command.add_argument(
        "--refusals",
        metavar="FILE",
        help="write what the mapping refused as JSON (by reason, with counts and first rows)",
    )
    command.add_argument(
        "--agreement",
        metavar="FILE",
        action="append",
        help="the agreement file (default: the default agreement); give it again for each "
        "later version, oldest first: each lead is judged by the version in force when it "
        "was created",
    )
    command.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; returns the exit code."""
    arguments = _parser().parse_args(argv)
    stream = out if out is not None else sys.stdout
    try:
        code: int = arguments.handler(arguments, stream)
        stream.flush()
    except LeadSLAError as error:
        print(f"leadsla: {_message(error)}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (``leadsla demo | head``): stop quietly, as Unix tools do.
        if stream is sys.stdout:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 1
    return code
