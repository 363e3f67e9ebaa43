"""The PostgreSQL pools: a connection idle for a while is pinged before use, and
a dead one replaced without failing the request; one just used is not pinged; a
process opens no more connections than it is given, and needs no more than two."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from controller import store as store_module
from controller.core import ServiceCore
from controller.store import MIN_CONNECTIONS, Store, dedicated_connection, open_store, pool_sizes
from tests.unit.test_core_fixtures import (
    ADMIN_TOKEN,
    build_world,
    metro_topology,
    offer_and_accept,
    p2p,
)

BACKEND = text("SELECT pg_backend_pid()")


@pytest.fixture
def store(pg_url: str) -> Iterator[Store]:
    opened = open_store(pg_url)
    yield opened
    opened.close()


def counting_pings(store: Store) -> list[int]:
    """Count the pings of both pools (the dialect's own ping, still done)."""
    pings: list[int] = []
    for engine in (store.engine, store.reader):
        ping = engine.dialect.do_ping

        def counted(dbapi_connection: object, ping: object = ping) -> bool:
            pings.append(1)
            return ping(dbapi_connection)  # type: ignore[operator]

        engine.dialect.do_ping = counted  # type: ignore[method-assign]
    return pings


def terminate(url: str, pid: int) -> None:
    conn = dedicated_connection(url)
    try:
        conn.cursor().execute("SELECT pg_terminate_backend(%s)", (pid,))
    finally:
        conn.close()


def test_a_connection_used_just_now_is_not_pinged(store: Store) -> None:
    pings = counting_pings(store)
    for _ in range(3):
        with store.read() as conn:
            conn.execute(BACKEND)
        with store.transaction() as conn:
            conn.execute(BACKEND)
    assert pings == []


def test_an_idle_connection_is_pinged(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    pings = counting_pings(store)
    monkeypatch.setattr(store_module, "IDLE_PING_S", 0.0)
    with store.read() as conn:
        conn.execute(BACKEND)
    with store.transaction() as conn:
        conn.execute(BACKEND)
    assert len(pings) == 2


@pytest.mark.parametrize("way", ["read", "transaction"])
def test_an_idle_connection_the_server_dropped_is_replaced(
        store: Store, pg_url: str, monkeypatch: pytest.MonkeyPatch, way: str) -> None:
    opened = getattr(store, way)
    with opened() as conn:
        before = conn.execute(BACKEND).scalar_one()
    terminate(pg_url, before)
    monkeypatch.setattr(store_module, "IDLE_PING_S", 0.0)
    with opened() as conn:
        after = conn.execute(BACKEND).scalar_one()
    assert after != before


def test_connections_are_shared_a_third_for_reads() -> None:
    assert pool_sizes(30) == (20, 10)
    assert pool_sizes(MIN_CONNECTIONS) == (1, 1)
    with pytest.raises(ValueError, match="at least 2 connections, got 1"):
        pool_sizes(1)


def connections_in_use(url: str) -> int:
    """Sessions on this test's database in a statement or a transaction, besides the
    one asking (a pool's closed overflow connection is idle until its backend exits)."""
    conn = dedicated_connection(url)
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                       "current_database() AND pid <> pg_backend_pid() AND state <> 'idle'")
        return cursor.fetchone()[0]
    finally:
        conn.close()


def test_a_process_opens_no_more_connections_than_it_is_given(pg_url: str) -> None:
    store = open_store(pg_url, connections=3)  # 2 for transactions, 1 for reads
    seen: list[int] = []
    start = threading.Barrier(13)

    def work() -> None:
        start.wait()
        for _ in range(3):
            with store.transaction() as conn:
                conn.execute(text("SELECT pg_sleep(0.02)"))
            with store.read() as conn:
                conn.execute(text("SELECT pg_sleep(0.02)"))

    threads = [threading.Thread(target=work, daemon=True) for _ in range(12)]
    for thread in threads:
        thread.start()
    start.wait()
    while any(thread.is_alive() for thread in threads):
        seen.append(connections_in_use(pg_url))
    for thread in threads:
        thread.join()
    store.close()
    assert 2 <= max(seen) <= 3  # twelve at once wait their turn


def test_an_api_worker_answers_many_readers_with_one_read_connection(
        tmp_path: Path, pg_url: str) -> None:
    """A view reads the down switches and links through the connection its request
    holds: with a second one taken from the same pool, readers holding every
    connection would each wait for another, until the pool's timeout."""
    world = build_world(tmp_path, url=pg_url)
    created = p2p(world)
    accepted = offer_and_accept(world, created["id"], world.bob, "bob-if0")
    assert accepted["service"]["state"] == "active"  # only then is health read
    worker = ServiceCore(metro_topology(), open_store(pg_url, connections=MIN_CONNECTIONS),
                         admin_token=ADMIN_TOKEN, replica=True)
    listed: list[list[int]] = []

    def read() -> None:
        for _ in range(5):
            listed.append([s["id"] for s in worker.list_services(world.alice)])

    threads = [threading.Thread(target=read, daemon=True) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert not any(thread.is_alive() for thread in threads)
    assert listed == [[created["id"]]] * 40
