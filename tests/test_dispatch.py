"""The dispatcher: the outbox's effects handed to the host's handlers, retried, dead-lettered."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from leadsla import (
    ActivityLogged,
    Delivered,
    Dispatcher,
    LeadCreated,
    ObligationBreached,
    OutboxItem,
    Store,
    StoreError,
    UsageError,
)
from leadsla._shell.cli import main

HELSINKI = ZoneInfo("Europe/Helsinki")
FRIDAY = datetime(2026, 3, 6, 16, tzinfo=HELSINKI)
FIELDS = {"email": "ann@acme.fi", "score": 62}


class Wall:
    """A wall clock the test moves."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 10, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(open_store: Callable[..., Store]) -> Iterator[Store]:
    with open_store() as kept:
        kept.apply(LeadCreated(id="c1", lead="L-1", at=FRIDAY, fields=FIELDS))
        kept.apply(LeadCreated(id="c2", lead="L-2", at=FRIDAY, fields=FIELDS))
        kept.advance(FRIDAY + timedelta(days=4))  # first touch breached: an escalation each
        yield kept


def test_handlers_are_chosen_by_action_then_type_then_default(store: Store) -> None:
    seen: dict[str, list[str]] = {"escalate": [], "breached": [], "other": []}
    dispatcher = Dispatcher(
        store,
        actions={"escalate": lambda item: seen["escalate"].append(item.lead)},
        effects={ObligationBreached: lambda item: seen["breached"].append(item.data["obligation"])},
        default=lambda item: seen["other"].append(item.type),
    )
    pending = store.pending()
    report = dispatcher.deliver()
    assert report == Delivered(handled=len(pending))
    escalations = [
        i.lead for i in pending if i.type == "action_requested" and i.data["action"] == "escalate"
    ]
    assert escalations
    assert seen["escalate"] == escalations
    assert seen["breached"] == [
        i.data["obligation"] for i in pending if i.type == "obligation_breached"
    ]
    assert "transitioned" in seen["other"]
    assert "obligation_breached" not in seen["other"]
    assert store.pending() == []


def test_effects_nobody_handles_are_acknowledged(store: Store) -> None:
    total = len(store.pending())
    assert Dispatcher(store).deliver() == Delivered(unhandled=total)
    assert store.pending() == []


def test_a_failing_handler_keeps_the_effect_and_holds_back_its_lead(store: Store) -> None:
    """A handler that raises loses nothing: the effect stays, with its error and the time of
    the next try (backoff doubling), and the later effects of its lead wait behind it; the
    other lead's effects go on."""
    wall = Wall()
    broken = {"L-1"}
    done: list[str] = []

    def crm(item: OutboxItem) -> None:
        if item.lead in broken:
            raise ConnectionError("CRM said 503\nretry later")
        done.append(item.id)

    dispatcher = Dispatcher(store, default=crm, now=wall, backoff=timedelta(seconds=10))
    of_one = [i.id for i in store.pending() if i.lead == "L-1"]
    report = dispatcher.deliver()
    assert (report.failed, report.waiting) == (1, len(of_one) - 1)
    assert report.handled == len(done) > 0
    [first, *_] = store.pending()
    assert (first.id, first.attempts) == (of_one[0], 1)
    assert first.error == "ConnectionError: CRM said 503 retry later"
    assert first.retry_at == wall.now + timedelta(seconds=10)
    assert dispatcher.deliver() == Delivered(waiting=len(of_one))  # not yet time
    wall.now += timedelta(seconds=10)
    assert dispatcher.deliver().failed == 1
    assert store.pending()[0].retry_at == wall.now + timedelta(seconds=20)
    broken.clear()
    wall.now += timedelta(seconds=20)
    assert dispatcher.deliver() == Delivered(handled=len(of_one))
    assert done[-len(of_one) :] == of_one  # in the order decided
    assert store.pending() == []


def test_after_the_last_attempt_an_effect_is_a_dead_letter_until_requeued(
    store: Store,
) -> None:
    wall = Wall()

    def refuse(item: OutboxItem) -> None:
        if item.type == "obligation_breached":
            raise ValueError("no such queue")

    dispatcher = Dispatcher(store, default=refuse, now=wall, attempts=2)
    breaches = [i.id for i in store.pending() if i.type == "obligation_breached"]
    dead = 0
    for _ in range(2 * len(breaches)):  # a lead's second breach waits behind its first
        dead += dispatcher.deliver().dead
        wall.now += timedelta(hours=1)
    assert dead == len(breaches)
    assert sorted(i.id for i in store.dead_letters()) == sorted(breaches)
    assert all(i.attempts == 2 for i in store.dead_letters())
    assert store.pending() == []  # dead letters hold nothing back and are not tried again
    with pytest.raises(StoreError, match=r"'ids' is not a dead letter \(got 'x'\)"):
        store.requeue(["x"])
    assert store.requeue([breaches[0]]) == 1
    assert [(i.id, i.attempts) for i in store.pending()] == [(breaches[0], 0)]
    assert store.requeue() == len(breaches) - 1
    assert store.dead_letters() == []


def test_a_handler_that_hangs_is_timed_out(store: Store) -> None:
    release = threading.Event()
    calls: list[str] = []

    def hang(item: OutboxItem) -> None:
        calls.append(item.id)
        release.wait(5)

    dispatcher = Dispatcher(store, default=hang, timeout=timedelta(milliseconds=50), attempts=3)
    try:
        report = dispatcher.deliver(limit=1)
    finally:
        release.set()
    assert report == Delivered(failed=1)
    [item, *_] = store.pending()
    assert item.id == calls[0]
    assert item.error == "the handler took longer than 0:00:00.050000"


def test_a_crash_after_the_handler_delivers_again_with_the_same_id(
    open_store: Callable[..., Store],
) -> None:
    """Acknowledged after acting: a process that dies in between delivers again on restart,
    with the same id (the receiver's idempotency key)."""
    received: list[str] = []
    with open_store() as store:
        store.apply(LeadCreated(id="c1", lead="L-1", at=FRIDAY, fields=FIELDS))

        class Crash(BaseException):
            pass

        def act_then_die(item: OutboxItem) -> None:
            received.append(item.id)
            raise Crash  # not an Exception: the process is going down, nothing is recorded

        with pytest.raises(Crash):
            Dispatcher(store, default=act_then_die).deliver(limit=1)
    with open_store() as store:
        Dispatcher(store, default=lambda item: received.append(item.id)).deliver()
        store.apply(
            ActivityLogged(
                id="a1", lead="L-1", at=FRIDAY + timedelta(hours=1), kind="call", by="bob"
            )
        )
    assert received[0] == received[1]
    assert len(received) == len(set(received)) + 1


def test_the_cli_shows_dead_letters_and_requeues_them(
    open_store: Any, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(item: OutboxItem) -> None:
        raise ValueError("no such queue")

    Dispatcher(store, default=refuse, attempts=1).deliver()
    [dead, *_] = store.dead_letters()
    path = store.where  # how the command names the store (a file; a database, no password)
    store.close()
    assert main(["outbox", open_store.location]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown[0].startswith(f"{path}: 0 effects pending, ")
    assert (
        f"  #{dead.seq} {dead.id} {dead.type} of {dead.lead}, 1 attempt: ValueError: no such queue"
        in shown
    )
    assert main(["outbox", open_store.location, "--requeue", dead.id]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown[0] == f"{path}: requeued 1 dead letter"
    assert shown[1].startswith(f"{path}: 1 effect pending (oldest: {dead.type} of {dead.lead}")
    assert main(["outbox", open_store.location, "--requeue", "nope"]) == 1
    assert "'ids' is not a dead letter (got 'nope')" in capsys.readouterr().err


def test_the_backoff_stops_growing_at_its_cap(store: Store) -> None:
    """Many failures double the wait up to max_backoff, never past what a timedelta holds."""
    wall = Wall()

    def down(item: OutboxItem) -> None:
        raise ConnectionError("receiver down")

    dispatcher = Dispatcher(
        store, default=down, now=wall, attempts=200, max_backoff=timedelta(minutes=5)
    )
    for _ in range(120):
        dispatcher.deliver(limit=1)
        wall.now += timedelta(minutes=5)
    [first, *_] = store.pending()
    assert first.attempts == 120
    assert first.retry_at == wall.now - timedelta(minutes=5) + timedelta(minutes=5)


def test_an_overrunning_handler_is_never_called_twice_at_once(store: Store) -> None:
    """After a timeout the call goes on in its thread: the effect waits for it, and its
    answer (here: done) counts once it comes."""
    release = threading.Event()
    running: list[str] = []
    most = [0]

    def slow(item: OutboxItem) -> None:
        running.append(item.id)
        most[0] = max(most[0], running.count(item.id))
        release.wait(5)
        running.remove(item.id)

    wall = Wall()
    dispatcher = Dispatcher(store, default=slow, timeout=timedelta(milliseconds=30), now=wall)
    first = store.pending()[0]
    assert dispatcher.deliver(limit=1).failed == 1
    wall.now += timedelta(minutes=1)  # time for a retry, but the first call still runs
    assert dispatcher.deliver(limit=1) == Delivered(waiting=1)
    release.set()
    for _ in range(500):
        if not running:
            break
        threading.Event().wait(0.01)
    assert dispatcher.deliver(limit=1).handled == 1
    assert first.id not in [item.id for item in store.pending()]
    assert most[0] == 1


def test_a_call_that_overran_and_then_failed_counts_once(store: Store) -> None:
    """An overrun is one failed attempt; when that call later fails too, the next attempt
    calls the handler afresh (it is not the old call's failure counted again)."""
    wall = Wall()
    calls: list[str] = []

    def slow_then_no(item: OutboxItem) -> None:
        calls.append(item.id)
        threading.Event().wait(0.15)
        raise RuntimeError("receiver said no")

    dispatcher = Dispatcher(
        store, default=slow_then_no, timeout=timedelta(milliseconds=30), now=wall, attempts=3
    )
    first = store.pending()[0]
    dispatcher.deliver(limit=1)
    threading.Event().wait(0.3)  # the overrunning call ends, failing
    wall.now += timedelta(minutes=1)
    dispatcher.deliver(limit=1)
    threading.Event().wait(0.3)
    assert calls.count(first.id) == 2
    assert store.pending()[0].attempts == 2


def test_an_acknowledged_effect_is_not_requeued(store: Store) -> None:
    Dispatcher(store, default=lambda item: 1 / 0, attempts=1).deliver(limit=1)
    [dead] = store.dead_letters()
    store.ack([dead.id])
    with pytest.raises(StoreError, match=r"'ids' is not a dead letter"):
        store.requeue([dead.id])


def test_a_clock_without_a_zone_is_named_before_any_handler_runs(store: Store) -> None:
    called: list[str] = []
    dispatcher = Dispatcher(
        store, default=lambda item: called.append(item.id), now=lambda: datetime(2026, 3, 9)
    )
    with pytest.raises(ValueError, match=r"'now' must be timezone-aware"):
        dispatcher.deliver()
    assert called == []


def test_a_pass_stops_when_asked_and_acknowledges_as_it_goes(store: Store) -> None:
    """``stop`` ends a pass before the next effect (what was done stays acknowledged), and a
    long pass acknowledges in groups, so that a crash repeats few deliveries."""
    total = len(store.pending())
    seen: list[str] = []
    acked_during: list[int] = []

    def count(item: OutboxItem) -> None:
        seen.append(item.id)
        acked_during.append(total - len(store.pending()))

    dispatcher = Dispatcher(store, default=count)
    report = dispatcher.deliver(stop=lambda: len(seen) >= 3)
    assert report.handled == 3
    assert len(store.pending()) == total - 3
    dispatcher.deliver()
    assert max(acked_during) > 3  # acknowledged during the pass, not only at its end


def test_handlers_for_unknown_names_are_refused(store: Store) -> None:
    with pytest.raises(UsageError, match=r"'actions' is not an action name \(got 'escalte'\)"):
        Dispatcher(store, actions={"escalte": print})
    with pytest.raises(UsageError, match=r"did you mean 'obligation_breached'"):
        Dispatcher(store, effects={"obligation_breach": print})


def test_settings_are_checked(store: Store) -> None:
    with pytest.raises(UsageError, match=r"'attempts' is not a positive whole number \(got 0\)"):
        Dispatcher(store, attempts=0)
    with pytest.raises(UsageError, match=r"'backoff' is not a positive span of time"):
        Dispatcher(store, backoff=timedelta(0))
    with pytest.raises(UsageError, match=r"'effects' is not an effect type \(got <class 'int'>\)"):
        Dispatcher(store, effects={int: print})
