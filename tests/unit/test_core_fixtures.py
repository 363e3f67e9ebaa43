"""Helpers shared by the core's tests: a metro core on a temporary database,
party bodies, database snapshots and the invariants of issue 3."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import or_, select

from controller import capacity
from controller.core import ServiceCore
from controller.errors import ServiceError
from controller.model import (
    ADMIN,
    DELETED,
    ETHERNET_KINDS,
    HOLDING_MEMBER_STATES,
    KINDS,
    LEAVING,
    LIVE_MEMBER_STATES,
    SECURE_BANDWIDTH,
    SUSPENDED,
    Actor,
)
from controller.provisioning import ProvisionResult, Settled
from controller.schema import APP_TABLES, interfaces, members, offers, reservations, services
from controller.store import Store, open_store
from flows.intent import ServiceIntent
from topology import load_topology
from topology.model import PortRef

METRO = Path(__file__).resolve().parents[2] / "mininet_scenarios" / "metro.yaml"
ADMIN_TOKEN = "admin-secret-for-tests"
# Edge ports of the metro tree: (switch, port) for each host h1..h8.
HOST_PORTS = [("acc1", 2), ("acc1", 3), ("acc2", 2), ("acc2", 3),
              ("acc3", 2), ("acc3", 3), ("acc4", 2), ("acc4", 3)]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class RecordingProvisioner:
    """Records every intent; fails when `fail_for` names a member's party."""

    def __init__(self) -> None:
        self.intents: list[ServiceIntent] = []
        self.fail_for: set[str] = set()
        self.away: set[str] = set()  # switches that cannot confirm a change

    def submit(self, intent: ServiceIntent) -> Settled:
        self.intents.append(intent)
        bad = [m.party for m in intent.members if m.party in self.fail_for]
        if bad:
            return Settled(ProvisionResult(ok=False, switches={"acc1": "failed: refused"},
                                           error=f"switch refused rules for {bad[0]}"))
        if self.away:
            return Settled(ProvisionResult(
                ok=not intent.members, switches=dict.fromkeys(
                    sorted(self.away), "failed: switch not connected")))
        return Settled(ProvisionResult(ok=True, switches={"acc1": "installed"}
                                       if intent.members else {}))


def metro_topology():
    return load_topology(METRO)


# Set by the `core_engine` fixture while a test runs on PostgreSQL: the session's
# databases, and the one database made for each directory the test used.
PG_DATABASES: list[Any] = []
PG_URLS: dict[Path, str] = {}


def store_url(path: Path) -> str:
    """The database of a core test's directory: `core.db` in it, or on PostgreSQL
    a fresh database of its own (the same one each time the directory is reopened)."""
    if not PG_DATABASES:
        return str(path / "core.db")
    if path not in PG_URLS:
        PG_URLS[path] = PG_DATABASES[0].create()
    return PG_URLS[path]


def make_core(path: Path, clock: Clock | None = None, pool: Any = range(2, 4095),
              store: Store | None = None, **kwargs: Any) -> ServiceCore:
    store = store or open_store(store_url(path))
    return ServiceCore(metro_topology(), store, admin_token=ADMIN_TOKEN, vlan_pool=pool,
                       clock=clock or Clock(), **kwargs)


def mac(n: int) -> str:
    return f"02:00:00:00:00:{n:02x}"


def party_body(name: str, ports: list[tuple[str, int]], kinds: tuple[str, ...] = KINDS,
               bandwidth: int = 10000, channels: int = 10, status: str = "active",
               first_mac: int = 1) -> dict[str, Any]:
    return {"name": name,
            "account": {"status": status, "service_kinds": list(kinds),
                        "max_bandwidth_mbps": bandwidth, "max_channels": channels},
            "interfaces": [{"name": f"{name}-if{i}", "switch": sw, "port": port,
                            "mac": mac(first_mac + i), "location": "rack 1"}
                           for i, (sw, port) in enumerate(ports)]}


def ethernet_body(name: str, interface: str, type_: str = "point-to-point",
                  bandwidth: int = 100, kind: str = "ethernet-channel") -> dict[str, Any]:
    return {"name": name, "kind": kind, "interface": interface,
            "attributes": {"type": type_, "bandwidth_mbps": bandwidth}}


def snapshot(store: Store) -> dict[str, list[tuple]]:
    """Every row of every table, to prove a refusal changed nothing."""
    with store.read() as conn:
        return {t.name: sorted(tuple(map(repr, row)) for row in conn.execute(select(t)))
                for t in APP_TABLES}


def refused(call: Any, store: Store, code: str, status: int | None = None) -> ServiceError:
    """Run `call`, expect a refusal with `code`, and check the store did not change."""
    before = snapshot(store)
    with pytest.raises(ServiceError) as info:
        call()
    assert info.value.code == code, info.value
    if status is not None:
        assert info.value.status == status
    assert snapshot(store) == before, f"refusal {code} changed the store"
    return info.value


def check_invariants(core: ServiceCore, store: Store) -> None:
    """The invariants of issue 3, read straight from the database."""
    topology = core.topology
    with store.read() as conn:
        # A service holds its VLAN and reservations while it is live, and, torn
        # down, while a member is still leaving (a switch has yet to confirm).
        held = conn.execute(select(members, interfaces.c.switch, interfaces.c.port)
                            .join(interfaces, interfaces.c.id == members.c.interface_id)
                            .where(members.c.state.in_(HOLDING_MEMBER_STATES))).mappings().all()
        waiting = {m["service_id"] for m in held if m["state"] in (LEAVING, SUSPENDED)}
        live = conn.execute(select(services).where(or_(
            services.c.state != DELETED, services.c.id.in_(waiting)))).mappings().all()
        vlan_users = Counter(s["vlan"] for s in live if s["vlan"] is not None)
        assert all(n == 1 for n in vlan_users.values()), vlan_users
        by_iface = Counter((m["interface_id"], m["ce_vlan"]) for m in held)
        assert all(n == 1 for n in by_iface.values()), by_iface
        rows = [m for m in held if m["state"] in LIVE_MEMBER_STATES]
        live_ids = {s["id"] for s in live}
        assert all(m["service_id"] in live_ids for m in held)
        expected: dict[str, int] = {}
        for service in live:
            mine = [m for m in rows if m["service_id"] == service["id"]]
            holding = [m for m in held if m["service_id"] == service["id"]]
            if service["attributes"].get("type") == "point-to-point":
                assert len(mine) <= 2, service
            if service["kind"] in ETHERNET_KINDS and service["state"] == DELETED:
                assert service["vlan"] is not None and not mine, (service, holding)
            elif service["kind"] in ETHERNET_KINDS:
                holds_vlan = len(mine) >= 2 or service["id"] in waiting
                assert (service["vlan"] is not None) == holds_vlan, (service, holding)
                owner = [m for m in mine if m["party_id"] == service["owner_id"]]
                others = [m for m in mine if m["party_id"] != service["owner_id"]]
                # Nobody is left half-provisioned once a call returned.
                assert all(m["state"] == "provisioned" for m in others), mine
                assert all(m["state"] == ("provisioned" if others else "accepted")
                           for m in owner), mine
                assert service["state"] == ("active" if others else "pending")
            if service["kind"] == SECURE_BANDWIDTH:
                ports = [PortRef(m["switch"], m["port"]) for m in holding]
                bw = service["attributes"]["bandwidth_mbps"]
                for link, mbps in capacity.hose(topology, ports, bw).items():
                    expected[link] = expected.get(link, 0) + mbps
        stored: dict[str, int] = {}
        for row in conn.execute(select(reservations)).mappings():
            assert row["service_id"] in live_ids
            stored[row["link"]] = stored.get(row["link"], 0) + row["mbps"]
        assert stored == {k: v for k, v in expected.items() if v}
        for link in topology.links:
            assert stored.get(capacity.link_id(link), 0) <= link.capacity_mbps
        # Every accepted offer's member is provisioned or failed (or gone since).
        accepted = conn.execute(select(offers.c.service_id, offers.c.party_id).join(
            services, services.c.id == offers.c.service_id).where(
            offers.c.state == "accepted", services.c.kind.in_(ETHERNET_KINDS))).all()
        for service_id, party_id in accepted:
            states = conn.execute(select(members.c.state).where(
                members.c.service_id == service_id, members.c.party_id == party_id)
                .order_by(members.c.id)).scalars().all()
            # Or still leaving: a switch refused or missed its removal (it holds the rules).
            assert states and states[-1] in ("provisioned", "failed", "removed", LEAVING,
                                             SUSPENDED), states
        pending_to_deleted = conn.execute(select(offers.c.id).join(
            services, services.c.id == offers.c.service_id).where(
            offers.c.state == "pending", services.c.state == DELETED)).all()
        assert not pending_to_deleted


@dataclass
class World:
    core: ServiceCore
    store: Store
    clock: Clock
    net: RecordingProvisioner
    alice: Actor
    bob: Actor
    carol: Actor
    dave: Actor


def build_world(path: Path, pool: Any = range(2, 4095), url: str | None = None) -> World:
    """Four parties with two interfaces each, on acc1..acc4, and a recording network
    (in the database at `url`, else the one of `path`)."""
    clock = Clock()
    core = make_core(path, clock=clock, pool=pool, store=open_store(url) if url else None)
    net = RecordingProvisioner()
    core.set_provisioner("ethernet", net)
    actors = []
    for i, name in enumerate(("alice", "bob", "carol", "dave")):
        ports = [(f"acc{i + 1}", 2), (f"acc{i + 1}", 3)]
        body = party_body(name, ports, first_mac=10 * (i + 1))
        actors.append(core.authenticate(core.create_party(ADMIN, body)["token"]))
    return World(core, core._ctx.store, clock, net, *actors)


def p2p(w: World, kind: str = "ethernet-channel", type_: str = "point-to-point",
        bandwidth: int = 100, name: str = "s1") -> dict:
    return w.core.create_service(w.alice, ethernet_body(name, "alice-if0", type_, bandwidth,
                                                        kind))


def offer_and_accept(w: World, service_id: int, actor: Actor, interface: str) -> dict:
    offer = w.core.create_offer(w.alice, service_id, {"party": actor.name})
    return w.core.accept_offer(actor, offer["id"], {"interface": interface})
