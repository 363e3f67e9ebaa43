"""The PostgreSQL pools: a connection idle for a while is pinged before use, and
a dead one replaced without failing the request; one just used is not pinged."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from controller import store as store_module
from controller.store import Store, dedicated_connection, open_store

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
