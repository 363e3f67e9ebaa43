"""VLAN allocation: lowest never-used free tag of the pool, else the least recently
freed, never shared by services, and the database refuses a double allocation the
core did not see."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from sqlalchemy import delete, event, insert, update

from controller.errors import ServiceError
from controller.schema import parties, services
from controller.store import open_store
from controller.vlans import allocate, check_pool, release
from tests.unit.test_core_fixtures import store_url

# Each test runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.usefixtures("core_engine")


def _service(conn, vlan, state="active", name="s"):
    conn.execute(insert(services).values(name=name, kind="ethernet-channel", attributes={},
                                         owner_id=1, state=state, vlan=vlan, provisioning={},
                                         created_at=0.0))


@pytest.fixture
def store(tmp_path: Path):
    store = open_store(store_url(tmp_path))
    with store.transaction() as conn:
        conn.execute(insert(parties).values(id=1, name="p", token_hash="h", status="active",
                                            service_kinds=[], max_bandwidth_mbps=1,
                                            max_channels=1, created_at=0.0))
    return store


def test_lowest_free_tag_skipping_every_holder(store) -> None:
    with store.transaction() as conn:
        assert allocate(conn, range(2, 10)) == 2
        _service(conn, 2, name="a")
        _service(conn, 3, name="b")
        # Torn down, but a switch has yet to confirm its rules are gone: still its tag.
        _service(conn, 4, state="deleted", name="c")
        _service(conn, None, state="deleted", name="d")
        assert allocate(conn, range(2, 10)) == 5
        assert allocate(conn, [9, 7, 8]) == 9  # the pool's own order
        with pytest.raises(ServiceError) as info:
            allocate(conn, [2, 3])
        assert info.value.code == "vlan_pool_exhausted" and info.value.status == 409


def test_database_refuses_a_vlan_twice_among_live_services(store) -> None:
    with store.transaction() as conn:
        _service(conn, 5, name="a")
        _service(conn, 5, state="deleted", name="b")  # history may repeat a tag
    with pytest.raises(ServiceError) as info:
        with store.transaction() as conn:
            _service(conn, 5, name="c")
    assert info.value.code == "vlan_pool_exhausted"


def test_pool_bounds() -> None:
    assert check_pool(range(2, 4095)) == range(2, 4095)
    assert check_pool([7, 3, 3]) == (3, 7)
    for bad in ([0, 5], [4095], range(1, 5000)):
        with pytest.raises(ValueError):
            check_pool(bad)


def test_a_freed_tag_is_reused_last_and_the_oldest_first(store) -> None:
    """Stale rules of a switch that was away may still carry a freed tag: every tag
    never used goes first, then the freed ones, least recently freed first."""
    with store.transaction() as conn:
        for tag in (2, 3, 4):
            _service(conn, tag, name=f"s{tag}")
        conn.execute(update(services).where(services.c.vlan.in_([2, 3])).values(vlan=None))
        release(conn, 3, now=10.0)
        release(conn, 2, now=20.0)
        assert allocate(conn, range(2, 6)) == 5
        _service(conn, 5, name="s5")
        assert allocate(conn, range(2, 6)) == 3  # freed longest ago
        _service(conn, 3, name="again")
        assert allocate(conn, range(2, 6)) == 2
        _service(conn, 2, name="and-again")
        with pytest.raises(ServiceError):
            allocate(conn, range(2, 6))


def test_allocation_matches_the_first_free_tag_of_any_pool(store) -> None:
    """Against the plain definition, for ranges, sorted tuples and pools in any order,
    with tags held by live services and by torn-down ones still removing their rules."""
    rng = random.Random(8)
    for round_ in range(40):
        with store.transaction() as conn:
            conn.execute(delete(services))
            held = set(rng.sample(range(1, 60), rng.randint(0, 58)))
            for n, tag in enumerate(sorted(held)):
                _service(conn, tag, name=f"s{n}")
            unheld = sorted(set(range(1, 60)) - held)
            for n, tag in enumerate(rng.sample(unheld, min(5, len(unheld)))):
                _service(conn, tag, state="deleted", name=f"d{n}")
                held.add(tag)
            for n in range(5):
                _service(conn, None, state="deleted", name=f"gone{n}")  # history
            start = rng.randint(1, 30)
            pools = [range(start, start + rng.randint(1, 40)), range(1, 61, rng.randint(1, 4)),
                     tuple(sorted(rng.sample(range(1, 61), 20))), rng.sample(range(1, 61), 15)]
            for pool in pools:
                free = [tag for tag in pool if tag not in held]
                if free:
                    assert allocate(conn, pool) == free[0], (round_, pool)
                else:
                    with pytest.raises(ServiceError):
                        allocate(conn, pool)


def test_allocation_reads_a_bounded_number_of_rows(store) -> None:
    """One statement for the default pool, however many tags are held."""
    statements: list[str] = []
    with store.transaction() as conn:
        for tag in range(2, 3002):
            _service(conn, tag, name=f"s{tag}")
    event.listen(store.engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *args: statements.append(statement))
    with store.transaction() as conn:  # where an acceptance allocates
        assert allocate(conn, range(2, 4095)) == 3002
    assert len([s for s in statements if "services" in s]) == 1
