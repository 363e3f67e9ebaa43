"""Shared fixtures. Tests that touch Open vSwitch or Mininet take one lock,
so two runs on one machine never tear down each other's bridges. Tests of the
core run on SQLite and on PostgreSQL (fresh databases copied from one
migrated template per session, which is fast)."""

from __future__ import annotations

import fcntl
import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.schema import metadata
from controller.store import dedicated_connection, open_store
from tests.harness import METRO_YAML, Controller, running_controller
from tests.unit import test_core_fixtures

NETWORK_LOCK = "/tmp/metroshare-network.lock"


@pytest.fixture(scope="session")
def metro_yaml() -> Path:
    return METRO_YAML


@pytest.fixture
def network_lock() -> Iterator[None]:
    """Exclusive use of OVS and Mininet on this machine for one test."""
    if os.geteuid() != 0 or not shutil.which("ovs-vsctl") or not shutil.which("mnexec"):
        pytest.fail("network tests need root, Open vSwitch and Mininet: run `make test`")
    with open(NETWORK_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture
def controller(tmp_path: Path) -> Iterator[Controller]:
    """The real controller on free ports, loaded with the demo tree."""
    with running_controller(tmp_path) as running:
        yield running


PG_SOCKET = "/var/run/postgresql"


def pg_url_of(name: str) -> str:
    """The contract's form of a local PostgreSQL database's URL."""
    return f"postgresql://root@/{name}?host={PG_SOCKET}"


class PgDatabases:
    """Fresh databases of this session, copies of the migrated template. CREATE
    DATABASE costs ~0.4 s (fsync), so a returned database is emptied (TRUNCATE,
    ~20 ms), its seed rows put back, and handed out again."""

    def __init__(self, template: str) -> None:
        self.template = template
        self._names = (f"{template}_{n}" for n in itertools.count())
        self._free: list[str] = []
        self._made: list[str] = []

    def sql(self, statement: str, database: str = "postgres") -> None:
        conn = dedicated_connection(pg_url_of(database))
        try:
            conn.cursor().execute(statement)
        finally:
            conn.close()

    def create(self) -> str:
        if self._free:
            return pg_url_of(self._free.pop())
        name = next(self._names)
        self.sql(f"CREATE DATABASE {name} TEMPLATE {self.template}")
        self._made.append(name)
        return pg_url_of(name)

    def drop(self, url: str) -> None:
        """Empty the database (ending the test's own connections) for reuse."""
        name = url.split("/")[3].split("?")[0]
        self.sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                 f"WHERE datname = '{name}' AND pid <> pg_backend_pid()")
        tables = ", ".join(t.name for t in metadata.sorted_tables)
        self.sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE; "
                 "INSERT INTO write_gate VALUES (1, 0); "
                 "INSERT INTO leadership (id, generation) VALUES (1, 0)", name)
        self._free.append(name)

    def drop_all(self) -> None:
        for name in [*self._made, self.template]:
            self.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[PgDatabases]:
    """A template database migrated once per session."""
    dbs = PgDatabases(f"ms_test_{os.getpid()}")
    try:
        dbs.sql(f"CREATE DATABASE {dbs.template}")
    except Exception as exc:  # noqa: BLE001 - any failure means no usable server
        pytest.fail(f"PostgreSQL is not reachable on {PG_SOCKET} as root ({exc}): "
                    "run `make test`")
    try:
        open_store(pg_url_of(dbs.template)).close()
        yield dbs
    finally:
        dbs.drop_all()


@pytest.fixture
def pg_url(pg_databases: PgDatabases) -> Iterator[str]:
    """A migrated, empty PostgreSQL database of its own."""
    url = pg_databases.create()
    yield url
    pg_databases.drop(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database on each engine."""
    if request.param == "sqlite":
        yield str(tmp_path / "core.db")
    else:
        yield request.getfixturevalue("pg_url")


@pytest.fixture(params=["sqlite", "postgresql"])
def core_engine(request: pytest.FixtureRequest) -> Iterator[str]:
    """Runs a core test on each engine: `test_core_fixtures.store_url` maps each
    directory a test opens a store in to its own fresh database."""
    if request.param == "sqlite":
        yield request.param
        return
    dbs = request.getfixturevalue("pg_databases")
    test_core_fixtures.PG_DATABASES.append(dbs)
    try:
        yield request.param
    finally:
        test_core_fixtures.PG_DATABASES.clear()
        for url in test_core_fixtures.PG_URLS.values():
            dbs.drop(url)
        test_core_fixtures.PG_URLS.clear()
