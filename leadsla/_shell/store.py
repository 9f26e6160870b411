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

import sqlite3
import warnings
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal, NoReturn

from leadsla._core.agreement import Agreement
from leadsla._core.effects import Effect, Rejected
from leadsla._core.engine import Decision, Engine
from leadsla._core.errors import Problem, StoreError
from leadsla._core.events import Event
from leadsla._core.views import LeadView
from leadsla._shell.erasure import Scrubbed, erased_in, needle
from leadsla._shell.keeping import (
    SCHEMA,
    SNAPSHOT_FIX,
    OutboxItem,
    Store,
    arrival,
    check_keepable,
    check_positive,
    gc_paused,
    is_event,
    note_refusals,
    only_duplicate,
    outbox_rows,
    same_parts,
    utc_now,
)
from leadsla._shell.snapshot import dump as dump_snapshot

__all__ = ["OutboxItem", "SqliteStore", "StoreError"]

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


class SqliteStore(Store):
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
        check_positive("snapshot_every", snapshot_every, SNAPSHOT_FIX)
        self._snapshot_every = snapshot_every
        self._since = 0  # inputs kept since the newest snapshot
        self.path = Path(path)
        self._now = now if now is not None else utc_now
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
            self.versions = self._versions(stored, agreement)
            self._settings = self._feed(stored, allowed_lateness, horizon)
            self._upgrade(stored)
            self._stamp = self._stamp_of()  # fixed for the store's life: worked out once
            self.engine = Engine(self.versions, **self._settings)
            self._refused: dict[str, Rejected] = {}
            self._replay()
            if "vacuum" in stored:  # an erasure's freed space not yet forgotten (a crash)
                self._vacuum()
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

    @property
    def where(self) -> str:
        """The store's file."""
        return str(self.path)

    _errors = (sqlite3.Error,)

    def _rows(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._connection.execute(sql, parameters).fetchall()
        except sqlite3.Error as error:
            raise self._unreadable(error) from None

    def _change(self, sql: str, rows: list[tuple[Any, ...]]) -> int:
        with self._connection:
            self._connection.execute("begin")
            return int(self._connection.executemany(sql, rows).rowcount)

    def _put_meta(self, items: list[tuple[str, str]]) -> None:
        with self._connection:
            self._connection.execute("begin")
            self._connection.executemany(
                "insert or replace into meta (key, value) values (?, ?)", items
            )

    def _upgrade(self, stored: dict[str, str]) -> None:
        """Mark a file of layout 1 as layout 2 (its outbox and snapshots tables were added),
        once it was found to be this store's (the agreement and settings checked)."""
        if stored.get("schema", str(SCHEMA)) != str(SCHEMA):
            with self._connection:
                self._connection.execute("begin")
                self._connection.execute(
                    "update meta set value = ? where key = 'schema'", (str(SCHEMA),)
                )

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

    def _restore(self) -> int:
        """Load the newest snapshot into the engine; the last input it holds (0: none)."""
        row = self._connection.execute(
            "select input, stamp, checksum, body from snapshots order by input desc limit 1"
        ).fetchone()
        if row is None or self._stamp is None:
            return 0
        last, *snapshot = row
        what = f"the snapshot of input #{last}"
        restored = self._trusted(tuple(snapshot), what, "every input is replayed instead")
        if restored is None:
            return 0
        self.engine, self._refused = restored
        return int(last)

    def engines(self) -> list[Engine]:
        """The store's one engine, in a list (as a partitioned store gives its engines)."""
        return [self.engine]

    def _newest(self) -> datetime | None:
        return self.engine.clock

    def _adopted(self) -> None:
        """The engine under the new versions: its state as it is when the commitments are
        the same (no lead was created under the new version yet), else every input replayed;
        then a snapshot, under the new versions."""
        if same_parts(self.engine.versions, self.versions):
            self.engine = Engine.restored(self.engine.state(), self.versions, **self._settings)
        else:
            self.engine = Engine(self.versions, **self._settings)
            self._refused = {}
            rows = self._connection.execute("select kind, body from inputs order by seq")
            self._since = 0
            self._fill(self.engine, self._counted(rows), note=True)
        try:
            self.snapshot()
        except StoreError as error:  # the version is kept: the next opening replays
            warnings.warn(str(error), stacklevel=3)

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
        when = arrival(moment, "moment")
        rows = self._connection.execute(
            "select kind, body from inputs where received is null or received <= ? order by seq",
            (when,),
        )
        engine = Engine(self.versions, **self._settings)
        self._fill(engine, rows, note=False)
        return engine

    def _fill(self, engine: Engine, rows: Iterable[tuple[str, str]], *, note: bool) -> None:
        apply, advance = engine.apply, engine.advance
        with gc_paused():
            for kind, body in rows:
                if kind == "event":
                    effects = apply(Event.from_json(body))
                    if note:
                        self._note(effects)
                else:
                    advance(datetime.fromisoformat(body))

    # -- inputs -----------------------------------------------------------------------------

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
            if is_event(event):
                check_keepable(event)
        engine = self.engine
        effects: list[Effect] = []
        kept = 0
        written = False  # whether the batch is in the file
        changed = False  # whether the engine committed part of the batch already
        erasing: dict[str, None] = {}  # the leads the batch erases
        scrubbed: list[Scrubbed] = []
        try:
            self._connection.execute("begin")
            pending: Decision | None = None
            for event in batch:
                if pending is not None:
                    effects.extend(engine.commit(pending))
                    changed = True
                pending = engine.decide(event)
                if is_event(event) and not only_duplicate(pending):
                    cursor = self._connection.execute(
                        "insert into inputs (kind, body, received) values ('event', ?, ?)",
                        (self._erasing().body(engine, event), self._received()),
                    )
                    self._post(cursor.lastrowid, pending.effects)
                    kept += 1
                    erasing.update(dict.fromkeys(erased_in(pending.effects)))
            if erasing:
                scrubbed = [self._erase_kept(lead) for lead in erasing]
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
        if scrubbed:
            self._erased(scrubbed)
        self._kept(kept)
        return effects

    # -- erasure ----------------------------------------------------------------------------

    def _erase_kept(self, lead: str) -> Scrubbed:
        """Scrub what the file keeps of an erased lead (in the input's transaction): its
        events, its effects; and drop the snapshots (see :mod:`leadsla._shell.erasure`)."""
        connection = self._connection
        rows = connection.execute(
            "select seq, body from inputs where kind = 'event' and instr(body, ?) > 0",
            (needle(lead),),
        ).fetchall()
        scrubber, changed = self._erasing().events(lead, rows)
        connection.executemany("update inputs set body = ? where seq = ?", changed)
        rows = connection.execute(
            "select seq, body, error from outbox where lead = ?", (lead,)
        ).fetchall()
        connection.executemany(
            "update outbox set body = ?, error = ? where seq = ?",
            self._erasing().outbox(rows, scrubber),
        )
        connection.execute("delete from snapshots")
        connection.execute("insert or replace into meta (key, value) values ('vacuum', 'erased')")
        return Scrubbed(lead, scrubber)

    def _erased(self, scrubbed: list[Scrubbed]) -> None:
        """After an erasure is kept: the refusals the store holds scrubbed, a new snapshot
        (the engine holds nothing of the erased values), and the file's freed space
        forgotten."""
        for item in scrubbed:
            self._erasing().refusals(self._refused, item.lead, item.scrubber)
        if self._snapshot_every is not None:
            try:
                self.snapshot()
            except StoreError as error:  # the store opens by replaying its inputs meanwhile
                warnings.warn(str(error), stacklevel=3)
        self._vacuum()

    def _vacuum(self) -> None:
        """Have SQLite forget the space rows left (their old bytes), in the file and in its
        write-ahead log, if it keeps one."""
        try:
            self._connection.execute("vacuum")
            self._connection.execute("delete from meta where key = 'vacuum'")
            self._connection.execute("pragma wal_checkpoint(truncate)")
        except sqlite3.Error as error:  # tried again when the store is next opened
            warnings.warn(
                f"{self.where}: could not vacuum after an erasure ({error}): the freed space "
                "may still hold erased values until the store is next opened",
                stacklevel=3,
            )

    def _post(self, input_seq: int | None, effects: list[Effect]) -> None:
        """Put an input's effects in the outbox (in the input's transaction)."""
        rows = outbox_rows(input_seq, effects)
        if rows:
            self._connection.executemany(
                "insert into outbox (input, id, type, lead, body) values (?, ?, ?, ?, ?)", rows
            )

    # -- the outbox -------------------------------------------------------------------------

    def _note(self, effects: list[Effect]) -> list[Effect]:
        note_refusals(self._refused, effects)
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
            self.engine = Engine(self.versions, **self._settings)
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

    def leads(self) -> Iterator[str]:
        """The ids of the leads the store holds, in the order they were created."""
        return self.engine.leads()

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
