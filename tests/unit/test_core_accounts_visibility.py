"""Accounts, tokens and visibility (issue 9 §4), on the core: a suspended party
only reads, a new token ends the old one, a former member stops seeing a
service's story, one pending offer per addressee, and names and bandwidths
that cannot fool a reader or overflow a meter."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import insert, text

from controller.errors import ServiceError
from controller.model import ADMIN, MAX_BANDWIDTH_MBPS
from controller.schema import offers
from controller.store import open_store
from flows.compiler import meter_for
from flows.intent import MemberIntent, ServiceIntent
from tests.unit.test_core_fixtures import (
    World,
    build_world,
    ethernet_body,
    offer_and_accept,
    p2p,
    party_body,
    refused,
    store_url,
)
from topology.model import PortRef

# Each test runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.usefixtures("core_engine")


@pytest.fixture
def world(tmp_path: Path) -> World:
    return build_world(tmp_path)


def _suspend(world: World, who: str, status: str = "suspended") -> None:
    party_id = getattr(world, who).party_id
    world.core.update_party(ADMIN, party_id, {"account": {"status": status}})


# -- suspension -------------------------------------------------------------------


def test_a_suspended_party_reads_but_every_write_is_refused(world: World) -> None:
    core = world.core
    shared = p2p(world, type_="multipoint-to-multipoint")["id"]
    offer_and_accept(world, shared, world.bob, "bob-if0")
    to_carol = core.create_offer(world.alice, shared, {"party": "carol"})["id"]
    code = core.create_offer(world.alice, shared, {})["code"]
    carols = core.create_service(world.carol, ethernet_body("c", "carol-if1"))["id"]
    to_bob = core.create_offer(world.carol, carols, {"party": "bob"})["id"]

    _suspend(world, "bob")   # a member, and the addressee of an offer
    bob_writes = {
        "create": lambda: core.create_service(world.bob, ethernet_body("b", "bob-if1")),
        "accept": lambda: core.accept_offer(world.bob, to_bob, {"interface": "bob-if1"}),
        "redeem": lambda: core.accept_invitation(world.bob, {"code": code,
                                                              "interface": "bob-if1"}),
        "decline": lambda: core.decline_offer(world.bob, to_bob),
        "leave": lambda: core.remove_member(world.bob, shared, "bob"),
    }
    for what, call in bob_writes.items():
        error = refused(call, world.store, "account_suspended", 403)
        assert "'bob'" in error.message and "suspended" in error.message, what
    # Reads still work.
    assert core.get_service(world.bob, shared)["id"] == shared
    assert [s["id"] for s in core.list_services(world.bob)] == [shared]
    assert {o["id"] for o in core.list_offers(world.bob)} >= {to_bob}
    assert core.me(world.bob)["account"]["status"] == "suspended"
    assert core.list_events(world.bob)

    _suspend(world, "alice")   # an owner
    alice_writes = {
        "offer": lambda: core.create_offer(world.alice, shared, {"party": "dave"}),
        "withdraw": lambda: core.withdraw_offer(world.alice, to_carol),
        "remove": lambda: core.remove_member(world.alice, shared, "bob"),
        "teardown": lambda: core.teardown_service(world.alice, shared),
    }
    for what, call in alice_writes.items():
        error = refused(call, world.store, "account_suspended", 403)
        assert "'alice'" in error.message, what
    # The provider still acts; a resumed party writes again.
    _suspend(world, "bob", "active")
    core.decline_offer(world.bob, to_bob)
    core.remove_member(world.bob, shared, "bob")
    core.teardown_service(ADMIN, shared)


# -- tokens -----------------------------------------------------------------------


def test_a_new_token_replaces_the_old_one_at_once(world: World) -> None:
    core = world.core
    created = core.create_party(ADMIN, party_body("erin", [("acc1", 9)], first_mac=99))
    old = created["token"]
    assert core.authenticate(old).name == "erin"
    issued = core.issue_token(ADMIN, created["id"])
    assert set(issued) == {"token"} and len(issued["token"]) >= 43 and issued["token"] != old
    with pytest.raises(ServiceError) as info:
        core.authenticate(old)
    assert info.value.status == 401
    assert core.authenticate(issued["token"]).party_id == created["id"]
    event = core.list_events(ADMIN)[0]
    assert (event["action"], event["actor"], event["party"]) == ("token_issued", "admin", "erin")
    assert issued["token"] not in repr(core.list_events(ADMIN))
    erin = core.authenticate(issued["token"])
    refused(lambda: core.issue_token(erin, created["id"]), world.store, "forbidden", 403)
    refused(lambda: core.issue_token(world.bob, created["id"]), world.store, "forbidden", 403)
    refused(lambda: core.issue_token(ADMIN, 999), world.store, "not_found", 404)


# -- events after leaving -----------------------------------------------------------


def _ids(world: World, actor, service_id: int) -> list[int]:
    return [e["id"] for e in world.core.list_events(actor, limit=1000)
            if e["service_id"] == service_id]


def _last(world: World, action: str, party: str | None = None) -> int:
    return next(e["id"] for e in world.core.list_events(ADMIN, limit=1000)
                if e["action"] == action and (party is None or e["party"] == party))


def test_a_former_member_sees_the_events_up_to_its_departure(world: World) -> None:
    core = world.core
    sid = p2p(world, type_="multipoint-to-multipoint")["id"]
    for who in (world.bob, world.carol):
        offer_and_accept(world, sid, who, f"{who.name}-if0")
    core.remove_member(world.bob, sid, "bob")             # bob leaves
    left = _last(world, "member_left", "bob")
    core.remove_member(world.alice, sid, "carol")         # carol is removed
    removed = _last(world, "member_removed", "carol")
    offer_and_accept(world, sid, world.dave, "dave-if0")  # later story
    core.teardown_service(world.alice, sid)
    deleted = _last(world, "service_deleted")

    everything = _ids(world, ADMIN, sid)
    assert _ids(world, world.alice, sid) == everything     # the owner sees all
    assert _ids(world, world.bob, sid) == [i for i in everything if i <= left]
    assert _ids(world, world.carol, sid) == [i for i in everything if i <= removed]
    assert _ids(world, world.dave, sid) == [i for i in everything if i <= deleted]
    assert left in _ids(world, world.bob, sid) and deleted not in _ids(world, world.bob, sid)
    # `since` and pages do not widen the view.
    assert all(e["id"] <= left for e in core.list_events(world.bob, since=left - 1)
               if e["service_id"] == sid)


def test_a_member_who_comes_back_sees_the_story_again(world: World) -> None:
    core = world.core
    sid = p2p(world, type_="multipoint-to-multipoint")["id"]
    offer_and_accept(world, sid, world.bob, "bob-if0")
    core.remove_member(world.bob, sid, "bob")
    offer_and_accept(world, sid, world.carol, "carol-if0")
    offer_and_accept(world, sid, world.bob, "bob-if0")
    assert _ids(world, world.bob, sid) == _ids(world, ADMIN, sid)
    core.remove_member(world.alice, sid, "bob")
    again = _last(world, "member_removed", "bob")
    core.remove_member(world.alice, sid, "carol")
    assert _ids(world, world.bob, sid) == [i for i in _ids(world, ADMIN, sid) if i <= again]


# -- one pending offer per addressee ---------------------------------------------------


def test_one_pending_offer_per_service_and_addressee(world: World) -> None:
    core = world.core
    sid = p2p(world, type_="multipoint-to-multipoint")["id"]
    first = core.create_offer(world.alice, sid, {"party": "bob"})
    error = refused(lambda: core.create_offer(world.alice, sid, {"party": "bob"}), world.store,
                    "offer_exists", 409)
    assert "'bob'" in error.message and str(first["id"]) in error.message
    core.create_offer(world.alice, sid, {"party": "carol"})   # another addressee
    core.create_offer(world.alice, sid, {})                   # invitations are not limited
    core.create_offer(world.alice, sid, {})
    core.withdraw_offer(world.alice, first["id"])
    second = core.create_offer(world.alice, sid, {"party": "bob", "expires_in_s": 5})
    core.decline_offer(world.bob, second["id"])
    third = core.create_offer(world.alice, sid, {"party": "bob", "expires_in_s": 5})
    world.clock.now += 5                                      # expired, not yet swept
    fourth = core.create_offer(world.alice, sid, {"party": "bob"})
    states = {o["id"]: o["state"] for o in core.list_offers(world.bob)}
    assert (states[third["id"]], states[fourth["id"]]) == ("expired", "pending")


def test_the_database_refuses_a_second_pending_offer(world: World) -> None:
    sid = p2p(world)["id"]
    first = world.core.create_offer(world.alice, sid, {"party": "bob"})
    row = {"service_id": sid, "owner_id": world.alice.party_id, "party_id": world.bob.party_id,
           "state": "pending", "expires_at": 9e9, "created_at": 0}
    with pytest.raises(ServiceError) as info, world.store.transaction() as conn:
        conn.execute(insert(offers).values(**row))
    assert (info.value.status, info.value.code) == (409, "offer_exists")
    world.core.withdraw_offer(world.alice, first["id"])
    with world.store.transaction() as conn:  # not pending: no clash
        conn.execute(insert(offers).values(**{**row, "state": "declined"}))


def test_an_older_database_keeps_one_pending_offer_per_addressee(tmp_path: Path) -> None:
    """Brought up from the version before the index: the newest pending offer of
    each (service, addressee) stays, older duplicates become withdrawn."""
    from tests.unit.test_store_persistence import _layout

    world = build_world(tmp_path)
    sid = p2p(world)["id"]
    kept = world.core.create_offer(world.alice, sid, {"party": "bob"})["id"]
    world.store.close()
    engine = open_store(store_url(tmp_path)).engine
    with engine.begin() as conn:  # back to version 5 of the home-made migrations
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER services_applied_notice ON services"))
            conn.execute(text("DROP FUNCTION metroshare_applied_notice"))
        for statement in ("DROP INDEX uq_pending_offer_party", "DROP TABLE alembic_version",
                          "DROP TABLE deliveries", "DROP TABLE webhooks",
                          "DROP TABLE leadership", "DROP TABLE admin_token",
                          "ALTER TABLE services DROP COLUMN revision",
                          "ALTER TABLE services DROP COLUMN applied_revision",
                          "DROP INDEX uq_live_member_interface",
                          "ALTER TABLE members DROP COLUMN ce_vlan",
                          "CREATE UNIQUE INDEX uq_live_member_interface ON members "
                          "(interface_id) WHERE state IN "
                          "('accepted', 'provisioned', 'leaving', 'suspended')",
                          "CREATE TABLE schema_version (version INTEGER NOT NULL)",
                          "INSERT INTO schema_version VALUES (5)"):
            conn.execute(text(statement))
        for _ in range(2):
            conn.execute(text("INSERT INTO offers (service_id, party_id, state, expires_at, "
                              "created_at, owner_id) SELECT service_id, party_id, state, "
                              "expires_at, created_at, owner_id FROM offers WHERE id = :id"),
                         {"id": kept})
    engine.dispose()
    store = open_store(store_url(tmp_path))
    (tmp_path / "fresh").mkdir()
    fresh = open_store(store_url(tmp_path / "fresh"))
    assert _layout(store.engine) == _layout(fresh.engine)
    with store.read() as conn:
        states = conn.execute(text("SELECT id, state FROM offers ORDER BY id")).all()
    assert [s for _, s in states] == ["withdrawn", "withdrawn", "pending"]
    assert states[-1][0] > kept
    fresh.close()
    store.close()


# -- names and bandwidth ----------------------------------------------------------------


@pytest.mark.parametrize("name", [
    "zed\n", "zed\r\n", "ze\u200bd", "zed\u202e", "\ufeffzed", "", "z" * 65, "zed ", "zéd"])
def test_party_and_interface_names_are_matched_in_full(world: World, name: str) -> None:
    body = party_body("zed", [("acc4", 20)], first_mac=0xE0)
    error = refused(lambda: world.core.create_party(ADMIN, {**body, "name": name}),
                    world.store, "invalid_field", 400)
    assert error.message.startswith("name:")
    body["interfaces"][0]["name"] = name
    error = refused(lambda: world.core.create_party(ADMIN, body), world.store,
                    "invalid_field", 400)
    assert error.message.startswith("interfaces[0].name:")


@pytest.mark.parametrize("name, culprit", [
    ("s\n", "U+000A"), ("s\u200b", "U+200B"), ("\u202es", "U+202E"), ("s\ufeff", "U+FEFF"),
    ("a\u2066b", "U+2066"), ("s\x7f", "U+007F"), ("s\x85", "U+0085"), ("a\u2028b", "U+2028"),
    ("", "1 to 64"), ("s" * 65, "1 to 64"), (7, "a string")])
def test_service_names_have_no_control_or_invisible_characters(world: World, name,
                                                               culprit: str) -> None:
    body = {**ethernet_body("s", "alice-if0"), "name": name}
    error = refused(lambda: world.core.create_service(world.alice, body), world.store,
                    "invalid_field", 400)
    assert error.message.startswith("name:") and culprit in error.message


def test_service_names_may_be_any_visible_text(world: World) -> None:
    for i, name in enumerate(("é" * 64, "Zürich – Genève 10G", "東京 ↔ 大阪", "a b")):
        world.core.create_service(world.alice, ethernet_body(name, f"alice-if{i % 2}"))
        world.core.teardown_service(world.alice, world.core.list_services(world.alice)[-1]["id"])


def test_bandwidth_is_bounded_so_the_meter_fits_32_bits(world: World) -> None:
    assert MAX_BANDWIDTH_MBPS == 4_294_967
    world.core.update_party(ADMIN, world.alice.party_id,
                            {"account": {"max_bandwidth_mbps": MAX_BANDWIDTH_MBPS}})
    for too_much in (MAX_BANDWIDTH_MBPS + 1, 10**7):
        error = refused(lambda b=too_much: world.core.create_service(
            world.alice, ethernet_body("s", "alice-if0", bandwidth=b)), world.store,
            "invalid_field", 400)
        assert error.message.startswith("attributes.bandwidth_mbps:")
        error = refused(lambda b=too_much: world.core.update_party(
            ADMIN, world.alice.party_id, {"account": {"max_bandwidth_mbps": b}}), world.store,
            "invalid_field", 400)
        assert error.message.startswith("account.max_bandwidth_mbps:")
    sid = world.core.create_service(world.alice, ethernet_body(
        "s", "alice-if0", bandwidth=MAX_BANDWIDTH_MBPS))["id"]
    member = MemberIntent(1, "alice", "alice-if0", PortRef("acc1", 2), "02:00:00:00:00:0a",
                          "peer")
    meter = meter_for(ServiceIntent(sid, 5, "point-to-point", MAX_BANDWIDTH_MBPS, (member,)),
                      member)
    assert 0 < meter.burst_kb <= meter.rate_kbps <= 2**32 - 1

