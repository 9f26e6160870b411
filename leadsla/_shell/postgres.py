"""A store in PostgreSQL that several processes, on several hosts, write and deliver from.

Needs the ``postgres`` extra (``pip install 'leadsla[postgres]'``: psycopg 3).

Theory of operation. A lead's state depends only on its own events, the times the engine is
advanced to, and the agreement (when every assignment policy is partition-safe). So the
store splits the leads into ``partitions`` by a stable hash of the lead id, and keeps one
engine per partition: each partition has its own numbered run of inputs (``inputs.pseq``),
its own clock and its own snapshots. A writer locks the rows of the partitions it writes to
(``parts``, ``select … for update``), first applies to its engines any inputs other writers
added to them since it last looked, then decides, writes the inputs and their effects, and
commits. Writers of leads in different partitions therefore proceed at the same time; writers
of one lead (one partition) wait for each other, and every writer applies a partition's
inputs in the one order they were kept, so every process holds the same state. An advance
goes to every partition (and is kept once in each).

The outbox is shared. A dispatcher :meth:`claims <PostgresStore.claim>` pending effects for a
lease: claims are made one dispatcher at a time, with ``for update skip locked`` on the rows,
and skip any lead whose earlier effect another dispatcher holds, so that two dispatchers never
hand over the same effect at once and a lead's effects still go out in order. A dispatcher
that dies lets its lease run out, and another takes the effects over: at least once, as
always.

What differs from one SQLite file, by design: the clock that ``allowed_lateness`` and the
horizon are measured from is the partition's (every advance, and the events of its leads),
and an event id is recognised as a duplicate among the events of its partition (ids are
unique per lead in any feed that matters). With ``partitions=1`` the store behaves as SQLite.
"""

from __future__ import annotations

import json
import re
import uuid
import warnings
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Literal, NoReturn

import attrs

from leadsla._core.agreement import Agreement
from leadsla._core.effects import Effect, Rejected
from leadsla._core.engine import Decision, Engine
from leadsla._core.errors import Problem, StoreError
from leadsla._core.events import Event
from leadsla._core.history import Ledger
from leadsla._core.versions import Versions
from leadsla._core.views import LeadView, merge_order
from leadsla._shell.erasure import Scrubbed, erased_in, needle
from leadsla._shell.keeping import (
    SNAPSHOT_FIX,
    OutboxItem,
    Store,
    arrival,
    check_keepable,
    check_positive,
    gc_paused,
    is_event,
    item_of,
    note_refusals,
    only_duplicate,
    outbox_rows,
    same_parts,
    utc_now,
)
from leadsla._shell.snapshot import dump as dump_snapshot

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresStore", "partition_of"]

_CREATE: Final = """
create table if not exists meta (key text primary key, value text not null);
create table if not exists parts (part integer primary key, pseq bigint not null);
create table if not exists inputs (
    seq bigserial primary key,
    part integer not null,
    pseq bigint not null,
    kind text not null check (kind in ('event', 'advance')),
    body text not null,
    received text,
    unique (part, pseq)
);
create table if not exists outbox (
    seq bigserial primary key,
    input bigint not null references inputs (seq),
    id text not null,
    type text not null,
    lead text not null,
    body text not null,
    acked text,
    attempts integer not null default 0,
    retry_at text,
    error text,
    dead text,
    claimed_until text,
    claimed_by text
);
create index if not exists outbox_pending on outbox (seq) where acked is null;
create index if not exists outbox_id on outbox (id);
create index if not exists outbox_lead on outbox (lead, seq) where acked is null;
create table if not exists snapshots (
    part integer primary key,
    pseq bigint not null,
    stamp text not null,
    checksum text not null,
    body bytea not null,
    made text
);
"""

#: How the outbox keeps times (text that sorts as time), in PostgreSQL's to_char.
_STAMP: Final = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'
_SCHEMA_NAME: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")
#: The advisory lock that makes creating a store's tables, and claiming, one at a time.
_SETUP, _CLAIM = 0x1EAD5_1A, 0x1EAD5_1B


def partition_of(lead: str, partitions: int) -> int:
    """The partition of ``lead`` among ``partitions``: a stable hash (CRC-32 of the id's
    UTF-8), the same in every process and on every host."""
    return zlib.crc32(lead.encode("utf-8", "surrogatepass")) % partitions


def _joined(view: LeadView, ledgers: list[Ledger], seen: frozenset[str]) -> LeadView:
    """``view`` with the records merged into it, and into those, from every partition's
    ledger (a record met twice is shown once)."""
    seen = seen | {view.lead.id}
    merged = [
        _joined(other, ledgers, seen)
        for ledger in ledgers
        for other in ledger.merged_views(view.lead.id)
        if other.lead.id not in seen
    ]
    return attrs.evolve(view, merged=tuple(sorted(merged, key=merge_order)))


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise StoreError(
            Problem(
                "PostgresStore",
                None,
                "needs psycopg 3, which is not installed",
                "pip install 'leadsla[postgres]'",
            )
        ) from None
    return psycopg


def _said(error: Exception) -> str:
    """A database error in one line: the server's own message, without its context."""
    primary = getattr(getattr(error, "diag", None), "message_primary", None)
    if primary:
        return str(primary)
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _shown(conninfo: str) -> str:
    """The connection string as messages show it: without its password."""
    try:
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        parts = {k: v for k, v in conninfo_to_dict(conninfo).items() if k != "password"}
        return make_conninfo(**{k: str(v) for k, v in parts.items()})
    except Exception:  # not a connection string psycopg reads: say so without echoing it
        return "(the connection string given)"


class PostgresStore(Store):
    """An engine whose inputs and outbox live in PostgreSQL, shared by several writers and
    dispatchers (see the module's doc). ``conninfo`` is a libpq connection string or URL
    (``"host=db.internal dbname=crm user=leadsla"``, ``"postgresql://…"``); ``schema`` the
    schema its tables go in (one store per schema; created if missing). ``partitions``: how
    many parts the leads are split into, fixed when the store is made (default 16); more
    than one needs an agreement whose assignment policies are all partition-safe. The other
    settings are :class:`~leadsla.SqliteStore`'s.
    """

    def __init__(
        self,
        conninfo: str,
        agreement: Agreement | None = None,
        *,
        schema: str = "leadsla",
        partitions: int | Literal["kept"] = "kept",
        allowed_lateness: timedelta | Literal["kept"] = "kept",
        horizon: timedelta | Literal["kept"] | None = "kept",
        now: Callable[[], datetime] | None = None,
        snapshot_every: int | None = 100_000,
    ) -> None:
        pg = _psycopg()
        if (
            not isinstance(schema, str)
            or not _SCHEMA_NAME.fullmatch(schema)
            or schema.startswith("pg_")
        ):
            raise StoreError(
                Problem(
                    "schema",
                    schema,
                    "is not a plain schema name",
                    "use lower-case letters, digits and _, not starting with pg_ "
                    "(e.g. leadsla_crm)",
                )
            )
        check_positive("snapshot_every", snapshot_every, SNAPSHOT_FIX)
        check_positive("partitions", None if partitions == "kept" else partitions, "give e.g. 16")
        self._errors = (pg.Error,)
        self._snapshot_every = snapshot_every
        self._now = now if now is not None else utc_now
        self.schema = schema
        self.conninfo = conninfo
        self._shown = _shown(conninfo)
        try:
            self._connection: psycopg.Connection[Any] = pg.connect(conninfo, autocommit=True)
        except pg.Error as error:
            raise StoreError(
                Problem(
                    "conninfo",
                    self._shown,
                    f"cannot be connected to ({_said(error)})",
                    "check that the server runs and the host, port, dbname, user and "
                    "password (or ~/.pgpass)",
                )
            ) from None
        try:
            # The design needs READ COMMITTED (a writer that waited for a lock reads what the
            # other one committed), whatever the database's or role's default.
            self._connection.isolation_level = pg.IsolationLevel.READ_COMMITTED
            # Opening is one process at a time: two processes making a new store at once
            # must not both find it empty and each keep its own agreement.
            self._connection.execute("select pg_advisory_lock(%s)", (_SETUP,))
            try:
                self._create()
                stored = self._meta()
                self.versions = self._versions(stored, agreement)
                self._later = stored.get("versions", "[]")  # as kept: to notice an adoption
                self._settings = self._feed(stored, allowed_lateness, horizon)
                self.partitions = self._partitions(stored, partitions)
            finally:
                self._connection.execute("select pg_advisory_unlock(%s)", (_SETUP,))
            self._stamp = self._stamp_of()
            count = self.partitions
            self._engines: list[Engine | None] = [None] * count
            self._pseq = [0] * count  # the last input of each partition its engine holds
            self._since = [0] * count  # inputs kept since the partition's last snapshot
            self._refused: list[dict[str, tuple[int, Rejected]]] = [{} for _ in range(count)]
            self._token = uuid.uuid4().hex  # this store's name on the outbox items it claims
        except BaseException:
            self._connection.close()
            raise

    # -- the database --------------------------------------------------------------------------

    @property
    def where(self) -> str:
        """The database (its connection string, without a password) and the schema."""
        return f"{self._shown} (schema {self.schema})"

    def _rows(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            rows: list[tuple[Any, ...]] = self._connection.execute(
                sql.replace("?", "%s"), parameters
            ).fetchall()
        except self._errors as error:
            raise self._unreadable(error) from None
        return rows

    def _change(self, sql: str, rows: list[tuple[Any, ...]]) -> int:
        with self._connection.transaction(), self._connection.cursor() as cursor:
            changed = 0
            for row in rows:
                cursor.execute(sql.replace("?", "%s"), row)
                changed += max(cursor.rowcount, 0)
            return changed

    def _put_meta(self, items: list[tuple[str, str]]) -> None:
        with self._connection.transaction(), self._connection.cursor() as cursor:
            cursor.executemany(
                "insert into meta (key, value) values (%s, %s) "
                "on conflict (key) do update set value = excluded.value",
                items,
            )

    def _create(self) -> None:
        """The schema and tables (made once, by whichever process comes first; a store whose
        tables exist needs no right to create anything)."""
        from psycopg.sql import SQL, Identifier

        try:
            made = self._connection.execute(
                "select to_regclass(format('%%I.snapshots', %s::text))", (self.schema,)
            ).fetchone()
            name = Identifier(self.schema)
            if made is None or made[0] is None:
                with self._connection.transaction():
                    self._connection.execute(SQL("create schema if not exists {}").format(name))
                    self._connection.execute(SQL("set local search_path to {}").format(name))
                    self._connection.execute(_CREATE)
            self._connection.execute(SQL("set search_path to {}").format(name))
        except self._errors as error:
            raise self._trouble(
                f"cannot hold a leadsla store ({_said(error)})",
                "connect once as a user who may create the schema and its tables (or make "
                "them as such a user); after that, USAGE on the schema and SELECT, INSERT, "
                "UPDATE, DELETE on its tables and USAGE on its sequences are enough",
            ) from None

    def _partitions(self, stored: dict[str, str], given: int | Literal["kept"]) -> int:
        kept = stored.get("partitions")
        if kept is None:  # a new store (opening holds the lock: nobody else makes it now)
            kept = str(16 if given == "kept" else given)
            self._check_partitionable(int(kept))
            with self._connection.transaction():
                self._connection.execute(
                    "insert into meta (key, value) values ('partitions', %s)", (kept,)
                )
                self._connection.execute(
                    "insert into parts (part, pseq) select p, 0 from generate_series(0, %s) p",
                    (int(kept) - 1,),
                )
        if given != "kept" and int(kept) != given:
            raise StoreError(
                Problem(
                    "partitions",
                    given,
                    f"is not the number of partitions {self.where} was made with ({kept})",
                    "open it without the setting to use its own",
                )
            )
        count = int(kept)
        self._check_partitionable(count)
        return count

    def _check_partitionable(self, count: int, versions: Versions | None = None) -> None:
        unsafe = [
            (name, why)
            for version in versions or self.versions
            for name, why in version.workflow.order_dependent.items()
        ]
        if count > 1 and unsafe:
            name, why = unsafe[0]
            raise StoreError(
                Problem(
                    "partitions",
                    count,
                    f"needs partition-safe assignment, but team {name!r} {why}",
                    "give the team a partition-safe policy (round robin by hash, rules, a "
                    "fixed owner) and no capacities, or make the store with partitions=1",
                )
            )

    # -- the engines ---------------------------------------------------------------------------

    def _engine(self, part: int) -> Engine:
        """Partition ``part``'s engine, with every input kept for it so far."""
        engine = self._engines[part]
        if engine is None:
            engine = self._load(part)
        return self._catch_up(part, engine)

    def _load(self, part: int) -> Engine:
        """A partition's engine from its snapshot (if one can be trusted), else empty."""
        self._follow_versions()
        engine = Engine(self.versions, **self._settings)
        self._pseq[part], self._since[part], self._refused[part] = 0, 0, {}
        rows = self._rows(
            "select pseq, stamp, checksum, body from snapshots where part = ?", (part,)
        )
        if rows and self._stamp is not None:
            last, *snapshot = rows[0]
            what = f"the snapshot of partition {part}"
            restored = self._trusted(tuple(snapshot), what, "its inputs are replayed instead")
            if restored is not None:
                engine, self._refused[part] = restored
                self._pseq[part] = int(last)
        self._engines[part] = engine
        return engine

    def _catch_up(self, part: int, engine: Engine) -> Engine:
        """Apply the inputs other writers kept for ``part`` since this store last looked (under
        the versions another process may have adopted meanwhile); the engine."""
        rows = self._rows(
            "select seq, pseq, kind, body from inputs where part = ? and pseq > ? order by pseq",
            (part, self._pseq[part]),
        )
        if not rows:
            return engine
        if self._follow_versions():  # the engines were made again: start over
            return self._engine(part)
        refused = self._refused[part]
        with gc_paused():
            for seq, pseq, kind, body in rows:
                if kind == "event":
                    note_refusals(refused, engine.apply(Event.from_json(body)), int(seq))
                else:
                    engine.advance(datetime.fromisoformat(body))
                self._pseq[part] = int(pseq)
                self._since[part] += 1
        return engine

    def _lock(self, parts: Iterable[int]) -> dict[int, Engine]:
        """Lock ``parts`` (in order, so writers never deadlock) for this transaction; their
        engines, caught up (only those another writer wrote to since are read)."""
        wanted = sorted(set(parts))
        rows = self._connection.execute(
            "select part, pseq from parts where part = any(%s) order by part for update",
            (wanted,),
        ).fetchall()
        self._follow_versions()
        engines = {}
        for part, last in rows:
            engine = self._engines[part]
            engines[part] = (
                engine if engine is not None and self._pseq[part] == last else self._engine(part)
            )
        return engines

    def _not_kept(self, error: BaseException, parts: Iterable[int]) -> NoReturn:
        """A write failed (or was interrupted): the engines of ``parts`` are read again when
        next used, and the error is raised (the database's, as the store's trouble)."""
        self._drop(parts)
        if isinstance(error, self._errors):
            raise self._trouble(
                f"could not keep the input ({_said(error)}); it was not applied",
                "check the server and the user's rights, then send it again",
            ) from None
        raise error

    def _drop(self, parts: Iterable[int]) -> None:
        """Forget the engines of ``parts`` (a write failed): they are read again when next
        used, so they hold what the database holds."""
        for part in parts:
            self._engines[part] = None

    # -- inputs --------------------------------------------------------------------------------

    def apply_many(
        self, events: Iterable[Event], *, mark: tuple[str, str] | None = None
    ) -> list[Effect]:
        """Apply ``events`` in order and keep them in one transaction, as
        :meth:`SqliteStore.apply_many <leadsla.SqliteStore.apply_many>` does. Only the
        partitions of the batch's leads are locked meanwhile."""
        batch = list(events)
        for event in batch:
            if is_event(event):
                check_keepable(event)
        count = self.partitions
        parts = [partition_of(e.lead, count) if is_event(e) else 0 for e in batch]
        effects: list[Effect] = []
        try:
            with self._connection.transaction(), self._connection.cursor() as cursor:
                engines = self._lock(parts or [0])
                pseq = {part: self._pseq[part] for part in engines}
                kept: list[tuple[int, int, str, list[Effect]]] = []  # part, pseq, body, effects
                for event, part in zip(batch, parts, strict=True):
                    # Each decision is made so at once (the next builds on it); if the
                    # transaction fails, the engines are read again from the database.
                    engine = engines[part]
                    decision = engine.decide(event)
                    made = engine.commit(decision)
                    effects.extend(made)
                    if is_event(event) and not only_duplicate(decision):
                        pseq[part] += 1
                        body = self._erasing().body(engine, event)
                        kept.append((part, pseq[part], body, made))
                self._keep_events(cursor, kept)
                scrubbed = [
                    self._erase_kept(cursor, part, lead)
                    for part, _, _, made in kept
                    for lead in erased_in(made)
                ]
                cursor.execute(
                    "update parts set pseq = v.pseq from unnest(%s::integer[], %s::bigint[]) "
                    "as v (part, pseq) where parts.part = v.part",
                    (list(pseq), list(pseq.values())),
                )
                if mark is not None:
                    cursor.execute(
                        "insert into meta (key, value) values (%s, %s) "
                        "on conflict (key) do update set value = excluded.value",
                        (f"mark:{mark[0]}", str(mark[1])),
                    )
        except BaseException as error:  # Ctrl-C too: the engines must hold what the db holds
            self._not_kept(error, set(parts or [0]))
        counts = {part: last - self._pseq[part] for part, last in pseq.items()}
        for part, last in pseq.items():
            self._pseq[part] = last
        if scrubbed:
            self._erased(scrubbed)
        for part, count in counts.items():  # (after every number is right)
            self._kept(part, count)
        return effects

    # -- erasure -------------------------------------------------------------------------------

    def _erase_kept(self, cursor: Any, part: int, lead: str) -> Scrubbed:
        """Scrub what the database keeps of an erased lead (in the input's transaction): its
        events, its effects; and drop its partition's snapshot (see
        :mod:`leadsla._shell.erasure`)."""
        cursor.execute(
            "select seq, body from inputs where part = %s and kind = 'event' "
            "and strpos(body, %s) > 0",
            (part, needle(lead)),
        )
        scrubber, changed = self._erasing().events(lead, cursor.fetchall())
        if changed:
            cursor.executemany("update inputs set body = %s where seq = %s", changed)
        cursor.execute("select seq, body, error from outbox where lead = %s", (lead,))
        effects = self._erasing().outbox(cursor.fetchall(), scrubber)
        if effects:
            cursor.executemany("update outbox set body = %s, error = %s where seq = %s", effects)
        cursor.execute("delete from snapshots where part = %s", (part,))
        return Scrubbed(lead, scrubber, part)

    def _erased(self, scrubbed: list[Scrubbed]) -> None:
        """After an erasure is kept: the refusals scrubbed, a new snapshot of each partition
        concerned, and VACUUM on the tables, so that the server may reuse the space the old
        rows held (their bytes stay in the server's files and write-ahead log until it does:
        see the docs' page on erasure)."""
        for lead, scrubber, part in scrubbed:
            self._erasing().refusals(self._refused[part], lead, scrubber)
        for part in dict.fromkeys(item.part for item in scrubbed):
            if self._snapshot_every is not None:
                try:
                    self._snapshot(part)
                except StoreError as error:  # the partition replays its inputs meanwhile
                    warnings.warn(str(error), stacklevel=3)
        try:
            for table in ("inputs", "outbox", "snapshots"):
                self._connection.execute(f"vacuum {table}")  # (not in a transaction)
        except self._errors as error:  # (a user who does not own the tables may not)
            warnings.warn(
                f"{self.where}: could not vacuum after an erasure ({_said(error)}); "
                "autovacuum will reclaim the old rows' space",
                stacklevel=3,
            )

    def _keep_events(self, cursor: Any, kept: list[tuple[int, int, str, list[Effect]]]) -> None:
        """Write a batch's events and their effects (in two statements), and note its
        refusals."""
        if not kept:
            return
        received = self._received()
        cursor.executemany(
            "insert into inputs (part, pseq, kind, body, received) "
            "values (%s, %s, 'event', %s, %s) returning seq",
            [(part, pseq, body, received) for part, pseq, body, _ in kept],
            returning=True,
        )
        seqs = []
        while True:
            seqs.append(int(cursor.fetchone()[0]))
            if not cursor.nextset():
                break
        rows = []
        for seq, (part, _, _, made) in zip(seqs, kept, strict=True):
            rows += outbox_rows(seq, made)
            note_refusals(self._refused[part], made, seq)
        if rows:
            cursor.executemany(
                "insert into outbox (input, id, type, lead, body) values (%s, %s, %s, %s, %s)",
                rows,
            )

    def _commit(
        self, part: int, engine: Engine, decision: Decision, seq: int | None
    ) -> list[Effect]:
        effects = engine.commit(decision)
        note_refusals(self._refused[part], effects, seq)
        return effects

    def _keep(self, cursor: Any, part: int, pseq: int, kind: str, body: str) -> int:
        cursor.execute(
            "insert into inputs (part, pseq, kind, body, received) "
            "values (%s, %s, %s, %s, %s) returning seq",
            (part, pseq, kind, body, self._received()),
        )
        return int(cursor.fetchone()[0])

    def _post(self, cursor: Any, seq: int, effects: list[Effect]) -> None:
        rows = outbox_rows(seq, effects)
        if rows:
            cursor.executemany(
                "insert into outbox (input, id, type, lead, body) values (%s, %s, %s, %s, %s)",
                rows,
            )

    def advance(self, now: datetime) -> list[Effect]:
        """Fire the timers due by ``now`` in every partition and keep the advance (in all of
        them, or in none); the effects, partition by partition (in order for each lead)."""
        arrival(now, "now")
        every = range(self.partitions)
        decided: list[tuple[int, Engine, Decision, int | None]] = []
        try:
            with self._connection.transaction(), self._connection.cursor() as cursor:
                engines = self._lock(every)
                for part, engine in engines.items():
                    decision = engine.decide_advance(now)
                    seq = self._keep(cursor, part, self._pseq[part] + 1, "advance", now.isoformat())
                    self._post(cursor, seq, decision.effects)
                    decided.append((part, engine, decision, seq))
                cursor.execute(
                    "update parts set pseq = pseq + 1 where part = any(%s)", (list(engines),)
                )
        except BaseException as error:
            self._not_kept(error, every)
        effects: list[Effect] = []
        for item in decided:
            effects.extend(self._commit(*item))
            self._pseq[item[0]] += 1
        for part in every:  # (after every number is right: a snapshot may be written)
            self._kept(part, 1)
        return effects

    # -- snapshots -----------------------------------------------------------------------------

    def _kept(self, part: int, count: int) -> None:
        self._since[part] += count
        every = self._snapshot_every
        if every is not None and self._since[part] >= every:
            try:
                self._snapshot(part)
            except StoreError as error:  # the inputs are kept: say so, and go on
                self._since[part] = 0
                warnings.warn(str(error), stacklevel=3)

    def adopt(self, agreement: Agreement) -> Versions:
        """Add a new version of the agreement (as :meth:`Store.adopt <leadsla.Store.adopt>`
        says), for every process sharing the store: it is kept while every partition is
        locked, after their inputs are all applied here (the store's clock is the newest of
        them), and every writer takes it before its next input."""
        every = range(self.partitions)
        try:
            with self._connection.transaction():
                self._lock(every)
                versions, text = self._adoptable(agreement)
                self._check_partitionable(self.partitions, versions)
                later = json.loads(self._later)
                kept = json.dumps([*later, text])
                self._connection.execute(
                    "insert into meta (key, value) values ('versions', %s) "
                    "on conflict (key) do update set value = excluded.value",
                    (kept,),
                )
                # Every snapshot was made under the versions before: none would be trusted.
                self._connection.execute("delete from snapshots")
        except self._errors as error:
            self._not_kept(error, every)
        self._later = kept
        self._take(versions)
        for part in every:
            try:
                self._snapshot(part)
            except StoreError as problem:  # the version is kept: the partition replays
                warnings.warn(str(problem), stacklevel=2)
        return versions

    def _follow_versions(self) -> bool:
        """Take the versions another process adopted since this one last looked (called with
        partitions locked: an adoption holds them all, so it is committed, or not begun)."""
        rows = self._connection.execute("select value from meta where key = 'versions'").fetchall()
        later = str(rows[0][0]) if rows else "[]"
        if later == self._later:
            return False
        self._later = later
        self._take(self._versions(self._meta(), None))
        return True

    def _newest(self) -> datetime | None:
        clocks = [engine.clock for engine in self._engines if engine and engine.clock]
        return max(clocks) if clocks else None

    def _adopted(self) -> None:
        """Every engine held under the new versions: from its state when the commitments
        are the same, else read again when next used."""
        for part, engine in enumerate(self._engines):
            if engine is None:
                continue
            self._engines[part] = (
                Engine.restored(engine.state(), self.versions, **self._settings)
                if same_parts(engine.versions, self.versions)
                else None
            )
            if self._engines[part] is None:
                self._pseq[part], self._refused[part] = 0, {}

    def snapshot(self) -> bool:
        """Write a snapshot of every partition this store holds with inputs since its last
        one (the store does after ``snapshot_every`` inputs of a partition, and on close);
        whether one was written."""
        written = False
        for part, engine in enumerate(self._engines):
            if engine is not None and self._since[part]:
                written = self._snapshot(part) or written
        return written

    def _snapshot(self, part: int) -> bool:
        self._follow_versions()  # never a snapshot under versions another process replaced
        engine, stamp, last = self._engines[part], self._stamp, self._pseq[part]
        if engine is None or stamp is None or last == 0:
            return False
        try:
            body, checksum = dump_snapshot((engine.state(), self._refused[part]))
        except Exception as error:  # a value pickle cannot take (a tzinfo of a file, say)
            raise self._trouble(
                f"could not write a snapshot ({type(error).__name__}: {error})",
                "nothing is lost: the store opens by replaying its inputs meanwhile",
            ) from None
        try:
            self._connection.execute(
                "insert into snapshots (part, pseq, stamp, checksum, body, made) "
                "values (%s, %s, %s, %s, %s, %s) on conflict (part) do update set "
                "pseq = excluded.pseq, stamp = excluded.stamp, checksum = excluded.checksum, "
                "body = excluded.body, made = excluded.made "
                "where snapshots.pseq < excluded.pseq or snapshots.stamp <> excluded.stamp",
                (part, last, stamp, checksum, body, self._received()),
            )
        except self._errors as error:
            raise self._trouble(
                f"could not keep the snapshot ({_said(error)}); the inputs are all kept",
                "check the server; the store opens by replaying its inputs meanwhile",
            ) from None
        self._since[part] = 0
        return True

    # -- the outbox, shared --------------------------------------------------------------------

    def _clock(self, lease: timedelta) -> tuple[str, str]:
        """The server's time now and at the end of ``lease``, as the outbox keeps times: one
        clock for every host's dispatchers, whatever their own clocks say."""
        [(now, until)] = self._rows(
            f"select to_char(clock_timestamp() at time zone 'UTC', '{_STAMP}'), "
            f"to_char((clock_timestamp() + ?) at time zone 'UTC', '{_STAMP}')",
            (lease,),
        )
        return str(now), str(until)

    def claim(
        self, limit: int | None = None, *, lease: timedelta = timedelta(minutes=10)
    ) -> list[OutboxItem]:
        """Take on the first ``limit`` pending effects for a pass, for ``lease`` at most (by
        the server's clock): no other dispatcher gets them meanwhile, nor any later effect of
        their leads. Effects in their backoff are claimed too, so that a lead's later effects
        wait for them; so are effects this store claimed before and still holds."""
        if limit is not None and (type(limit) is not int or limit < 1):
            raise StoreError(
                Problem("limit", limit, "is not a positive whole number", "give e.g. 100, or None")
            )
        if not isinstance(lease, timedelta) or lease <= timedelta(0):
            raise StoreError(
                Problem("lease", lease, "is not a positive span of time", "give a timedelta")
            )
        size = "" if limit is None else f"limit {int(limit)}"
        try:
            with self._connection.transaction():
                self._connection.execute("select pg_advisory_xact_lock(%s)", (_CLAIM,))
                now, until = self._clock(lease)
                rows = self._connection.execute(
                    "update outbox set claimed_until = %(until)s, claimed_by = %(me)s "
                    "where seq in ("
                    " select o.seq from outbox o"
                    " where o.acked is null and o.dead is null"
                    " and (o.claimed_until is null or o.claimed_until < %(now)s"
                    "  or o.claimed_by = %(me)s)"
                    " and not exists (select 1 from outbox e where e.lead = o.lead"
                    "  and e.lead <> '' and e.seq < o.seq and e.acked is null"
                    "  and e.dead is null and e.claimed_until >= %(now)s"
                    "  and e.claimed_by <> %(me)s)"
                    f" order by o.seq {size} for update skip locked) "
                    f"returning {self._ITEM}",
                    {"until": until, "now": now, "me": self._token},
                ).fetchall()
        except self._errors as error:
            raise self._trouble(
                f"could not claim effects ({_said(error)}); nothing was claimed",
                "check the server, then try again",
            ) from None
        return sorted((item_of(row) for row in rows), key=lambda item: item.seq)

    def release(self, ids: Iterable[str]) -> None:
        """Give back claimed effects a pass did not get to, for any dispatcher to take (only
        those this store still holds: a claim that ran out may be another's now)."""
        self._write_many(
            "update outbox set claimed_until = null, claimed_by = null "
            "where id = ? and acked is null and claimed_by = ?",
            [(i, self._token) for i in dict.fromkeys(ids)],
        )

    def renew(self, seqs: Iterable[int], lease: timedelta) -> None:
        """Hold the claims of these outbox items (this store's) for ``lease`` more: a
        dispatcher does so while a handler that overran its timeout is still running."""
        wanted = list(dict.fromkeys(seqs))
        if wanted:
            _, until = self._clock(lease)
            self._write(
                "update outbox set claimed_until = ? "
                "where seq = any(?) and acked is null and claimed_by = ?",
                (until, wanted, self._token),
            )

    def failed(
        self, seq: int, error: str, retry_at: datetime | None, *, release: bool = True
    ) -> None:
        """As :meth:`Store.failed <leadsla.Store.failed>`; the claim is given back (when this
        store holds it), unless ``release`` is false: the handler still runs."""
        dead = self._received() if retry_at is None else None
        self._write(
            "update outbox set attempts = attempts + 1, error = ?, retry_at = ?, dead = ?, "
            "claimed_until = case when ? and claimed_by = ? then null else claimed_until end "
            "where seq = ? and acked is null",
            (
                error,
                None if retry_at is None else arrival(retry_at, "retry_at"),
                dead,
                release,
                self._token,
                seq,
            ),
        )

    # -- queries -------------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """The engine, up to date (a store of one partition only: with more, ask the store
        itself, or :meth:`engines`)."""
        if self.partitions != 1:
            raise StoreError(
                Problem(
                    "engine",
                    self.partitions,
                    "is one engine per partition in this store (partitions)",
                    "ask the store: store.lead(id), store.leads(), len(store), or "
                    "store.engines() for each partition's engine",
                )
            )
        return self._engine(0)

    def engines(self) -> list[Engine]:
        """Every partition's engine, up to date, in partition order."""
        return [self._engine(part) for part in range(self.partitions)]

    def lead(self, lead_id: str) -> LeadView:
        """The view of ``lead_id``, with what every writer kept for it so far. With several
        partitions, the records merged into it may be in any: every partition is read."""
        view = self._engine(partition_of(lead_id, self.partitions)).lead(lead_id)
        if self.partitions == 1:
            return view
        ledgers = [engine.state().ledger for engine in self.engines()]
        return _joined(view, ledgers, frozenset())

    def leads(self) -> Iterator[str]:
        """The ids of every lead, partition by partition."""
        for engine in self.engines():
            yield from engine.leads()

    def __len__(self) -> int:
        """How many leads the store holds."""
        return sum(len(engine) for engine in self.engines())

    def refused(self) -> list[Rejected]:
        """The kept events that were refused and still are, in the order they were kept."""
        self.engines()
        kept = [item for refused in self._refused for item in refused.values()]
        return [rejected for _, rejected in sorted(kept, key=lambda item: item[0])]

    @property
    def inputs(self) -> int:
        """How many inputs (events and advances) the store keeps (an advance counts once)."""
        return int(self._rows("select count(*) from inputs where kind = 'event' or part = 0")[0][0])

    # -- closing -------------------------------------------------------------------------------

    def close(self) -> None:
        """Write snapshots of what came since the last ones, and disconnect."""
        try:
            if self._snapshot_every is not None and not self._connection.closed:
                self.snapshot()
        except StoreError as error:  # the inputs are kept: the next open replays them
            warnings.warn(str(error), stacklevel=2)
        finally:
            self._connection.close()
