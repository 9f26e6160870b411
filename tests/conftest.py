"""Shared test configuration: Hypothesis profiles, and a PostgreSQL server for the store tests.

``HYPOTHESIS_PROFILE=ci`` (what ``.ci/run`` sets) is derandomized and bounded, so CI is
reproducible; the default ``dev`` profile explores randomly.
"""

import itertools
import os
import pathlib
from collections.abc import Iterator
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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server of its own for the session (see leadsla.testing.postgres_server):
    its connection string. Skipped, with the reason, when PostgreSQL or psycopg is missing
    (failed instead when LEADSLA_REQUIRE_POSTGRES is set, as in CI)."""
    from leadsla.testing import PostgresUnavailable, postgres_server

    try:
        with postgres_server() as conninfo:
            yield conninfo
    except PostgresUnavailable as why:  # raised on entering only
        if os.environ.get("LEADSLA_REQUIRE_POSTGRES"):  # CI: a skip would hide a failure
            pytest.fail(f"PostgreSQL is required here (LEADSLA_REQUIRE_POSTGRES): {why}")
        pytest.skip(f"PostgreSQL store tests skipped: {why}")


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


# -- a headless browser --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium() -> str:
    """The path of a Chromium to run headless (Debian's package: /usr/bin/chromium), for the
    checks of the HTML report in a real browser. Skipped, with the reason, when there is none
    (failed instead when LEADSLA_REQUIRE_CHROMIUM is 1, as in CI once it could install one)."""
    import shutil

    found = shutil.which("chromium")
    if found is None:
        why = "Chromium is not installed: apt-get install chromium"
        if os.environ.get("LEADSLA_REQUIRE_CHROMIUM") == "1":  # CI: a skip would hide a failure
            pytest.fail(f"{why} (LEADSLA_REQUIRE_CHROMIUM is 1)")
        pytest.skip(why)
    return found
