"""Every query on the request path is served by an index (issue 8): SQLite's own
plans, read on a database of thousands of rows while lists are paged and a
service is created, offered, accepted, left and torn down."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert

from controller import tokens
from controller.model import ADMIN
from controller.schema import events, interfaces, members, offers, orders, parties, services
from tests.unit.test_core_fixtures import build_world, make_core, p2p

TABLES = "parties|interfaces|services|members|offers|orders|events|reservations"
FULL_SCAN = re.compile(rf"^SCAN ({TABLES})\b")
ACCOUNT = {"status": "active", "service_kinds": ["ethernet-channel", "water"],
           "max_bandwidth_mbps": 1000, "max_channels": 100_000}
NOW = 1_800_000_000.0


def fill(conn: Any, shared: int = 2000, small: int = 1500, small_parties: int = 150) -> int:
    """Two bulk parties in `shared` services, and small parties with a service each
    (a third torn down), offers, events and work orders, written directly; returns
    how many work orders."""
    rows: dict[Any, list[dict[str, Any]]] = {t: [] for t in (
        parties, interfaces, services, members, offers, events, orders)}

    def add(table: Any, **values: Any) -> int:
        rows[table].append({"id": len(rows[table]) + 1, **values})
        return len(rows[table])

    def party(name: str) -> int:
        return add(parties, name=name, token_hash=tokens.digest(f"token-{name}"),
                   created_at=NOW, **ACCOUNT)

    def interface(party_id: int, switch: str) -> int:
        n = len(rows[interfaces]) + 1
        return add(interfaces, party_id=party_id, name=f"if{n}", switch=switch, port=100 + n,
                   mac="02:" + ":".join(f"{b:02x}" for b in n.to_bytes(5, "big")), location="")

    def service(owner: int, name: str, kind: str, state: str, vlan: int | None) -> int:
        service_id = add(services, name=name, kind=kind, owner_id=owner, state=state, vlan=vlan,
                         attributes={"type": "point-to-point", "bandwidth_mbps": 1},
                         provisioning={}, created_at=NOW)
        add(events, at=NOW, actor="x", action="service_created", service_id=service_id,
            party=None, detail={})
        return service_id

    def member(service_id: int, party_id: int, interface_id: int, state: str) -> int:
        return add(members, service_id=service_id, party_id=party_id, interface_id=interface_id,
                   role="peer", state=state, error=None, created_at=NOW)

    bulk_a, bulk_b = party("bulka"), party("bulkb")
    smalls = [party(f"small{n}") for n in range(small_parties)]
    for n in range(shared):
        service_id = service(bulk_a, f"bulk{n}", "ethernet-channel", "active", 2 + n)
        member(service_id, bulk_a, interface(bulk_a, "acc1"), "provisioned")
        member(service_id, bulk_b, interface(bulk_b, "acc3"), "provisioned")
        add(offers, service_id=service_id, owner_id=bulk_a, party_id=bulk_b, code_hash=None,
            state="accepted", expires_at=NOW + 1e6, created_at=NOW, decided_at=NOW)
    for n in range(small):
        owner, other = smalls[n % small_parties], smalls[(n + 1) % small_parties]
        gone = n % 3 == 0
        kind = "water" if n % 5 == 0 else "ethernet-channel"
        service_id = service(owner, f"s{n}", kind, "deleted" if gone else "pending", None)
        member_id = member(service_id, owner, interface(owner, "acc2"),
                           "removed" if gone else "accepted")
        if kind == "water":
            add(orders, service_id=service_id, member_id=member_id,
                state="cancelled" if gone else "open", created_at=NOW, fulfilled_at=None)
        add(offers, service_id=service_id, owner_id=owner, party_id=other, code_hash=None,
            state="withdrawn" if gone else "pending", expires_at=NOW + 1e6, created_at=NOW,
            decided_at=None)
    for table, values in rows.items():
        conn.execute(insert(table), values)
    return len(rows[orders])


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[Any, list[tuple[str, Any, bool]]]:
    """The store, and the statements of the request path on a full database (and
    whether the provider sent them)."""
    core = make_core(tmp_path)
    store = core._ctx.store
    with store.transaction() as conn:
        filled_orders = fill(conn)
    seen: list[tuple[str, Any, bool]] = []
    by_admin = [False]

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters, by_admin[0]))

    event.listen(store.engine, "before_cursor_execute", record)
    bulk_a, bulk_b, small = (core.authenticate(f"token-{n}") for n in ("bulka", "bulkb", "small7"))
    joiners = []
    for name, port in (("x", 9000), ("y", 9001)):
        mac = f"0a:00:00:00:00:{port % 256:02x}"
        body = {"name": name, "account": ACCOUNT,
                "interfaces": [{"name": "e", "switch": "acc4", "port": port, "mac": mac}]}
        joiners.append(core.authenticate(core.create_party(ADMIN, body)["token"]))
    x, y = joiners
    for kind, attributes in (("ethernet-channel", {"type": "point-to-point", "bandwidth_mbps": 1}),
                             ("water", {"quantity": 1, "unit": "m3", "location": "l"})):
        service = core.create_service(x, {"name": kind, "kind": kind, "interface": "e",
                                          "attributes": attributes})
        offer = core.create_offer(x, service["id"], {"party": "y"})
        core.accept_offer(y, offer["id"], {"interface": "e"})
        core.get_service(y, service["id"])
        if kind == "water":
            order = core.list_orders(ADMIN, after=filled_orders)[0]
            core.update_order(ADMIN, order["id"], {"state": "fulfilled"})
        core.remove_member(x, service["id"], "y")
        core.teardown_service(x, service["id"])
    core.update_party(ADMIN, core.me(y)["id"], {"interfaces": [
        {"name": "f", "switch": "acc4", "port": 9002, "mac": "0a:00:00:00:01:00"}]})
    for actor in (bulk_a, bulk_b, small, x):
        for read in (core.list_services, core.list_offers, core.list_parties, core.list_events):
            read(actor)
            read(actor, limit=7, after=1200)
        core.me(actor)
    core.list_events(small, since=100)
    by_admin[0] = True
    for read in (core.list_services, core.list_offers, core.list_parties, core.list_events,
                 core.list_orders):
        read(ADMIN)
        read(ADMIN, limit=7, after=1200)
    event.remove(store.engine, "before_cursor_execute", record)
    return store, seen


def test_request_path_queries_use_indexes(recorded) -> None:
    """No full scan of a table, except the provider's pages, which walk the primary
    key; and every page is read in key order, stopping at its end (no sort of all
    the candidates). A party's audit log is the exception: it sorts the party's
    own events (docs/api.md)."""
    store, seen = recorded
    checked = pages = 0
    with store.engine.connect() as conn:
        for statement, parameters, by_admin in seen:
            if not re.match(r"^\s*(SELECT|WITH|UPDATE|DELETE|INSERT)", statement):
                continue
            plan = [row[3] for row in conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + statement, parameters).all()]
            checked += 1
            page = re.search(r"ORDER BY \w+\.id( DESC)?\s+LIMIT", statement)
            if page and "events.party = ?" not in statement:
                pages += 1
                sorts = [s for s in plan if re.search("TEMP B-TREE FOR (ORDER BY|DISTINCT)", s)]
                assert not sorts, (statement, plan)
            if any(FULL_SCAN.match(step) for step in plan):
                assert by_admin and page, (statement, plan)
    assert checked > 100 and pages > 30


def test_an_acceptance_takes_few_statements(tmp_path: Path) -> None:
    """Each statement is a round trip on PostgreSQL (about half a millisecond in
    the controller): an acceptance decides in one transaction, records the
    switches' answer in a second and reads its answer back: 26 statements for a
    point-to-point service (which also closes its other offers), where there
    were 43 in five transactions (docs/benchmarks.md). A new statement on this
    path should be a choice."""
    world = build_world(tmp_path)
    service = p2p(world)["id"]
    offer = world.core.create_offer(world.alice, service, {"party": "bob"})["id"]
    seen: list[str] = []
    full: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement.split()[0].upper())
        full.append(" ".join(statement.split())[:110])

    event.listen(world.store.engine, "before_cursor_execute", record)
    try:
        world.core.accept_offer(world.bob, offer, {"interface": "bob-if0"})
    finally:
        event.remove(world.store.engine, "before_cursor_execute", record)
    assert world.net.intents[-1].members, "the acceptance reached the provisioner"
    statements = [s for s in seen if s not in ("BEGIN", "COMMIT", "PRAGMA")]
    assert seen.count("BEGIN") == 3  # decide, record the outcome, read the answer
    assert len(statements) <= 26, full
