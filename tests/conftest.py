"""Shared test configuration: Hypothesis profiles, and a PostgreSQL server for the store tests.

``HYPOTHESIS_PROFILE=ci`` (what ``.ci/run`` sets) is derandomized and bounded, so CI is
reproducible; the default ``dev`` profile explores randomly.
"""

import contextlib
import itertools
import os
import pathlib
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=60,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "heavy", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


# -- a throwaway PostgreSQL server ---------------------------------------------------------------


def _postgres_binaries() -> tuple[str, str] | str:
    """initdb and pg_ctl, or why there are none."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'leadsla[postgres]')"
    found = [shutil.which(name) for name in ("initdb", "pg_ctl")]
    if None in found:
        extra = sorted(pathlib.Path("/usr/lib/postgresql").glob("*/bin"))
        found = [shutil.which(n, path=":".join(map(str, extra))) for n in ("initdb", "pg_ctl")]
    if None in found:
        return "PostgreSQL's initdb and pg_ctl are not on PATH"
    return found[0] or "", found[1] or ""


def _unprivileged() -> dict[str, Any]:
    """How to run the server: as ourselves, or (as root, which PostgreSQL refuses) as the
    ``postgres`` user, else ``nobody``."""
    if os.geteuid() != 0:
        return {}
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    raise RuntimeError("running as root with neither a postgres nor a nobody user")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server of its own in a temporary folder, for the session: its
    connection string (to the ``postgres`` database). Skipped, with the reason, when
    PostgreSQL or psycopg is missing."""
    binaries = _postgres_binaries()
    if isinstance(binaries, str):
        pytest.skip(f"PostgreSQL store tests skipped: {binaries}")
    initdb, pg_ctl = binaries
    home = pathlib.Path(tempfile.mkdtemp(prefix="leadsla-pg-"))
    who = _unprivileged()
    if who:
        os.chown(home, who["user"], who["group"])
    data, log = home / "data", home / "log"
    run: Callable[..., Any] = lambda *a: subprocess.run(  # noqa: E731
        a, check=True, capture_output=True, text=True, cwd=home, **who
    )
    try:
        run(initdb, "-D", str(data), "-U", "leadsla", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = (
            f"-k {home} -c listen_addresses='' -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=60"
        )
        run(pg_ctl, "-D", str(data), "-o", options, "-l", str(log), "-w", "-t", "60", "start")
    except subprocess.CalledProcessError as error:
        shutil.rmtree(home, ignore_errors=True)
        pytest.fail(f"could not start PostgreSQL: {error.stderr or error.stdout}")
    try:
        yield f"host={home} user=leadsla dbname=postgres"
    finally:
        subprocess.run(
            [pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            cwd=home,
            check=False,
            **who,
        )
        shutil.rmtree(home, ignore_errors=True)


_databases = itertools.count()


@pytest.fixture
def postgres_db(postgres_server: str) -> Iterator[str]:
    """A new, empty database on the session's server: its connection string."""
    import psycopg

    name = f"test_{os.getpid()}_{next(_databases)}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f"create database {name}")
    try:
        yield postgres_server.replace("dbname=postgres", f"dbname={name}")
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute(f"drop database if exists {name} with (force)")


class StoreOpener:
    """Opens one store again and again: ``opener(agreement, **settings)`` (``partitions``
    is for PostgreSQL: a SQLite store is one partition). ``kind`` is
    "sqlite" or "postgres"; ``location`` what ``leadsla`` commands take (a file's path, a
    connection string)."""

    def __init__(self, kind: str, location: str) -> None:
        self.kind, self.location = kind, location

    def __call__(self, agreement: Any = None, **settings: Any) -> Any:
        from leadsla import PostgresStore, SqliteStore

        if self.kind == "sqlite":
            settings.pop("partitions", None)  # a SQLite store is one partition
            return SqliteStore(self.location, agreement, **settings)
        return PostgresStore(self.location, agreement, **settings)


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> StoreOpener:
    """Opens a store of each kind, always the same one within a test (a SQLite file in the
    test's folder; a PostgreSQL database of its own)."""
    if request.param == "sqlite":
        return StoreOpener("sqlite", str(tmp_path / "store.db"))
    return StoreOpener("postgres", request.getfixturevalue("postgres_db"))
