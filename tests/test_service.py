"""``leadsla run``: a real process reading events, keeping them, delivering, stopping cleanly."""

from __future__ import annotations

import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import attrs
import pytest

from leadsla import (
    Agreement,
    Duration,
    LeadCreated,
    PostgresStore,
    SqliteStore,
    agreement_to_toml,
)
from leadsla._shell.cli import main

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the service reads pipes with select")

SCRIPT = pathlib.Path(sys.executable).with_name("leadsla")
HELSINKI = ZoneInfo("Europe/Helsinki")
HANDLER = """
import json, os

def handle(item):
    with open(os.environ["RECEIVED"], "a") as out:
        out.write(json.dumps({"id": item.id, "type": item.type, "lead": item.lead}) + "\\n")

def escalate(item):
    with open(os.environ["RECEIVED"], "a") as out:
        out.write(json.dumps({"id": item.id, "type": "ESCALATED", "to": item.data["to"]}) + "\\n")
"""


def event(n: int, at: datetime | None = None) -> str:
    at = at or datetime(2026, 3, 6, 16, n, tzinfo=HELSINKI)
    fields = {"email": f"ann{n}@acme.fi", "score": 62}
    return LeadCreated(id=f"c{n}", lead=f"L-{n}", at=at, fields=fields).to_json()


def quick_agreement(path: pathlib.Path) -> str:
    """The default agreement with a first touch due within one (calendar) minute, so that a
    service on the wall clock breaches it at once for an event a few minutes old."""
    default = Agreement.default()
    first, *rest = default.obligations
    quick = attrs.evolve(first, within=Duration.parse("1 minute"))
    path.write_text(agreement_to_toml(attrs.evolve(default, obligations=(quick, *rest))))
    return str(path)


def ready(service: subprocess.Popen[str]) -> str:
    """Wait until the service says where it reads (it has opened the store and the feed)."""
    assert service.stderr is not None
    line = service.stderr.readline()
    assert line.startswith("leadsla run: reading "), line
    return line


def said_until(service: subprocess.Popen[str], line: str) -> None:
    """Read the service's stderr until it says ``line`` (it writes a status line every half
    second, so reading never waits long)."""
    assert service.stderr is not None
    deadline = time.monotonic() + 20
    while service.stderr.readline().rstrip("\n") != line:
        assert time.monotonic() < deadline, f"never said {line!r}"


def wait_for(check: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def received(path: pathlib.Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def start(tmp_path: pathlib.Path, *extra: str, db: str | None = None) -> subprocess.Popen[str]:
    (tmp_path / "hooks.py").write_text(HANDLER)
    environment = {
        **os.environ,
        "PYTHONPATH": str(tmp_path),
        "RECEIVED": str(tmp_path / "received.jsonl"),
    }
    return subprocess.Popen(
        [
            str(SCRIPT),
            "run",
            "--db",
            db or str(tmp_path / "leads.db"),
            "--handler",
            "hooks:handle",
            "--handler",
            "escalate=hooks:escalate",
            "--tick",
            "0.3",
            "--status",
            "0.5",
            *extra,
        ],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=environment,
    )


def test_a_service_reads_keeps_delivers_and_stops_on_sigterm(tmp_path: pathlib.Path) -> None:
    """Events on stdin are kept and their effects delivered; the service runs on the wall
    clock from its start (the first touch, due a minute after events five minutes old, is
    breached and escalated at once; an event of March is refused as too late); a bad line is
    named and skipped; SIGTERM stops it cleanly."""
    recently = datetime.now(HELSINKI) - timedelta(minutes=5)
    service = start(tmp_path, "--agreement", quick_agreement(tmp_path / "quick.toml"))
    ready(service)
    assert service.stdin is not None
    service.stdin.write(
        event(1, recently)
        + "\n{not json\n"
        + event(2, recently + timedelta(seconds=1))
        + "\n"
        + event(3)  # March: older than the clock (the wall clock) allows
        + "\n"
    )
    service.stdin.flush()
    got = tmp_path / "received.jsonl"
    wait_for(lambda: any(r["type"] == "ESCALATED" for r in received(got)))
    service.send_signal(signal.SIGTERM)
    _, err = service.communicate(timeout=30)
    assert service.returncode == 0, err
    assert "stdin:2: " in err
    assert "stdin:4: 'at' is older than the allowed lateness" in err
    # (How many are still pending when it stops depends on the handler's pace: one or more.)
    assert re.search(r"; \d+ effects? pending", err.splitlines()[-1]), err
    assert err.splitlines()[-1].endswith("(stopped)")
    types = {r["type"] for r in received(got)}
    assert {"transitioned", "obligation_opened", "obligation_breached", "ESCALATED"} <= types
    with SqliteStore(tmp_path / "leads.db") as store:
        assert sorted(store.engine.leads()) == ["L-1", "L-2"]
        ids = [r["id"] for r in received(got)]
        assert len(ids) == len(set(ids)), "each effect delivered once"


def test_a_service_stops_when_its_input_ends(tmp_path: pathlib.Path) -> None:
    service = start(tmp_path, "--tick", "0")
    _, err = service.communicate(event(1) + "\n" + event(2), timeout=30)  # no final newline
    assert service.returncode == 0, err
    with SqliteStore(tmp_path / "leads.db") as store:
        assert sorted(store.engine.leads()) == ["L-1", "L-2"]
        assert store.pending() == []


def test_a_service_follows_a_growing_file_and_stops_on_sigint(tmp_path: pathlib.Path) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_text(event(1) + "\n")  # there before the start: not read without --from-start
    service = start(tmp_path, "--follow", str(feed), "--tick", "0")  # (wall clock: too late)
    assert ready(service).endswith("from line 1\n")
    with feed.open("a") as out:
        out.write(event(2) + "\n")
    got = tmp_path / "received.jsonl"
    wait_for(lambda: any(r.get("lead") == "L-2" for r in received(got)))
    assert all(r["type"] != "rejected" for r in received(got))
    service.send_signal(signal.SIGINT)
    _, err = service.communicate(timeout=30)
    assert service.returncode == 0, err
    with SqliteStore(tmp_path / "leads.db") as store:
        assert list(store.engine.leads()) == ["L-2"]


def test_a_followed_file_that_is_rotated_or_truncated_is_read_anew(
    tmp_path: pathlib.Path,
) -> None:
    """logrotate renames the file and a new one is made under its name (or, with
    copytruncate, empties it in place): the service reads the new lines from the start, says
    so, and a restart resumes in the new file."""
    feed = tmp_path / "feed.jsonl"
    feed.write_text("")
    service = start(tmp_path, "--follow", str(feed), "--tick", "0")
    ready(service)
    with feed.open("a") as out:
        out.write(event(1) + "\n" + event(2) + "\n")
    got = tmp_path / "received.jsonl"
    wait_for(lambda: any(r.get("lead") == "L-2" for r in received(got)))
    feed.rename(tmp_path / "feed.jsonl.1")
    feed.write_text(event(3) + "\n")
    said_until(service, f"leadsla run: {feed} was rotated: reading it from its start")
    wait_for(lambda: any(r.get("lead") == "L-3" for r in received(got)))
    feed.write_text("")  # truncated in place: noticed once it is shorter than was read
    said_until(service, f"leadsla run: {feed} was truncated: reading it from its start")
    with feed.open("a") as out:
        out.write(event(4) + "\n")
    wait_for(lambda: any(r.get("lead") == "L-4" for r in received(got)))
    service.send_signal(signal.SIGTERM)
    _, err = service.communicate(timeout=30)
    assert service.returncode == 0, err
    with feed.open("a") as out:
        out.write(event(5) + "\n")
    service = start(tmp_path, "--follow", str(feed), "--tick", "0")
    assert ready(service).endswith("from line 2\n")
    wait_for(lambda: any(r.get("lead") == "L-5" for r in received(got)))
    service.send_signal(signal.SIGTERM)
    service.communicate(timeout=30)
    with SqliteStore(tmp_path / "leads.db") as store:
        assert sorted(store.leads()) == [f"L-{n}" for n in range(1, 6)]


def test_a_followed_file_is_resumed_after_a_restart(tmp_path: pathlib.Path) -> None:
    """The store keeps, with each event, where its line ended: lines written while the
    service was down are read after the restart, and none is read twice."""
    feed = tmp_path / "feed.jsonl"
    feed.write_text("")
    service = start(tmp_path, "--follow", str(feed), "--tick", "0")
    ready(service)
    with feed.open("a") as out:
        out.write(event(1) + "\n")
    got = tmp_path / "received.jsonl"
    wait_for(lambda: any(r.get("lead") == "L-1" for r in received(got)))
    service.send_signal(signal.SIGTERM)
    service.communicate(timeout=30)
    with feed.open("a") as out:  # while it is down
        out.write(
            event(2) + "\n" + '{"id": "n1", "type": "lead_updated", "lead": "L-1", '
            '"at": "2026-03-06T16:05:00+02:00", "fields": {"score": NaN}}\n'
        )
    service = start(tmp_path, "--follow", str(feed), "--tick", "0")
    assert ready(service).endswith("from line 2\n")  # after the line kept
    wait_for(lambda: any(r.get("lead") == "L-2" for r in received(got)))
    service.send_signal(signal.SIGTERM)
    _, err = service.communicate(timeout=30)
    assert service.returncode == 0, err
    assert f"{feed}:3: 'fields.score' is not a JSON value" in err  # named; the feed went on
    assert all(r["type"] != "rejected" for r in received(got))
    with SqliteStore(tmp_path / "leads.db") as store:
        assert list(store.engine.leads()) == ["L-1", "L-2"]
        assert store.inputs == 2


def test_settings_of_the_service_are_checked(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--db", str(tmp_path / "x.db"), "--tick", "-1"]) == 1
    assert "'--tick' is not a number of seconds >= 0 (got -1.0)" in capsys.readouterr().err
    assert main(["run", "--db", str(tmp_path / "x.db"), "--timeout", "0"]) == 1
    assert "'--timeout' is not a number of seconds > 0" in capsys.readouterr().err
    assert main(["run", "--db", str(tmp_path / "x.db"), "--lease", "0"]) == 1
    assert "'--lease' is not a number of seconds > 0" in capsys.readouterr().err
    assert main(["outbox", str(tmp_path / "typo.db")]) == 1
    assert "'DB' is not a file" in capsys.readouterr().err
    assert not (tmp_path / "typo.db").exists()


def test_a_handler_that_cannot_be_loaded_is_named(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "--db", str(tmp_path / "x.db"), "--handler", "no_such_module:f"])
    assert code == 1
    assert (
        "'--handler' cannot be loaded (No module named 'no_such_module')" in capsys.readouterr().err
    )
    assert main(["run", "--db", str(tmp_path / "x.db"), "--handler", "nocolon"]) == 1
    assert "'--handler' is not an entry point (got 'nocolon')" in capsys.readouterr().err
    assert main(["run", "--db", str(tmp_path / "x.db"), "--handler", "escalte=json:dumps"]) == 1
    said = capsys.readouterr().err
    assert "'--handler' is for 'escalte', which is neither an action nor an effect type" in said
    assert "(did you mean 'escalate'?)" in said
    twice = ["--handler", "json:dumps", "--handler", "json:loads"]
    assert main(["run", "--db", str(tmp_path / "x.db"), *twice]) == 1
    assert "gives the default a second handler" in capsys.readouterr().err
    assert main(["run", "--db", str(tmp_path / "x.db"), "--follow", "nofile.jsonl"]) == 1
    assert "'--follow' is not a file (got 'nofile.jsonl')" in capsys.readouterr().err
    assert not (tmp_path / "x.db").exists()


def test_a_signal_before_the_loop_starts_is_kept_for_it(tmp_path: pathlib.Path) -> None:
    """SIGTERM while the store opens (a long replay) is noted, not fatal: the loop then stops
    at once, cleanly; the usual handler is back afterwards."""
    import io

    from leadsla import Dispatcher
    from leadsla._shell.service import LineSource, serve, stop_signals

    before = signal.getsignal(signal.SIGTERM)
    read, write = os.pipe()
    try:
        with stop_signals() as stop:
            os.kill(os.getpid(), signal.SIGTERM)  # as if sent during SqliteStore(...)
            assert stop == [signal.SIGTERM]
            with SqliteStore(tmp_path / "leads.db") as store:
                err = io.StringIO()
                code = serve(
                    store,
                    LineSource(read, follow=False),
                    Dispatcher(store),
                    name="stdin",
                    tick=0,
                    status=0,
                    err=err,
                    stop=stop,
                )
        assert code == 0
        assert err.getvalue().rstrip().endswith("(stopped)")
    finally:
        os.close(read)
        os.close(write)
    assert signal.getsignal(signal.SIGTERM) == before


def test_a_line_that_is_not_utf8_is_refused_not_mended(tmp_path: pathlib.Path) -> None:
    import io

    from leadsla import Dispatcher
    from leadsla._shell.service import LineSource, serve

    read, write = os.pipe()
    os.write(write, event(1).encode().replace(b"ann1", b"ann\xff") + b"\n" + event(2).encode())
    os.close(write)
    err = io.StringIO()
    with SqliteStore(tmp_path / "leads.db") as store:
        source = LineSource(read, follow=False)
        serve(store, source, Dispatcher(store), name="in", tick=0, status=0, err=err, stop=[])
        assert list(store.engine.leads()) == ["L-2"]
    os.close(read)
    assert "in:1: 'line' is not UTF-8 text (got \"'utf-8' codec can't decode byte 0xff" in (
        err.getvalue()
    )


def test_what_waited_is_applied_before_the_clock_moves(tmp_path: pathlib.Path) -> None:
    """Lines written while the service was down are applied at their own times before the
    first advance to the wall clock (else an event of two days ago would be refused)."""
    feed = tmp_path / "feed.jsonl"
    feed.write_text(event(1, datetime.now(HELSINKI) - timedelta(days=2)) + "\n")
    service = start(tmp_path, "--follow", str(feed), "--from-start", "--tick", "0.2")
    ready(service)
    got = tmp_path / "received.jsonl"
    wait_for(lambda: any(r.get("lead") == "L-1" for r in received(got)))
    time.sleep(0.5)  # a tick or two
    service.send_signal(signal.SIGTERM)
    _, err = service.communicate(timeout=30)
    assert "older than the allowed lateness" not in err
    with SqliteStore(tmp_path / "leads.db") as store:
        assert list(store.engine.leads()) == ["L-1"]
        assert store.engine.clock is not None
        assert store.engine.clock > datetime.now(HELSINKI) - timedelta(minutes=1)  # ticked


def test_at_the_end_of_its_input_everything_pending_is_delivered(
    tmp_path: pathlib.Path,
) -> None:
    lines = "".join(event(n, datetime(2026, 3, 6, 9, tzinfo=HELSINKI) + timedelta(seconds=n))
                    + "\n" for n in range(400))  # fmt: skip
    service = start(tmp_path, "--tick", "0")
    _, err = service.communicate(lines, timeout=120)
    assert service.returncode == 0, err
    with SqliteStore(tmp_path / "leads.db") as store:
        assert store.outbox_counts() == (0, 0)
        assert len(received(tmp_path / "received.jsonl")) > 1000  # more than one pass


def test_a_byte_order_mark_is_not_part_of_the_first_line(tmp_path: pathlib.Path) -> None:
    from leadsla._shell.service import LineSource

    read, write = os.pipe()
    os.write(write, b"\xef\xbb\xbf" + event(1).encode() + b"\n" + event(2).encode() + b"\n")
    os.close(write)
    source = LineSource(read, follow=False)
    lines = list(source.lines(1.0))
    os.close(read)
    assert [json.loads(text)["lead"] for _, text, _ in lines] == ["L-1", "L-2"]
    assert lines[0][2] == 3 + len(event(1)) + 1  # the mark's bytes are counted


def test_two_services_share_a_postgresql_store(tmp_path: pathlib.Path, postgres_db: str) -> None:
    """Two `leadsla run` processes on one PostgreSQL store, each fed its own leads: both
    keep them, and together they deliver every effect once."""
    PostgresStore(postgres_db, partitions=8).close()
    services = [start(tmp_path, "--tick", "0", db=postgres_db) for _ in range(2)]
    for number, service in enumerate(services):
        ready(service)
        assert service.stdin is not None
        service.stdin.write("".join(event(n) + "\n" for n in range(number * 20, number * 20 + 20)))
        service.stdin.close()
    for service in services:
        service.wait(timeout=60)
        assert service.returncode == 0, service.stderr.read() if service.stderr else ""
        for pipe in (service.stdout, service.stderr):
            if pipe is not None:
                pipe.close()
    with PostgresStore(postgres_db) as store:
        assert sorted(store.leads()) == sorted(f"L-{n}" for n in range(40))
        assert store.outbox_counts() == (0, 0)
        ids = [r["id"] for r in received(tmp_path / "received.jsonl")]
        assert len(ids) == len(set(ids)), "an effect was delivered twice"
        assert sorted(ids) == sorted(row[0] for row in store._rows("select id from outbox"))


def test_a_store_that_cannot_keep_lines_stops_the_service(
    tmp_path: pathlib.Path, postgres_db: str
) -> None:
    """The database connection is lost: the service does not skip line after line (they would
    be lost), it stops with the store's error, and the lines are kept after a restart."""
    import psycopg

    service = start(tmp_path, "--tick", "0", db=postgres_db)
    ready(service)
    assert service.stdin is not None
    service.stdin.write(event(1) + "\n")
    service.stdin.flush()
    with PostgresStore(postgres_db) as store:
        wait_for(lambda: store.inputs == 1)
    with psycopg.connect(postgres_db, autocommit=True) as admin:
        admin.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity "
            "where datname = current_database() and pid <> pg_backend_pid()"
        )
    service.stdin.write(event(2) + "\n" + event(3) + "\n")
    service.stdin.close()
    service.wait(timeout=30)
    assert service.stderr is not None
    err = service.stderr.read()
    assert service.returncode == 1, err
    assert "leadsla: 'store' could not " in err, err  # keep the input, or read, or ack
    assert "stdin:2" not in err, "the line was reported and skipped"
    for pipe in (service.stdout, service.stderr):
        if pipe is not None:
            pipe.close()
    again = start(tmp_path, "--tick", "0", db=postgres_db)
    _, err = again.communicate(event(2) + "\n" + event(3) + "\n", timeout=30)
    assert again.returncode == 0, err
    with PostgresStore(postgres_db) as store:
        assert sorted(store.leads()) == ["L-1", "L-2", "L-3"]
