"""The store: migrations from an empty database, WAL, and state that survives
closing and reopening mid-sequence, including a stop during provisioning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text

from controller.migrations import head
from controller.model import ADMIN
from controller.store import open_store
from tests.unit.test_core_fixtures import (
    ADMIN_TOKEN,
    RecordingProvisioner,
    build_world,
    check_invariants,
    ethernet_body,
    make_core,
    offer_and_accept,
    p2p,
    party_body,
    snapshot,
)


def test_empty_database_is_migrated(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "new.db"))
    assert store.version == head()
    tables = set(inspect(store.engine).get_table_names())
    assert {"alembic_version", "parties", "interfaces", "services", "members", "offers",
            "reservations", "orders", "events"} <= tables
    with store.read() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head()
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    store.close()
    # Opening again migrates nothing and keeps one revision row.
    again = open_store(f"sqlite:///{tmp_path / 'new.db'}")
    with again.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    again.close()


def test_database_at_version_zero_is_brought_up(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE schema_version (version INTEGER NOT NULL)"))
        conn.execute(text("INSERT INTO schema_version VALUES (0)"))
    engine.dispose()
    store = open_store(str(tmp_path / "old.db"))
    assert store.version == head()
    assert "services" in inspect(store.engine).get_table_names()


def test_newer_database_is_refused(tmp_path: Path) -> None:
    open_store(str(tmp_path / "db")).close()
    engine = create_engine(f"sqlite:///{tmp_path / 'db'}")
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    with pytest.raises(RuntimeError, match="newer"):
        open_store(str(tmp_path / "db"))


def _views(core, actors) -> list:
    return [core.list_services(ADMIN), core.list_offers(ADMIN), core.list_parties(ADMIN),
            core.list_orders(ADMIN), core.list_events(ADMIN), core.topology_view(ADMIN),
            core.desired_intents(), [core.me(a) for a in actors]]


def test_close_and_reopen_mid_sequence_keeps_everything(tmp_path: Path) -> None:
    world = build_world(tmp_path)
    core, actors = world.core, (world.alice, world.bob, world.carol, world.dave)
    secure = p2p(world, kind="secure-bandwidth", type_="multipoint-to-multipoint", bandwidth=200)
    offer_and_accept(world, secure["id"], world.bob, "bob-if0")
    pending = world.core.create_offer(world.alice, secure["id"], {"party": "carol"})
    code = world.core.create_offer(world.alice, secure["id"], {})["code"]
    water = world.core.create_service(world.carol, {
        "name": "w", "kind": "water", "interface": "carol-if1",
        "attributes": {"quantity": 2, "unit": "m3", "location": "x"}})
    offer = world.core.create_offer(world.carol, water["id"], {"party": "dave"})
    world.core.accept_offer(world.dave, offer["id"], {"interface": "dave-if1"})
    before, views = snapshot(world.store), _views(core, actors)
    world.store.close()

    store = open_store(str(tmp_path / "core.db"))
    reopened = make_core(tmp_path, clock=world.clock, store=store)
    reopened.set_provisioner("ethernet", RecordingProvisioner())
    assert snapshot(store) == before
    assert _views(reopened, actors) == views
    # Offers and codes made before the restart still work after it.
    reopened.accept_offer(world.carol, pending["id"], {"interface": "carol-if0"})
    reopened.accept_invitation(world.dave, {"code": code, "interface": "dave-if0"})
    view = reopened.get_service(ADMIN, secure["id"])
    assert [m["state"] for m in view["members"]] == ["provisioned"] * 4
    check_invariants(reopened, store)


def test_party_tokens_survive_a_restart(tmp_path: Path) -> None:
    core = make_core(tmp_path)
    token = core.create_party(ADMIN, party_body("erin", [("acc1", 9)]))["token"]
    core._ctx.store.close()
    again = make_core(tmp_path)
    assert again.authenticate(token).name == "erin"
    assert again.authenticate(ADMIN_TOKEN).is_admin


class Crash(BaseException):
    """Stands for the process dying inside the provisioner."""


def test_stop_during_provisioning_leaves_member_failed_after_restart(tmp_path: Path) -> None:
    world = build_world(tmp_path)

    class Dying:
        def submit(self, intent):
            raise Crash()

    service = p2p(world, kind="secure-bandwidth")
    world.core.set_provisioner("ethernet", Dying())
    with pytest.raises(Crash):
        offer_and_accept(world, service["id"], world.bob, "bob-if0")
    world.store.close()
    core = make_core(tmp_path, clock=world.clock)
    view = core.get_service(ADMIN, service["id"])
    assert view["state"] == "pending" and view["vlan"] is None
    assert [m["state"] for m in view["members"]] == ["accepted", "failed"]
    assert "stopped" in view["members"][1]["error"]
    assert core.topology_view(ADMIN)["links"][0]["reserved_mbps"] == 0
    check_invariants(core, core._ctx.store)
    offer = core.create_offer(world.alice, service["id"], {"party": "bob"})
    assert core.accept_offer(world.bob, offer["id"], {"interface": "bob-if0"})[
        "service"]["state"] == "active"


def test_owner_waiting_alone_is_not_failed_by_a_restart(tmp_path: Path) -> None:
    world = build_world(tmp_path)
    world.core.create_service(world.alice, ethernet_body("s", "alice-if0"))
    world.store.close()
    core = make_core(tmp_path)
    assert core.list_services(ADMIN)[0]["members"][0]["state"] == "accepted"


def test_database_at_version_one_gains_the_write_gate(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'v1.db'}")
    with engine.begin() as conn:  # version 2 without its step: version 1
        for statement in (Path(__file__).parent / "schema_v2.sql").read_text().split(";"):
            if statement.strip():
                conn.exec_driver_sql(statement)
        conn.execute(text("DROP TABLE write_gate"))
        conn.execute(text("INSERT INTO schema_version VALUES (1)"))
    engine.dispose()
    store = open_store(str(tmp_path / "v1.db"))
    assert store.version == head()
    with store.transaction() as conn:
        pass
    with store.read() as conn:
        assert conn.execute(text("SELECT generation FROM write_gate")).scalar() == 1


def _layout(engine) -> dict[str, Any]:
    """Columns, indexes and foreign keys of every table, as the database reports them."""
    found = inspect(engine)
    return {table: (sorted((c["name"], str(c["type"]), c["nullable"])
                           for c in found.get_columns(table)),
                    sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                           for i in found.get_indexes(table)),
                    sorted((tuple(k["constrained_columns"]), k["referred_table"])
                           for k in found.get_foreign_keys(table)))
            for table in found.get_table_names()}


def test_database_at_version_two_gains_the_request_path_indexes(tmp_path: Path) -> None:
    """A version-2 database is upgraded in place to the layout a new one gets:
    the indexes of the request path, and offers that know their service's owner."""
    from controller import tokens
    from controller.schema import REQUEST_PATH_INDEXES

    engine = create_engine(f"sqlite:///{tmp_path / 'v2.db'}")
    with engine.begin() as conn:
        for statement in (Path(__file__).parent / "schema_v2.sql").read_text().split(";"):
            if statement.strip():
                conn.exec_driver_sql(statement)
        for name, token in (("acme", "token-a"), ("beta", "token-b")):
            conn.execute(text(
                "INSERT INTO parties (name, token_hash, status, service_kinds, "
                "max_bandwidth_mbps, max_channels, created_at) VALUES "
                "(:name, :hash, 'active', '[\"ethernet-channel\"]', 100, 5, 0)"),
                {"name": name, "hash": tokens.digest(token)})
        conn.execute(text(
            "INSERT INTO interfaces (party_id, name, switch, port, mac, location) "
            "VALUES (1, 'a1', 'acc1', 2, '00:00:00:00:00:01', '')"))
        conn.execute(text(
            "INSERT INTO services (name, kind, attributes, owner_id, state, vlan, "
            "provisioning, created_at) VALUES ('s', 'ethernet-channel', "
            "'{\"type\": \"point-to-point\", \"bandwidth_mbps\": 10}', 1, 'pending', NULL, "
            "'{}', 0)"))
        conn.execute(text(
            "INSERT INTO members (service_id, party_id, interface_id, role, state, created_at) "
            "VALUES (1, 1, 1, 'peer', 'accepted', 0)"))
        conn.execute(text(
            "INSERT INTO offers (service_id, party_id, state, expires_at, created_at) "
            "VALUES (1, 2, 'pending', 9e9, 0)"))
        conn.execute(text("INSERT INTO write_gate VALUES (1, 0)"))
        conn.execute(text("INSERT INTO schema_version VALUES (2)"))
    engine.dispose()

    store = open_store(str(tmp_path / "v2.db"))
    assert store.version == head()
    fresh = open_store(str(tmp_path / "fresh.db"))
    assert _layout(store.engine) == _layout(fresh.engine)
    indexes = {i["name"] for t in ("members", "services", "offers", "orders", "events")
               for i in inspect(store.engine).get_indexes(t)}
    assert {index.name for index in REQUEST_PATH_INDEXES} <= indexes
    with store.read() as conn:
        assert conn.execute(text("SELECT owner_id FROM offers")).scalar() == 1
    core = make_core(tmp_path, store=store)
    acme, beta = core.authenticate("token-a"), core.authenticate("token-b")
    assert [o["owner"] for o in core.list_offers(acme)] == ["acme"]
    assert [o["party"] for o in core.list_offers(beta)] == ["beta"]
    assert [s["name"] for s in core.list_services(acme)] == ["s"]
    fresh.close()


def test_a_member_whose_port_became_a_fiber_port_fails_at_start_alone(tmp_path: Path) -> None:
    """The topology file was edited: alice's port acc1:2 now leads to a new switch.
    Her member fails, naming why; the other services start as usual."""
    from controller.core import ServiceCore
    from tests.unit.test_core_fixtures import ADMIN_TOKEN, metro_topology
    from topology.model import Link, PortRef, Switch, Topology

    world = build_world(tmp_path)
    broken = p2p(world)
    offer_and_accept(world, broken["id"], world.bob, "bob-if0")
    fine = world.core.create_service(world.carol, {
        "name": "c1", "kind": "ethernet-channel", "interface": "carol-if0",
        "attributes": {"type": "point-to-point", "bandwidth_mbps": 10}})
    offer = world.core.create_offer(world.carol, fine["id"], {"party": "dave"})
    world.core.accept_offer(world.dave, offer["id"], {"interface": "dave-if0"})
    world.store.close()
    old = metro_topology()
    edited = Topology([*old.switches.values(), Switch("acc9", 99, "access")],
                      [*old.links, Link(PortRef("acc1", 2), PortRef("acc9", 1), 10000)])
    core = ServiceCore(edited, open_store(str(tmp_path / "core.db")), admin_token=ADMIN_TOKEN)
    view = core.get_service(ADMIN, broken["id"])
    alice = next(m for m in view["members"] if m["party"] == "alice")
    assert alice["state"] == "failed" and "acc1:2" in alice["error"]
    assert view["state"] == "pending" and view["vlan"] is None
    assert core.get_service(ADMIN, fine["id"])["state"] == "active"
    assert [i.service_id for i in core.desired_intents() if i.members] == [fine["id"]]
