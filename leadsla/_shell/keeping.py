"""What every store shares: the checks made on opening, the outbox, and the helpers.

A store keeps an engine's inputs so that the engine can be rebuilt, and the effects those
inputs caused until the host acknowledges them (the *outbox*). :class:`Store` holds what
does not depend on the database: the agreement and settings checks made on opening, and
the outbox's queries and changes, written once in SQL that SQLite and PostgreSQL both
read (``?`` placeholders; a PostgreSQL store turns them into its own). A store says how to
run a query, how to run a change in a transaction of its own, which errors are its
database's, and where it is (for messages).
"""

from __future__ import annotations

import gc
import json
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import MappingProxyType, TracebackType
from typing import Any, Final, Literal, Self

from attrs import frozen

from leadsla._core.agreement import Agreement
from leadsla._core.calendar import span_us
from leadsla._core.effects import Duplicate, Effect, Rejected, Retracted, effect_to_dict, kind_of
from leadsla._core.engine import DEFAULT_HORIZON, DEFAULT_LATENESS, Decision, Engine
from leadsla._core.errors import AgreementError, NaiveDatetimeError, Problem, StoreError
from leadsla._core.events import Event
from leadsla._core.history import EngineState
from leadsla._core.versions import Versions, effective_at
from leadsla._core.views import LeadView
from leadsla._shell.agreement_write import agreement_to_toml
from leadsla._shell.erasure import Eraser
from leadsla._shell.snapshot import SnapshotError
from leadsla._shell.snapshot import load as load_snapshot
from leadsla._shell.snapshot import stamp as snapshot_stamp

__all__ = ["OutboxItem", "Store"]

#: The layouts of the keeping tables this leadsla reads; 2 added the outbox.
SCHEMA: Final = 2
READS: Final = frozenset({"1", "2"})
#: How to give ``snapshot_every`` right.
SNAPSHOT_FIX: Final = "give e.g. 100_000, or None for no snapshots"


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


def utc_now() -> datetime:
    return datetime.now(UTC)


def arrival(moment: datetime, field: str = "now") -> str:
    """An instant as the file keeps arrivals: UTC, fixed width, so text order is time order.
    ``field`` names where it came from (the store's ``now`` clock, unless said)."""
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise NaiveDatetimeError.for_field(field, moment)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def micros(span: timedelta | None) -> str:
    """A setting as the file keeps it: whole microseconds, or "none"."""
    if span is None:
        return "none"
    if not isinstance(span, timedelta):
        raise StoreError(
            Problem("setting", span, "is not a span of time", "give a timedelta, or None")
        )
    return str(span_us(span))


def span_of(text: str) -> timedelta | None:
    return None if text == "none" else timedelta(microseconds=int(text))


def setting_text(text: str) -> str:
    span = span_of(text)
    return "none" if span is None else str(span)


#: What the file keeps instead of the agreement's text when only Python can hold it.
HELD_BY_HOST: Final = ""


def agreement_text(agreement: Agreement) -> str:
    try:
        return agreement_to_toml(agreement, comments=False)
    except AgreementError:
        return HELD_BY_HOST  # a custom policy: the host passes the agreement on every open


def kept_name(text: str) -> str | None:
    """The name of the agreement a file keeps as text (None if it cannot be read)."""
    try:
        return Agreement.from_toml_text(text).name
    except AgreementError:
        return None


def same_parts(old: Versions, new: Versions) -> bool:
    """Whether an engine's state made under ``old`` holds under ``new`` too (the new one only
    adds a version no lead was created under yet): the same commitments to tally, and an
    assignment book kept, or not, alike."""

    def commitments(versions: Versions) -> dict[str, Any]:
        return {c.name: c for version in versions for c in version.commitments}

    def ordered(versions: Versions) -> bool:
        return any(version.workflow.order_dependent for version in versions)

    return commitments(old) == commitments(new) and ordered(old) == ordered(new)


def is_event(value: object) -> bool:
    return isinstance(value, Event)


def only_duplicate(decision: Decision) -> bool:
    """A duplicate changes nothing and is not kept."""
    return len(decision.effects) == 1 and isinstance(decision.effects[0], Duplicate)


def check_keepable(event: Event) -> None:
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


def check_positive(name: str, value: object, fix: str) -> None:
    """Refuse a setting that is not a positive whole number (None is left alone)."""
    if value is not None and (type(value) is not int or value < 1):
        raise StoreError(Problem(name, value, "is not a positive whole number", fix))


@contextmanager
def gc_paused() -> Iterator[None]:
    """The garbage collector off while a store feeds an engine its inputs (as leadsla.replay
    does: the records are freed by reference counting), on again afterwards."""
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def outbox_rows(input_seq: int | None, effects: list[Effect]) -> list[tuple[Any, ...]]:
    """The outbox rows of an input's effects: input, id, type, lead, body (a duplicate's
    notice is not delivered, so not kept)."""
    return [
        (input_seq, e.id, kind_of(e), e.lead, json.dumps(effect_to_dict(e), ensure_ascii=False))
        for e in effects
        if type(e) is not Duplicate
    ]


def note_refusals(refused: dict[str, Any], effects: list[Effect], value: Any = None) -> None:
    """Keep track of the refusals that stand, in ``refused`` by effect id (a late event may
    make one good, and its refusal is then retracted). Each is kept as itself, or as
    ``(value, refusal)`` when a ``value`` is given."""
    for effect in effects:
        if type(effect) is Rejected and effect.event is not None:
            refused[effect.id] = effect if value is None else (value, effect)
        elif type(effect) is Retracted:
            refused.pop(effect.retracts, None)


class Store(ABC):
    """What :class:`~leadsla.SqliteStore` and :class:`~leadsla.PostgresStore` share: an
    engine whose inputs are kept, and an outbox of the effects they caused.

    Use it to type code that takes either store (a :class:`~leadsla.Dispatcher` does).
    """

    versions: Versions
    _now: Callable[[], datetime]
    _settings: dict[str, Any]
    _stamp: str | None
    _eraser: tuple[Versions, Eraser] | None = None

    def _erasing(self) -> Eraser:
        """What scrubs the store's rows of an erased lead, for its versions (made again after
        an adoption: an erasure erases what any version calls personal)."""
        eraser = self._eraser
        if eraser is None or eraser[0] is not self.versions:
            eraser = self._eraser = (self.versions, Eraser(self.versions))
        return eraser[1]

    # -- what a store says about its database ---------------------------------------------

    @property
    @abstractmethod
    def where(self) -> str:
        """Where the store is (a file's path, a database and schema), for messages."""

    @abstractmethod
    def _rows(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run a query (``?`` placeholders); its rows."""

    @abstractmethod
    def _change(self, sql: str, rows: list[tuple[Any, ...]]) -> int:
        """Run ``sql`` once per row of parameters, in a transaction of its own; how many
        rows it changed. Raises the database's own error."""

    @abstractmethod
    def _put_meta(self, items: list[tuple[str, str]]) -> None:
        """Set keys of the meta table, in a transaction of its own."""

    #: The database's errors (caught and named as the store's trouble).
    _errors: tuple[type[Exception], ...] = ()

    # -- the inputs ---------------------------------------------------------------------------

    @abstractmethod
    def apply_many(
        self, events: Iterable[Event], *, mark: tuple[str, str] | None = None
    ) -> list[Effect]:
        """Apply ``events`` in order and keep them in one transaction."""

    def apply(self, event: Event, *, mark: tuple[str, str] | None = None) -> list[Effect]:
        """Apply ``event`` and keep it (see :meth:`Engine.apply <leadsla.Engine.apply>`);
        ``mark`` as for :meth:`apply_many`."""
        return self.apply_many([event], mark=mark)

    @abstractmethod
    def advance(self, now: datetime) -> list[Effect]:
        """Fire the timers due by ``now`` and keep the advance (both, or neither)."""

    @abstractmethod
    def lead(self, lead_id: str) -> LeadView:
        """The engine's view of ``lead_id`` (``KeyError`` for an unknown lead)."""

    @abstractmethod
    def leads(self) -> Iterator[str]:
        """The ids of the leads the store holds."""

    @abstractmethod
    def engines(self) -> list[Engine]:
        """The store's engines, up to date: its one, or one per partition."""

    def _follow_versions(self) -> bool:
        """Take the versions another process adopted since (a store one process holds has
        none to take); whether there were any."""
        return False

    @abstractmethod
    def __len__(self) -> int:
        """How many leads the store holds."""

    @property
    @abstractmethod
    def inputs(self) -> int:
        """How many inputs (events and advances) the store keeps."""

    @abstractmethod
    def refused(self) -> list[Rejected]:
        """The kept events that were refused and still are, in the order they were."""

    @abstractmethod
    def snapshot(self) -> bool:
        """Write a snapshot of the engine now; whether one was written."""

    @abstractmethod
    def close(self) -> None:
        """Close the store (its inputs are already kept)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def mark(self, name: str) -> str | None:
        """The value last kept under ``name`` with :meth:`apply_many`'s ``mark`` (None: none)."""
        rows = self._rows("select value from meta where key = ?", (f"mark:{name}",))
        return str(rows[0][0]) if rows else None

    # -- opening ------------------------------------------------------------------------------

    def _meta(self) -> dict[str, str]:
        meta = {str(key): str(value) for key, value in self._rows("select key, value from meta")}
        schema = meta.get("schema")
        if schema is not None and schema not in READS:
            raise StoreError(
                Problem(
                    "schema",
                    schema,
                    f"is not a store version this leadsla reads ({', '.join(sorted(READS))})",
                    "open it with the leadsla that wrote it",
                )
            )
        return meta

    @property
    def agreement(self) -> Agreement:
        """The agreement the store runs under: its newest version."""
        return self.versions.latest

    def _versions(self, stored: dict[str, str], given: Agreement | None) -> Versions:
        """The agreement's versions the store runs under: the kept ones (the first kept as
        ``agreement``, those adopted since as ``versions``), the newest checked against the
        given one."""
        later = [str(text) for text in json.loads(stored.get("versions", "[]"))]
        if not later:
            return Versions(self._agreement(stored, given))
        first = self._agreement(stored, None)
        agreements = [first, *(Agreement.from_toml_text(text) for text in later)]
        versions = Versions(agreements)
        text = None if given is None else agreement_text(given)
        if text is not None and given is not None and text != later[-1]:
            kept = [stored.get("agreement"), *later[:-1]]  # the older versions, as kept
            older = [a.version for a, held in zip(agreements, kept, strict=False) if held == text]
            said = f"is version {older[0]!r}, not the newest" if older else "is not its newest"
            raise StoreError(
                Problem(
                    "agreement",
                    given.name,
                    f"{said} version of the agreement {self.where} runs under (version "
                    f"{versions.latest.version!r})",
                    "open the store without an agreement to use its own versions, or "
                    "adopt a new one (leadsla adopt FILE --db STORE, or store.adopt)",
                )
            )
        return versions

    def adopt(self, agreement: Agreement) -> Versions:
        """Add a new version of the agreement, in force from its ``effective`` day: the
        leads created from then on are judged by it, those created before keep theirs.

        Refused, and nothing changes, when it does not validate, does not take effect after
        the newest version, reuses a version's name, or takes effect at or before the store's
        clock (the leads created since then were judged by the version then in force: move
        them with :func:`~leadsla.migrate` instead).
        """
        versions, text = self._adoptable(agreement)
        later = json.loads(self._meta().get("versions", "[]"))
        self._put_meta([("versions", json.dumps([*later, text]))])
        self._take(versions)
        return versions

    def _adoptable(self, agreement: Agreement) -> tuple[Versions, str]:
        """The versions with ``agreement`` adopted, and its text; refused as :meth:`adopt`
        says."""
        text = agreement_text(agreement)
        if text == HELD_BY_HOST or agreement_text(self.agreement) == HELD_BY_HOST:
            raise StoreError(
                Problem(
                    "agreement",
                    agreement.name,
                    "has parts only Python holds (a custom policy): a store keeps versions as "
                    "agreement files",
                    "use the policies an agreement file can name to keep versions in a store",
                )
            )
        versions = self.versions.adopt(agreement)
        start, clock = effective_at(agreement), self._newest()
        if start is not None and clock is not None and start <= clock:
            raise StoreError(
                Problem(
                    "effective",
                    agreement.effective.isoformat() if agreement.effective else None,
                    f"is not after {self.where}'s clock ({clock.isoformat()}): the leads "
                    "created since then were judged by the version then in force",
                    "give a later day, and move chosen leads to it with a migration",
                )
            )
        return versions, text

    def _take(self, versions: Versions) -> None:
        """Run under ``versions`` from now on (their inputs all came before the newest)."""
        self.versions = versions
        self._stamp = self._stamp_of()
        self._adopted()

    @abstractmethod
    def _newest(self) -> datetime | None:
        """The newest time the store's engines have seen."""

    @abstractmethod
    def _adopted(self) -> None:
        """Rebuild the engines under the new versions (their inputs all came before it)."""

    def _agreement(self, stored: dict[str, str], given: Agreement | None) -> Agreement:
        """The agreement the store was made with: the kept one, checked against the given."""
        text = stored.get("agreement")
        if text is None:
            agreement = given if given is not None else Agreement.default()
            self._put_meta([("schema", str(SCHEMA)), ("agreement", agreement_text(agreement))])
            return agreement
        if text == HELD_BY_HOST:
            if given is None:
                raise StoreError(
                    Problem(
                        "agreement",
                        None,
                        f"is needed to open {self.where}: its agreement has parts only Python "
                        "holds (a custom policy), so the store does not keep it",
                        "pass the same agreement as when the store was made",
                    )
                )
            return given
        if given is not None and agreement_text(given) != text:
            kept = kept_name(text)
            differs = (
                " (it has the same name, other terms)" if kept == given.name else
                f" ({kept!r})" if kept else ""
            )  # fmt: skip
            raise StoreError(
                Problem(
                    "agreement",
                    given.name,
                    f"is not the agreement {self.where} was made with{differs}",
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
        """The engine's feed settings: as given, checked against what the store keeps."""
        new = "allowed_lateness" not in stored
        if new and "agreement" in stored:
            kept = {"allowed_lateness": "0", "horizon": "none"}  # written before they existed
        elif new:
            kept = {
                "allowed_lateness": micros(DEFAULT_LATENESS),
                "horizon": micros(DEFAULT_HORIZON),
            }
        else:
            kept = {key: stored[key] for key in ("allowed_lateness", "horizon")}
        given = {
            "allowed_lateness": kept["allowed_lateness"]
            if lateness == "kept"
            else micros(lateness),
            "horizon": kept["horizon"] if horizon == "kept" else micros(horizon),
        }
        for key, value in given.items():
            if not new and value != kept[key]:
                raise StoreError(
                    Problem(
                        key,
                        setting_text(value),
                        f"is not the {key} {self.where} was made with ({setting_text(kept[key])})",
                        "open it without the setting to use its own, or replay its events "
                        "into a new store with the new one",
                    )
                )
        if new:
            self._put_meta(list(given.items()))
        return {key: span_of(value) for key, value in given.items()}

    def _trusted(
        self, snapshot: tuple[Any, ...], what: str, instead: str
    ) -> tuple[Engine, dict[str, Any]] | None:
        """The engine and refusals a snapshot row ``(stamp, checksum, body)`` holds, if it can
        be trusted; else None, with a warning naming ``what`` was ignored and what is done
        ``instead``."""
        made_under, checksum, body = snapshot
        try:
            if made_under != self._stamp:
                raise SnapshotError("it was made by another leadsla, agreement or settings")
            state, refused = load_snapshot(bytes(body), checksum)
            if not isinstance(state, EngineState) or not isinstance(refused, dict):
                raise SnapshotError("it does not hold an engine's state")
            return Engine.restored(state, self.versions, **self._settings), refused
        except Exception as error:  # whatever is wrong with it, it is not trusted
            warnings.warn(f"{self.where}: {what} is ignored ({error}); {instead}", stacklevel=5)
            return None

    def _stamp_of(self) -> str | None:
        """What this store's snapshots are made under (None: no snapshots, for an agreement
        only Python holds, which the store cannot check)."""
        texts = [agreement_text(agreement) for agreement in self.versions]
        if HELD_BY_HOST in texts:
            return None
        text = "\x1e".join(texts)
        return snapshot_stamp(f"{text}\x1f{sorted(self._settings.items())!r}")

    # -- the outbox ---------------------------------------------------------------------------

    def pending(self, limit: int | None = None) -> list[OutboxItem]:
        """The effects not acknowledged yet, in the order they were decided (the first
        ``limit`` of them)."""
        if limit is not None and (type(limit) is not int or limit < 1):
            raise StoreError(
                Problem("limit", limit, "is not a positive whole number", "give e.g. 100, or None")
            )
        return self._items("acked is null and dead is null", limit)

    def claim(
        self, limit: int | None = None, *, lease: timedelta = timedelta(0)
    ) -> list[OutboxItem]:
        """The pending effects a dispatcher takes on for a pass (the first ``limit``). A
        store that one process holds gives :meth:`pending`; a shared one hands each effect to
        one dispatcher at a time, for ``lease`` at most (see :class:`~leadsla.PostgresStore`)."""
        return self.pending(limit)

    def release(self, ids: Iterable[str]) -> None:
        """Give back claimed effects a pass did not get to (nothing to do for a store that one
        process holds)."""
        del ids  # nothing claims: nothing to give back

    def outbox_counts(self) -> tuple[int, int]:
        """How many effects are pending, and how many are dead letters (without reading
        them)."""
        [(pending, dead)] = self._rows(
            "select coalesce(sum(case when dead is null then 1 else 0 end), 0), "
            "coalesce(sum(case when dead is null then 0 else 1 end), 0) "
            "from outbox where acked is null"
        )
        return int(pending), int(dead)

    def prune(self, acked_before: datetime) -> int:
        """Forget the effects acknowledged before ``acked_before`` (wall-clock time), so that
        the store does not grow with every effect ever delivered; how many. Replays do not need
        them; only acknowledging one of them again would now be refused as unknown, so prune
        what was acknowledged long ago (days, not seconds)."""
        when = arrival(acked_before, "acked_before")
        return self._write("delete from outbox where acked is not null and acked < ?", (when,))

    def dead_letters(self) -> list[OutboxItem]:
        """The effects whose delivery failed too often (see :class:`~leadsla.Dispatcher`):
        kept, not delivered again until :meth:`requeue` d."""
        return self._items("acked is null and dead is not null", None)

    _ITEM: Final = "seq, id, type, lead, body, attempts, error, retry_at"

    def _items(self, where: str, limit: int | None) -> list[OutboxItem]:
        rows = self._rows(
            f"select {self._ITEM} from outbox where {where} order by seq"
            + ("" if limit is None else f" limit {int(limit)}")
        )
        return [item_of(row) for row in rows]

    def failed(
        self, seq: int, error: str, retry_at: datetime | None, *, release: bool = True
    ) -> None:
        """Record a failed delivery of outbox item ``seq``: one attempt more, and why; it may
        be tried again from ``retry_at``, or (None) it becomes a dead letter. ``release``:
        whether a claim on it is given back (a shared store's; not while the handler still
        runs)."""
        dead = self._received() if retry_at is None else None
        self._write(
            "update outbox set attempts = attempts + 1, error = ?, retry_at = ?, dead = ? "
            "where seq = ? and acked is null",
            (error, None if retry_at is None else arrival(retry_at, "retry_at"), dead, seq),
        )

    def renew(self, seqs: Iterable[int], lease: timedelta) -> None:
        """Hold claims for ``lease`` more (nothing to do for a store that one process
        holds)."""
        del seqs, lease  # nothing claims: nothing to hold

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
            "requeue ids of dead letters (`leadsla outbox` lists them); nothing was requeued",
        )
        return self._write_many(
            sql + "where id = ? and dead is not null and acked is null", [(i,) for i in wanted]
        )

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

    def _known(self, ids: list[str], where: str, said: tuple[str, str], fix: str) -> None:
        """Refuse ``ids`` unless the outbox holds each of them where ``where`` holds."""
        unknown = [
            i for i in ids if not self._rows(f"select 1 from outbox where id = ? and {where}", (i,))
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
            return self._change(sql, rows)
        except self._errors as error:
            raise self._trouble(
                f"could not keep the change to the outbox ({error}); nothing changed",
                "check the database (its disk, its permissions, its server), then try again",
            ) from None

    def _trouble(self, message: str, fix: str) -> StoreError:
        """The store's error about its own database."""
        return StoreError(Problem("store", self.where, message, fix))

    def _unreadable(self, error: Exception) -> StoreError:
        """The store's error when its database cannot be read."""
        said = str(error).strip().splitlines()
        return self._trouble(
            f"could not read the store ({said[0] if said else type(error).__name__})",
            "check the database (is the server up, the file there?), then open the store again",
        )

    def _received(self) -> str:
        """The wall-clock time of an input's arrival, as the store keeps it."""
        return arrival(self._now())


def item_of(row: tuple[Any, ...]) -> OutboxItem:
    seq, effect_id, kind, lead, body, attempts, error, retry = row
    return OutboxItem(
        int(seq),
        effect_id,
        kind,
        lead,
        MappingProxyType(json.loads(body)),
        int(attempts),
        error,
        None if retry is None else datetime.fromisoformat(retry),
    )
