"""A restart-safe engine: every input kept in SQLite, the state rebuilt by replaying them.

The engine is deterministic: the same agreement and the same inputs give the same effects.
So :class:`SqliteStore` keeps the inputs (the events, and the times the host advanced to) in a
SQLite file, each one committed before ``apply`` or ``advance`` returns, and rebuilds the
engine on opening by replaying them. The inputs are the truth: a crash at any moment loses at
most the input being applied (its effects were not returned to the host either). To open
fast, the store also writes snapshots of the engine (on close, and every ``snapshot_every``
inputs) and opens from the newest one it can trust, replaying only the inputs after it; a
snapshot that fails a check is ignored, with a warning, for a full replay (see
:mod:`leadsla._shell.snapshot`).

The store is also an **outbox**: every effect an input caused is written in the same
transaction as the input, and stays pending until the host acknowledges it
(:meth:`SqliteStore.pending`, :meth:`SqliteStore.ack`). A host that crashes between "decided"
and "done" finds the effect still pending when it reopens the store, and delivers it then: at
least once, and exactly once in effect when the receiver drops an effect id it has seen.

What is kept: every event the engine accepted or refused (a refused event still moved the
clock, a replay must refuse it again, and a late event may yet make it good), and every
advance; :meth:`SqliteStore.refused` lists the refusals that stand. A duplicate changes nothing and
is not kept. The agreement is kept too, as its TOML text, so the store reopens with the same
rules; opening it with another agreement is refused, since the stored inputs would replay to
other effects than the ones the host saw.
"""

from __future__ import annotations

import gc
import json
import sqlite3
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Final, Literal, NoReturn, Self

from attrs import frozen

from leadsla._core.agreement import Agreement
from leadsla._core.calendar import span_us
from leadsla._core.effects import Duplicate, Effect, Rejected, Retracted, effect_to_dict, kind_of
from leadsla._core.engine import DEFAULT_HORIZON, DEFAULT_LATENESS, Decision, Engine
from leadsla._core.errors import AgreementError, NaiveDatetimeError, Problem, StoreError
from leadsla._core.events import Event
from leadsla._core.history import EngineState
from leadsla._core.views import LeadView
from leadsla._shell.agreement_write import agreement_to_toml
from leadsla._shell.snapshot import SnapshotError
from leadsla._shell.snapshot import dump as dump_snapshot
from leadsla._shell.snapshot import load as load_snapshot
from leadsla._shell.snapshot import stamp as snapshot_stamp

__all__ = ["OutboxItem", "SqliteStore", "StoreError"]

#: The file's layout: 2 added the outbox (a file of 1 is upgraded when opened).
_SCHEMA: Final = 2
_READS: Final = frozenset({"1", "2"})
_CREATE: Final = """
create table if not exists meta (key text primary key, value text not null);
create table if not exists inputs (
    seq integer primary key autoincrement,
    kind text not null check (kind in ('event', 'advance')),
    body text not null,
    received text
);
create table if not exists outbox (
    seq integer primary key autoincrement,
    input integer not null references inputs (seq),
    id text not null,
    type text not null,
    lead text not null,
    body text not null,
    acked text,
    attempts integer not null default 0,
    retry_at text,
    error text,
    dead text
);
create index if not exists outbox_pending on outbox (seq) where acked is null;
create index if not exists outbox_id on outbox (id);
create table if not exists snapshots (
    input integer primary key,
    stamp text not null,
    checksum text not null,
    body blob not null,
    made text
);
"""


@frozen
class OutboxItem:
    """An effect in the store's outbox: its place in the outbox (``seq``, in the order the
    effects were decided), its deterministic ``id`` (the idempotency key to hand on), its
    type as :func:`~leadsla.effect_to_dict` names it (``"action_requested"``), its lead, and
    the effect as that function gives it (``data``). ``attempts`` and ``error`` say how many
    deliveries failed so far and why the last one did; ``retry_at`` (UTC) is when the next may
    be tried (None: at once)."""

    seq: int
    id: str
    type: str
    lead: str
    data: Mapping[str, Any]
    attempts: int = 0
    error: str | None = None
    retry_at: datetime | None = None


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _arrival(moment: datetime, field: str = "now") -> str:
    """An instant as the file keeps arrivals: UTC, fixed width, so text order is time order.
    ``field`` names where it came from (the store's ``now`` clock, unless said)."""
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise NaiveDatetimeError.for_field(field, moment)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _micros(span: timedelta | None) -> str:
    """A setting as the file keeps it: whole microseconds, or "none"."""
    if span is None:
        return "none"
    if not isinstance(span, timedelta):
        raise StoreError(
            Problem("setting", span, "is not a span of time", "give a timedelta, or None")
        )
    return str(span_us(span))


def _span(text: str) -> timedelta | None:
    return None if text == "none" else timedelta(microseconds=int(text))


def _setting(text: str) -> str:
    span = _span(text)
    return "none" if span is None else str(span)


#: What the file keeps instead of the agreement's text when only Python can hold it.
_HELD_BY_HOST: Final = ""


def _text(agreement: Agreement) -> str:
    try:
        return agreement_to_toml(agreement, comments=False)
    except AgreementError:
        return _HELD_BY_HOST  # a custom policy: the host passes the agreement on every open


def _kept_name(text: str) -> str | None:
    """The name of the agreement a file keeps as text (None if it cannot be read)."""
    try:
        return Agreement.from_toml_text(text).name
    except AgreementError:
        return None


def _is_event(value: object) -> bool:
    return isinstance(value, Event)


def _only_duplicate(decision: Decision) -> bool:
    """A duplicate changes nothing and is not kept."""
    return len(decision.effects) == 1 and isinstance(decision.effects[0], Duplicate)


def _check_keepable(event: Event) -> None:
    """An event is kept in its JSON form, as UTF-8. Field values must be JSON values to read
    back as they were, and every text must be encodable (a lone surrogate, valid in JSON and
    in a Python str, is not)."""
    fields: Mapping[str, object] = getattr(event, "fields", {})
    for name, value in fields.items():
        if json.loads(json.dumps(value, default=str)) != value:
            raise StoreError(
                Problem(
                    f"fields.{name}",
                    value,
                    "is not a JSON value, so the store cannot keep it exactly",
                    "send text (a date as 2026-03-02), a number, a boolean, a list or an object",
                )
            )
    try:
        event.to_json().encode("utf-8")
    except UnicodeEncodeError as error:
        raise StoreError(
            Problem(
                "event",
                error.object[max(0, error.start - 20) : error.end + 20],
                "holds text that is not valid Unicode (a lone surrogate), which the store "
                "cannot write",
                "fix the text at its source (a surrogate pair split in two, usually)",
            )
        ) from None


class SqliteStore:
    """An :class:`~leadsla.Engine` whose inputs live in a SQLite file (see the module's doc).

    >>> import tempfile
    >>> from datetime import datetime
    >>> from pathlib import Path
    >>> from zoneinfo import ZoneInfo
    >>> from leadsla import LeadCreated
    >>> path = Path(tempfile.mkdtemp()) / "leads.db"
    >>> at = datetime(2026, 3, 6, 16, tzinfo=ZoneInfo("Europe/Helsinki"))
    >>> with SqliteStore(path) as store:
    ...     _ = store.apply(LeadCreated(id="e1", lead="L-1", at=at,
    ...                                 fields={"email": "ann@acme.fi", "score": 62}))
    >>> with SqliteStore(path) as reopened:  # a new process would do the same
    ...     reopened.engine.lead("L-1").state, len(reopened)
    ('mql', 1)
    """

    def __init__(
        self,
        path: str | Path,
        agreement: Agreement | None = None,
        *,
        allowed_lateness: timedelta | Literal["kept"] = "kept",
        horizon: timedelta | Literal["kept"] | None = "kept",
        now: Callable[[], datetime] | None = None,
        snapshot_every: int | None = 100_000,
    ) -> None:
        """``allowed_lateness`` and ``horizon`` are the engine's (see :class:`~leadsla.Engine`);
        the file keeps them, since its inputs replay to the same effects only under the same
        settings. ``"kept"``: as the file has them (a new file: the engine's defaults; a file
        written before they existed: strict order and no horizon, as it was run). ``now`` is
        the wall clock the store dates each input's arrival by (default: the system's).
        ``snapshot_every``: write a snapshot of the engine after so many inputs (and on
        ``close``), so that opening replays only the inputs after it; None: never."""
        if snapshot_every is not None and (type(snapshot_every) is not int or snapshot_every < 1):
            raise StoreError(
                Problem(
                    "snapshot_every",
                    snapshot_every,
                    "is not a positive whole number",
                    "give e.g. 100_000, or None for no snapshots",
                )
            )
        self._snapshot_every = snapshot_every
        self._since = 0  # inputs kept since the newest snapshot
        self.path = Path(path)
        self._now = now if now is not None else _utc_now
        try:
            self._connection = sqlite3.connect(self.path, isolation_level=None, timeout=0.5)
        except sqlite3.Error as error:
            raise self._unopenable(error) from None
        try:
            # One writer at a time: a second store on the same file would write inputs the
            # first one never applied. The exclusive lock is held until close().
            self._connection.execute("pragma locking_mode = exclusive")
            self._connection.execute("begin exclusive")
            self._connection.execute("commit")
            self._connection.executescript(_CREATE)
            columns = {row[1] for row in self._connection.execute("pragma table_info(inputs)")}
            if "received" not in columns:  # a file from before arrivals were kept
                self._connection.execute("alter table inputs add column received text")
        except sqlite3.Error as error:
            self._connection.close()
            if isinstance(error, sqlite3.OperationalError) and "locked" in str(error):
                raise StoreError(
                    Problem(
                        "path",
                        str(self.path),
                        "is open in another store (in this process or another, such as a "
                        "`leadsla run` on it)",
                        "close the other one first (stop the service): a store has one writer",
                    )
                ) from None
            raise self._unopenable(error) from None
        try:
            stored = self._meta()
            self.agreement = self._agreement(stored, agreement)
            self._settings = self._feed(stored, allowed_lateness, horizon)
            self._upgrade(stored)
            self._stamp = self._stamp_of()  # fixed for the store's life: worked out once
            self.engine = Engine(self.agreement, **self._settings)
            self._refused: dict[str, Rejected] = {}
            self._replay()
        except BaseException:
            self._connection.close()
            raise

    # -- opening --------------------------------------------------------------------------

    def _unopenable(self, error: sqlite3.Error) -> StoreError:
        return StoreError(
            Problem(
                "path",
                str(self.path),
                f"cannot be opened as a leadsla store ({error})",
                "give the path of a store, or of a new file in a folder you may write to",
            )
        )

    def _meta(self) -> dict[str, str]:
        rows = self._connection.execute("select key, value from meta").fetchall()
        meta = {str(key): str(value) for key, value in rows}
        schema = meta.get("schema")
        if schema is not None and schema not in _READS:
            raise StoreError(
                Problem(
                    "schema",
                    schema,
                    f"is not a store version this leadsla reads ({', '.join(sorted(_READS))})",
                    "open it with the leadsla that wrote it",
                )
            )
        return meta

    def _upgrade(self, stored: dict[str, str]) -> None:
        """Mark a file of layout 1 as layout 2 (its outbox and snapshots tables were added),
        once it was found to be this store's (the agreement and settings checked)."""
        if stored.get("schema", str(_SCHEMA)) != str(_SCHEMA):
            with self._connection:
                self._connection.execute("begin")
                self._connection.execute(
                    "update meta set value = ? where key = 'schema'", (str(_SCHEMA),)
                )

    def _agreement(self, stored: dict[str, str], given: Agreement | None) -> Agreement:
        text = stored.get("agreement")
        if text is None:
            agreement = given if given is not None else Agreement.default()
            with self._connection:
                self._connection.execute("begin")
                self._connection.executemany(
                    "insert into meta (key, value) values (?, ?)",
                    [("schema", str(_SCHEMA)), ("agreement", _text(agreement))],
                )
            return agreement
        if text == _HELD_BY_HOST:
            if given is None:
                raise StoreError(
                    Problem(
                        "agreement",
                        None,
                        f"is needed to open {self.path}: its agreement has parts only Python "
                        "holds (a custom policy), so the file does not keep it",
                        "pass the same agreement as when the store was made",
                    )
                )
            return given
        if given is not None and _text(given) != text:
            kept_name = _kept_name(text)
            differs = (
                " (it has the same name, other terms)" if kept_name == given.name else
                f" ({kept_name!r})" if kept_name else ""
            )  # fmt: skip
            raise StoreError(
                Problem(
                    "agreement",
                    given.name,
                    f"is not the agreement {self.path} was made with{differs}",
                    "open the store without an agreement to use its own, or replay its "
                    "events into a new store under the new agreement",
                )
            )
        return given if given is not None else Agreement.from_toml_text(text)

    def _feed(
        self,
        stored: dict[str, str],
        lateness: timedelta | Literal["kept"],
        horizon: timedelta | Literal["kept"] | None,
    ) -> dict[str, Any]:
        """The engine's feed settings: as given, checked against what the file keeps."""
        new = "allowed_lateness" not in stored
        if new and "agreement" in stored:
            kept = {"allowed_lateness": "0", "horizon": "none"}  # written before they existed
        elif new:
            kept = {
                "allowed_lateness": _micros(DEFAULT_LATENESS),
                "horizon": _micros(DEFAULT_HORIZON),
            }
        else:
            kept = {key: stored[key] for key in ("allowed_lateness", "horizon")}
        given = {
            "allowed_lateness": kept["allowed_lateness"]
            if lateness == "kept"
            else _micros(lateness),
            "horizon": kept["horizon"] if horizon == "kept" else _micros(horizon),
        }
        for key, value in given.items():
            if not new and value != kept[key]:
                raise StoreError(
                    Problem(
                        key,
                        _setting(value),
                        f"is not the {key} {self.path} was made with ({_setting(kept[key])})",
                        "open it without the setting to use its own, or replay its events "
                        "into a new store with the new one",
                    )
                )
        if new:
            with self._connection:
                self._connection.execute("begin")
                self._connection.executemany(
                    "insert or replace into meta (key, value) values (?, ?)", list(given.items())
                )
        return {key: _span(value) for key, value in given.items()}

    def _replay(self) -> None:
        """Rebuild the engine: from the newest snapshot and the inputs after it, or (none, or
        one that cannot be trusted) from every input."""
        after = self._restore()
        rows = self._connection.execute(
            "select kind, body from inputs where seq > ? order by seq", (after,)
        )
        self._since = 0
        self._fill(self.engine, self._counted(rows), note=True)

    def _counted(self, rows: Iterable[tuple[str, str]]) -> Iterator[tuple[str, str]]:
        for row in rows:
            self._since += 1
            yield row

    def _stamp_of(self) -> str | None:
        """What this store's snapshots are made under (None: no snapshots, for an agreement
        only Python holds, which the file cannot check)."""
        text = _text(self.agreement)
        if text == _HELD_BY_HOST:
            return None
        return snapshot_stamp(f"{text}\x1f{sorted(self._settings.items())!r}")

    def _restore(self) -> int:
        """Load the newest snapshot into the engine; the last input it holds (0: none)."""
        stamp = self._stamp
        row = self._connection.execute(
            "select input, stamp, checksum, body from snapshots order by input desc limit 1"
        ).fetchone()
        if row is None or stamp is None:
            return 0
        last, made_under, checksum, body = row
        try:
            if made_under != stamp:
                raise SnapshotError("it was made by another leadsla, agreement or settings")
            state, refused = load_snapshot(body, checksum)
            if not isinstance(state, EngineState) or not isinstance(refused, dict):
                raise SnapshotError("it does not hold an engine's state")
            engine = Engine.restored(state, self.agreement, **self._settings)
        except Exception as error:  # whatever is wrong with it, it is not trusted
            warnings.warn(
                f"{self.path}: the snapshot of input #{last} is ignored ({error}); "
                "every input is replayed instead",
                stacklevel=4,
            )
            return 0
        self.engine, self._refused = engine, refused
        return int(last)

    def snapshot(self) -> bool:
        """Write a snapshot of the engine now (the store does after ``snapshot_every`` inputs
        and on close); whether one was written."""
        stamp = self._stamp
        if stamp is None:
            return False
        last = self._connection.execute("select max(seq) from inputs").fetchone()[0]
        if last is None:
            return False
        try:
            body, checksum = dump_snapshot((self.engine.state(), self._refused))
        except Exception as error:  # a value pickle cannot take (a tzinfo of a file, say)
            raise self._trouble(
                f"could not write a snapshot ({type(error).__name__}: {error})",
                "nothing is lost: the store opens by replaying its inputs meanwhile",
            ) from None
        try:
            with self._connection:
                self._connection.execute("begin")
                self._connection.execute("delete from snapshots")
                self._connection.execute(
                    "insert into snapshots (input, stamp, checksum, body, made) "
                    "values (?, ?, ?, ?, ?)",
                    (last, stamp, checksum, body, self._received()),
                )
        except sqlite3.Error as error:
            raise self._trouble(
                f"could not keep the snapshot ({error}); the inputs are all kept",
                "check the disk; the store opens by replaying its inputs meanwhile",
            ) from None
        self._since = 0
        return True

    def _kept(self, count: int) -> None:
        """``count`` more inputs are kept: a snapshot when enough have been."""
        self._since += count
        every = self._snapshot_every
        if every is not None and self._since >= every:
            try:
                self.snapshot()
            except StoreError as error:  # the input is kept: say so, and go on
                self._since = 0  # (tried again after as many inputs, not on every one)
                warnings.warn(str(error), stacklevel=3)

    def as_known_at(self, moment: datetime) -> Engine:
        """A new engine holding what this store knew at wall-clock time ``moment``: the
        inputs that had arrived by then, replayed. Ask it what was believed then, e.g.
        ``store.as_known_at(T).lead(id, as_of=event_time)``: an audit of a disputed breach.
        (Inputs kept before arrivals were dated count as known from the start.)"""
        when = _arrival(moment, "moment")
        rows = self._connection.execute(
            "select kind, body from inputs where received is null or received <= ? order by seq",
            (when,),
        )
        engine = Engine(self.agreement, **self._settings)
        self._fill(engine, rows, note=False)
        return engine

    def _fill(self, engine: Engine, rows: Iterable[tuple[str, str]], *, note: bool) -> None:
        apply, advance = engine.apply, engine.advance
        paused = gc.isenabled()
        if paused:
            gc.disable()  # as leadsla.replay does: the records are freed by reference counting
        try:
            for kind, body in rows:
                if kind == "event":
                    effects = apply(Event.from_json(body))
                    if note:
                        self._note(effects)
                else:
                    advance(datetime.fromisoformat(body))
        finally:
            if paused:
                gc.enable()

    # -- inputs -----------------------------------------------------------------------------

    def apply(self, event: Event, *, mark: tuple[str, str] | None = None) -> list[Effect]:
        """Apply ``event`` and keep it (see :meth:`Engine.apply <leadsla.Engine.apply>`);
        ``mark`` as for :meth:`apply_many`."""
        return self.apply_many([event], mark=mark)

    def apply_many(
        self, events: Iterable[Event], *, mark: tuple[str, str] | None = None
    ) -> list[Effect]:
        """Apply ``events`` in order and keep them in one transaction (much faster than one
        commit per event).

        All of them are read and checked first: an iterable that fails, or an event the store
        cannot keep, applies none of them. The engine and the file commit together: if
        writing fails, :class:`~leadsla.StoreError` says why, nothing of the batch is kept,
        and the engine is as the file holds it (for one event, it was never changed).

        ``mark``: a ``(name, value)`` the file keeps in the same transaction (read back with
        :meth:`mark`): where a reader of a feed has got to, say, so that a restart resumes
        exactly after the last event kept.
        """
        batch = list(events)
        for event in batch:
            if _is_event(event):
                _check_keepable(event)
        engine = self.engine
        effects: list[Effect] = []
        kept = 0
        written = False  # whether the batch is in the file
        changed = False  # whether the engine committed part of the batch already
        try:
            self._connection.execute("begin")
            pending: Decision | None = None
            for event in batch:
                if pending is not None:
                    effects.extend(engine.commit(pending))
                    changed = True
                pending = engine.decide(event)
                if _is_event(event) and not _only_duplicate(pending):
                    cursor = self._connection.execute(
                        "insert into inputs (kind, body, received) values ('event', ?, ?)",
                        (event.to_json(), self._received()),
                    )
                    self._post(cursor.lastrowid, pending.effects)
                    kept += 1
            if mark is not None:
                self._connection.execute(
                    "insert or replace into meta (key, value) values (?, ?)",
                    (f"mark:{mark[0]}", str(mark[1])),
                )
            self._connection.execute("commit")
            written = True
        except BaseException as error:  # Ctrl-C too: the engine must not keep half a batch
            if not written:
                self._failed(error, rebuild=changed)
            if pending is not None:  # the file has it all: so must the engine, then go on
                engine.commit(pending)
            raise
        if pending is not None:
            effects.extend(engine.commit(pending))
        self._note(effects)
        self._kept(kept)
        return effects

    def mark(self, name: str) -> str | None:
        """The value last kept under ``name`` with :meth:`apply_many`'s ``mark`` (None: none)."""
        row = self._connection.execute(
            "select value from meta where key = ?", (f"mark:{name}",)
        ).fetchone()
        return None if row is None else str(row[0])

    def _post(self, input_seq: int | None, effects: list[Effect]) -> None:
        """Put an input's effects in the outbox (in the input's transaction)."""
        rows = [
            (input_seq, e.id, kind_of(e), e.lead, json.dumps(effect_to_dict(e), ensure_ascii=False))
            for e in effects
            if type(e) is not Duplicate
        ]
        if rows:
            self._connection.executemany(
                "insert into outbox (input, id, type, lead, body) values (?, ?, ?, ?, ?)", rows
            )

    # -- the outbox -------------------------------------------------------------------------

    def pending(self, limit: int | None = None) -> list[OutboxItem]:
        """The effects not acknowledged yet, in the order they were decided (the first
        ``limit`` of them)."""
        if limit is not None and (type(limit) is not int or limit < 1):
            raise StoreError(
                Problem("limit", limit, "is not a positive whole number", "give e.g. 100, or None")
            )
        return self._items("acked is null and dead is null", limit)

    def outbox_counts(self) -> tuple[int, int]:
        """How many effects are pending, and how many are dead letters (without reading
        them)."""
        pending, dead = self._connection.execute(
            "select coalesce(sum(dead is null), 0), coalesce(sum(dead is not null), 0) "
            "from outbox where acked is null"
        ).fetchone()
        return int(pending), int(dead)

    def prune(self, acked_before: datetime) -> int:
        """Forget the effects acknowledged before ``acked_before`` (wall-clock time), so that
        the file does not grow with every effect ever delivered; how many. Replays do not need
        them; only acknowledging one of them again would now be refused as unknown, so prune
        what was acknowledged long ago (days, not seconds)."""
        when = _arrival(acked_before, "acked_before")
        return self._write("delete from outbox where acked is not null and acked < ?", (when,))

    def dead_letters(self) -> list[OutboxItem]:
        """The effects whose delivery failed too often (see :class:`~leadsla.Dispatcher`):
        kept, not delivered again until :meth:`requeue` d."""
        return self._items("acked is null and dead is not null", None)

    def _items(self, where: str, limit: int | None) -> list[OutboxItem]:
        rows = self._connection.execute(
            "select seq, id, type, lead, body, attempts, error, retry_at from outbox "
            f"where {where} order by seq" + ("" if limit is None else f" limit {limit}")
        )
        return [
            OutboxItem(
                seq,
                effect_id,
                kind,
                lead,
                MappingProxyType(json.loads(body)),
                attempts,
                error,
                None if retry is None else datetime.fromisoformat(retry),
            )
            for seq, effect_id, kind, lead, body, attempts, error, retry in rows
        ]

    def failed(self, seq: int, error: str, retry_at: datetime | None) -> None:
        """Record a failed delivery of outbox item ``seq``: one attempt more, and why; it may
        be tried again from ``retry_at``, or (None) it becomes a dead letter."""
        dead = self._received() if retry_at is None else None
        self._write(
            "update outbox set attempts = attempts + 1, error = ?, retry_at = ?, dead = ? "
            "where seq = ? and acked is null",
            (error, None if retry_at is None else _arrival(retry_at, "retry_at"), dead, seq),
        )

    def requeue(self, ids: Iterable[str] | None = None) -> int:
        """Put dead letters back in the outbox, their attempts forgotten (``ids``; None: every
        one); how many."""
        wanted = None if ids is None else list(dict.fromkeys(ids))
        sql = "update outbox set dead = null, attempts = 0, retry_at = null, error = null "
        if wanted is None:
            return self._write(sql + "where dead is not null and acked is null", ())
        self._known(
            wanted,
            "dead is not null and acked is null",
            ("is not a dead letter", "are not dead letters"),
            "requeue ids of dead letters (`leadsla outbox DB` lists them); nothing was requeued",
        )
        return self._write_many(
            sql + "where id = ? and dead is not null and acked is null", [(i,) for i in wanted]
        )

    def _trouble(self, message: str, fix: str) -> StoreError:
        """The store's error about its own file."""
        return StoreError(Problem("store", str(self.path), message, fix))

    def _known(self, ids: list[str], where: str, said: tuple[str, str], fix: str) -> None:
        """Refuse ``ids`` unless the outbox holds each of them where ``where`` holds."""
        unknown = [
            i
            for i in ids
            if self._connection.execute(
                f"select 1 from outbox where id = ? and {where}", (i,)
            ).fetchone()
            is None
        ]
        if unknown:
            raise StoreError(
                Problem(
                    "ids",
                    unknown[0] if len(unknown) == 1 else unknown,
                    said[0] if len(unknown) == 1 else said[1],
                    fix,
                )
            )

    def _write(self, sql: str, parameters: tuple[Any, ...]) -> int:
        return self._write_many(sql, [parameters])

    def _write_many(self, sql: str, rows: list[tuple[Any, ...]]) -> int:
        """Run an update of the outbox in its own transaction; how many rows it changed."""
        try:
            with self._connection:
                self._connection.execute("begin")
                return int(self._connection.executemany(sql, rows).rowcount)
        except sqlite3.Error as error:
            raise self._trouble(
                f"could not keep the change to the outbox ({error}); nothing changed",
                "check the disk and the file's permissions, then try again",
            ) from None

    def ack(self, ids: Iterable[str]) -> int:
        """Acknowledge delivered effects by id: they leave :meth:`pending`, and how many did
        is returned. An id acknowledged before is fine (a delivery retried after a crash); an
        id the outbox never held is refused, and then nothing is acknowledged."""
        wanted = list(dict.fromkeys(ids))
        odd = [i for i in wanted if type(i) is not str]
        if odd:
            raise StoreError(
                Problem("ids", odd[0], "is not an effect id", "pass item.id of pending() items")
            )
        self._known(
            wanted,
            "1 = 1",
            ("is not in the outbox", "are not in the outbox"),
            "acknowledge the ids of the items pending() gave; nothing was acknowledged",
        )
        when = self._received()
        return self._write_many(
            "update outbox set acked = ? where id = ? and acked is null",
            [(when, i) for i in wanted],
        )

    def _received(self) -> str:
        """The wall-clock time of an input's arrival, as the file keeps it."""
        return _arrival(self._now())

    def _note(self, effects: list[Effect]) -> list[Effect]:
        """Keep track of the refusals that stand (a late event may make one good)."""
        for effect in effects:
            if type(effect) is Rejected and effect.event is not None:
                self._refused[effect.id] = effect
            elif type(effect) is Retracted:
                self._refused.pop(effect.retracts, None)
        return effects

    def refused(self) -> list[Rejected]:
        """The events the store keeps that were refused and still are, in the order they
        were refused: each ``Rejected`` names the event and says why."""
        return list(self._refused.values())

    def advance(self, now: datetime) -> list[Effect]:
        """Fire the timers due by ``now`` and keep the advance (both, or neither)."""
        decision = self.engine.decide_advance(now)
        try:
            with self._connection:
                self._connection.execute("begin")
                cursor = self._connection.execute(
                    "insert into inputs (kind, body, received) values ('advance', ?, ?)",
                    (now.isoformat(), self._received()),
                )
                self._post(cursor.lastrowid, decision.effects)
        except Exception as error:
            self._failed(error, rebuild=False)
        effects = self.engine.commit(decision)
        self._kept(1)
        return effects

    def _failed(self, error: BaseException, *, rebuild: bool) -> NoReturn:
        """A write failed: undo it, put the engine back to what the file holds, and say so."""
        if self._connection.in_transaction:
            self._connection.execute("rollback")
        if rebuild:
            self.engine = Engine(self.agreement, **self._settings)
            self._refused = {}
            self._replay()
        if not isinstance(error, sqlite3.Error):  # not the file's doing: the error as it is
            raise error
        raise self._trouble(
            f"could not keep the input ({error}); it was not applied",
            "check the disk and the file's permissions, then send it again",
        ) from None

    # -- queries ------------------------------------------------------------------------------

    def lead(self, lead_id: str) -> LeadView:
        """The engine's view of ``lead_id`` (``KeyError`` for an unknown lead)."""
        return self.engine.lead(lead_id)

    def __len__(self) -> int:
        """How many leads the store holds."""
        return len(self.engine)

    @property
    def inputs(self) -> int:
        """How many inputs (events and advances) the store keeps."""
        return int(self._connection.execute("select count(*) from inputs").fetchone()[0])

    # -- closing ------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the file (writing a snapshot if inputs came since the last one); the
        store's inputs are already on disk."""
        try:
            if self._snapshot_every is not None and self._since:
                self.snapshot()
        except StoreError as error:  # the inputs are kept: the next open replays them
            warnings.warn(str(error), stacklevel=2)
        finally:
            self._connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
