"""VLAN allocation: lowest free tag of the pool, never shared by live services,
and the database refuses a double allocation the core did not see."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import insert

from controller.errors import ServiceError
from controller.schema import parties, services
from controller.store import open_store
from controller.vlans import allocate, check_pool


def _service(conn, vlan, state="active", name="s"):
    conn.execute(insert(services).values(name=name, kind="ethernet-channel", attributes={},
                                         owner_id=1, state=state, vlan=vlan, provisioning={},
                                         created_at=0.0))


@pytest.fixture
def store(tmp_path: Path):
    store = open_store(str(tmp_path / "v.db"))
    with store.transaction() as conn:
        conn.execute(insert(parties).values(id=1, name="p", token_hash="h", status="active",
                                            service_kinds=[], max_bandwidth_mbps=1,
                                            max_channels=1, created_at=0.0))
    return store


def test_lowest_free_tag_skipping_live_services_only(store) -> None:
    with store.transaction() as conn:
        assert allocate(conn, range(2, 10)) == 2
        _service(conn, 2, name="a")
        _service(conn, 3, name="b")
        _service(conn, 4, state="deleted", name="c")
        assert allocate(conn, range(2, 10)) == 4
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
