"""Every refusal of the core: the right status and code, a message naming the
culprit, and a store left exactly as it was (compared row by row)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from controller.model import ADMIN
from tests.unit.test_core_fixtures import (
    World,
    build_world,
    ethernet_body,
    make_core,
    offer_and_accept,
    p2p,
    party_body,
    refused,
)

# Each test runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.usefixtures("core_engine")


@pytest.fixture
def world(tmp_path: Path) -> World:
    return build_world(tmp_path)


def test_authentication_refusals(world: World) -> None:
    for token in (None, "", "nope", "admin-secret-for-test", "\ud800", "é" * 300):
        refused(lambda t=token: world.core.authenticate(t), world.store, "unauthorized", 401)


def _party(**changes: Any) -> dict[str, Any]:
    body = party_body("erin", [("acc1", 9)], first_mac=200)
    for path, value in changes.items():
        target = body
        keys = path.split("__")
        for key in keys[:-1]:
            target = target[int(key)] if key.isdigit() else target[key]
        if value is _DROP:
            del target[keys[-1]]
        else:
            target[keys[-1]] = value
    return body


_DROP = object()

BAD_PARTIES = [
    ({"extra": 1}, "extra"),
    ({"name": _DROP}, "name"),
    ({"name": ""}, "name"),
    ({"name": "x" * 65}, "name"),
    ({"name": "has space"}, "name"),
    ({"name": 7}, "name"),
    ({"name": "admin"}, "reserved"),
    ({"name": "system"}, "reserved"),
    ({"account": "active"}, "account"),
    ({"account__status": "frozen"}, "account.status"),
    ({"account__colour": "red"}, "account.colour"),
    ({"account__max_channels": _DROP}, "account.max_channels"),
    ({"account__service_kinds": ["teleport"]}, "account.service_kinds"),
    ({"account__service_kinds": ["fuel", "fuel"]}, "account.service_kinds"),
    ({"account__service_kinds": "fuel"}, "account.service_kinds"),
    ({"account__max_bandwidth_mbps": -1}, "account.max_bandwidth_mbps"),
    ({"account__max_bandwidth_mbps": True}, "account.max_bandwidth_mbps"),
    ({"account__max_bandwidth_mbps": 1.5}, "account.max_bandwidth_mbps"),
    ({"account__max_channels": "3"}, "account.max_channels"),
    ({"interfaces": {"a": 1}}, "interfaces"),
    ({"interfaces__0__speed": 1}, "interfaces[0].speed"),
    ({"interfaces__0__mac": "01:00:00:00:00:01"}, "interfaces[0].mac"),
    ({"interfaces__0__mac": "zz"}, "interfaces[0].mac"),
    ({"interfaces__0__port": 0}, "interfaces[0].port"),
    ({"interfaces__0__switch": "nowhere"}, "erin-if0"),
    ({"interfaces__0__port": 1}, "erin-if0"),          # acc1:1 is a fiber port
    ({"interfaces__0__name": "bad name"}, "interfaces[0].name"),
    ({"interfaces__0__location": "x" * 201}, "interfaces[0].location"),
]


@pytest.mark.parametrize("changes, culprit", BAD_PARTIES)
def test_create_party_refuses_invalid_bodies(world: World, changes: dict, culprit: str) -> None:
    error = refused(lambda: world.core.create_party(ADMIN, _party(**changes)), world.store,
                    "invalid_field", 400)
    assert culprit in error.message


def test_create_party_refuses_duplicates_in_body(world: World) -> None:
    body = party_body("erin", [("acc1", 9), ("acc1", 9)], first_mac=200)
    refused(lambda: world.core.create_party(ADMIN, body), world.store, "invalid_field")
    body = party_body("erin", [("acc1", 9), ("acc1", 10)], first_mac=200)
    body["interfaces"][1]["name"] = body["interfaces"][0]["name"]
    refused(lambda: world.core.create_party(ADMIN, body), world.store, "invalid_field")
    refused(lambda: world.core.create_party(ADMIN, []), world.store, "invalid_field")


def test_create_party_refusals_of_state(world: World) -> None:
    refused(lambda: world.core.create_party(world.alice, _party()), world.store, "forbidden", 403)
    taken = party_body("bob", [("acc1", 9)], first_mac=200)
    refused(lambda: world.core.create_party(ADMIN, taken), world.store, "name_taken", 409)
    same_port = party_body("erin", [("acc1", 2)], first_mac=200)
    error = refused(lambda: world.core.create_party(ADMIN, same_port), world.store,
                    "interface_busy", 409)
    assert "alice-if0" in error.message and "acc1:2" in error.message
    same_mac = party_body("erin", [("acc1", 9)], first_mac=10)
    refused(lambda: world.core.create_party(ADMIN, same_mac), world.store, "interface_busy")


def test_update_party_refusals(world: World) -> None:
    bob = world.bob.party_id
    refused(lambda: world.core.update_party(world.bob, bob, {}), world.store, "forbidden", 403)
    refused(lambda: world.core.update_party(ADMIN, 999, {}), world.store, "not_found", 404)
    refused(lambda: world.core.update_party(ADMIN, bob, {"name": "robert"}), world.store,
            "invalid_field")
    refused(lambda: world.core.update_party(ADMIN, bob, {"account": {"status": "x"}}),
            world.store, "invalid_field")
    service = p2p(world)
    offer_and_accept(world, service["id"], world.bob, "bob-if0")
    # The view sent back as it is (its read-only `service` and `services` are ignored).
    keep_other = [i for i in world.core.me(world.bob)["interfaces"] if i["name"] != "bob-if0"]
    error = refused(lambda: world.core.update_party(ADMIN, bob, {"interfaces": keep_other}),
                    world.store, "interface_busy", 409)
    assert "bob-if0" in error.message
    moved = copy.deepcopy(world.core.me(world.bob)["interfaces"])
    for iface in moved:
        del iface["service"]
    moved[0]["port"] = 9
    refused(lambda: world.core.update_party(ADMIN, bob, {"interfaces": moved}), world.store,
            "interface_busy")
    clash = copy.deepcopy(keep_other)
    clash[0]["port"] = 2
    clash[0]["switch"] = "acc1"  # alice's port
    refused(lambda: world.core.update_party(ADMIN, bob, {"interfaces": clash}), world.store,
            "interface_busy")


def test_party_reads_refusals(world: World) -> None:
    refused(lambda: world.core.get_party(world.bob, world.alice.party_id), world.store,
            "not_found", 404)
    refused(lambda: world.core.get_party(ADMIN, 999), world.store, "not_found", 404)
    refused(lambda: world.core.me(ADMIN), world.store, "forbidden", 403)


BAD_SERVICES = [
    ({"extra": 1}, "extra"),
    ({"kind": "teleport"}, "kind"),
    ({"name": ""}, "name"),
    ({"name": "x" * 65}, "name"),
    ({"name": "bad\ud800"}, "name"),
    ({"name": "tab\there"}, "name"),
    ({"interface": 3}, "interface"),
    ({"interface": "nope"}, "interface"),
    ({"attributes": None}, "attributes"),
    ({"attributes": {"type": "ring", "bandwidth_mbps": 1}}, "attributes.type"),
    ({"attributes": {"type": "point-to-point", "bandwidth_mbps": 0}},
     "attributes.bandwidth_mbps"),
    ({"attributes": {"type": "point-to-point", "bandwidth_mbps": "10"}},
     "attributes.bandwidth_mbps"),
    ({"attributes": {"type": "point-to-point"}}, "attributes.bandwidth_mbps"),
    ({"attributes": {"type": "point-to-point", "bandwidth_mbps": 1, "vlan": 5}},
     "attributes.vlan"),
    ({"kind": "water", "attributes": {"quantity": 0, "unit": "m3", "location": "x"}},
     "attributes.quantity"),
    ({"kind": "water", "attributes": {"quantity": 1, "unit": "", "location": "x"}},
     "attributes.unit"),
    ({"kind": "fuel", "attributes": {"type": "point-to-point", "bandwidth_mbps": 1}},
     "attributes"),
]


@pytest.mark.parametrize("changes, culprit", BAD_SERVICES)
def test_create_service_refuses_invalid_bodies(world: World, changes: dict, culprit: str) -> None:
    body = {**ethernet_body("s1", "alice-if0"), **changes}
    error = refused(lambda: world.core.create_service(world.alice, body), world.store,
                    "invalid_field", 400)
    assert culprit in error.message


def test_create_service_verifies_the_owner_account(world: World) -> None:
    alice = world.alice.party_id
    cases = [({"service_kinds": ["fuel"]}, "ethernet-channel"),
             ({"max_bandwidth_mbps": 50}, "max_bandwidth_mbps"),
             ({"max_channels": 0}, "max_channels")]
    for account, words in cases:
        world.core.update_party(ADMIN, alice, {"account": account})
        error = refused(lambda: p2p(world), world.store, "account_not_supported", 409)
        assert "alice" in error.message and words in error.message
        world.core.update_party(ADMIN, alice, {"account": {
            "status": "active", "service_kinds": ["ethernet-channel"],
            "max_bandwidth_mbps": 1000, "max_channels": 5}})


def test_create_service_refusals_of_state(world: World) -> None:
    refused(lambda: world.core.create_service(ADMIN, ethernet_body("s", "alice-if0")),
            world.store, "forbidden", 403)
    p2p(world)
    error = refused(lambda: world.core.create_service(world.alice,
                                                      ethernet_body("s2", "alice-if0")),
                    world.store, "interface_busy", 409)
    assert "alice-if0" in error.message
    refused(lambda: world.core.create_service(world.alice, ethernet_body("s1", "alice-if1")),
            world.store, "name_taken", 409)


def test_create_offer_refusals(world: World) -> None:
    service = p2p(world)
    sid = service["id"]
    for body, culprit in [({"party": "zed"}, "party"), ({"party": 5}, "party"),
                          ({"expires_in_s": 0}, "expires_in_s"),
                          ({"expires_in_s": 31536001}, "expires_in_s"),
                          ({"expires_in_s": True}, "expires_in_s"), ({"x": 1}, "x"), ([], "body")]:
        error = refused(lambda b=body: world.core.create_offer(world.alice, sid, b), world.store,
                        "invalid_field", 400)
        assert culprit in error.message
    refused(lambda: world.core.create_offer(world.bob, sid, {}), world.store, "not_found", 404)
    refused(lambda: world.core.create_offer(world.alice, 999, {}), world.store, "not_found")
    refused(lambda: world.core.create_offer(ADMIN, sid, {}), world.store, "forbidden", 403)
    refused(lambda: world.core.create_offer(world.alice, sid, {"party": "alice"}), world.store,
            "already_member", 409)
    offer_and_accept(world, sid, world.bob, "bob-if0")
    refused(lambda: world.core.create_offer(world.bob, sid, {"party": "carol"}), world.store,
            "not_owner", 403)
    refused(lambda: world.core.create_offer(world.alice, sid, {"party": "bob"}), world.store,
            "already_member", 409)
    refused(lambda: world.core.create_offer(world.alice, sid, {"party": "carol"}), world.store,
            "point_to_point_full", 409)
    refused(lambda: world.core.create_offer(world.alice, sid, {}), world.store,
            "point_to_point_full", 409)
    world.core.teardown_service(world.alice, sid)
    refused(lambda: world.core.create_offer(world.alice, sid, {}), world.store,
            "service_not_live", 409)


def test_accept_refusals_of_the_offer(world: World) -> None:
    service = p2p(world, type_="multipoint-to-multipoint")
    sid = service["id"]
    offer = world.core.create_offer(world.alice, sid, {"party": "bob"})
    oid = offer["id"]
    for body in ({}, {"interface": 1}, {"interface": "bob-if0", "vlan": 3}, None):
        refused(lambda b=body: world.core.accept_offer(world.bob, oid, b), world.store,
                "invalid_field", 400)
    error = refused(lambda: world.core.accept_offer(world.bob, oid, {"interface": "nope"}),
                    world.store, "invalid_field")
    assert "nope" in error.message
    refused(lambda: world.core.accept_offer(world.bob, oid, {"interface": "alice-if1"}),
            world.store, "invalid_field")
    refused(lambda: world.core.accept_offer(world.carol, oid, {"interface": "carol-if0"}),
            world.store, "not_found", 404)
    refused(lambda: world.core.accept_offer(world.alice, oid, {"interface": "alice-if1"}),
            world.store, "not_addressee", 403)
    refused(lambda: world.core.accept_offer(ADMIN, oid, {"interface": "x"}), world.store,
            "forbidden", 403)
    refused(lambda: world.core.accept_offer(world.bob, 999, {"interface": "bob-if0"}),
            world.store, "not_found", 404)
    world.core.accept_offer(world.bob, oid, {"interface": "bob-if0"})
    refused(lambda: world.core.accept_offer(world.bob, oid, {"interface": "bob-if1"}),
            world.store, "offer_not_pending", 409)
    second = world.core.create_offer(world.alice, sid, {"party": "carol"})
    world.core.decline_offer(world.carol, second["id"])
    refused(lambda: world.core.accept_offer(world.carol, second["id"],
                                            {"interface": "carol-if0"}),
            world.store, "offer_not_pending")
    third = world.core.create_offer(world.alice, sid, {"party": "carol", "expires_in_s": 5})
    world.clock.now += 5
    world.core.expire_offers()
    refused(lambda: world.core.accept_offer(world.carol, third["id"], {"interface": "carol-if0"}),
            world.store, "offer_not_pending")


def test_accept_refusals_of_membership(world: World) -> None:
    sid = p2p(world, type_="multipoint-to-multipoint")["id"]
    first = world.core.create_offer(world.alice, sid, {"party": "bob"})
    again = world.core.create_offer(world.alice, sid, {})
    world.core.accept_offer(world.bob, first["id"], {"interface": "bob-if0"})
    refused(lambda: world.core.accept_invitation(world.bob, {"code": again["code"],
                                                              "interface": "bob-if1"}),
            world.store, "already_member", 409)
    other = world.core.create_service(world.carol, ethernet_body("c", "carol-if0"))
    to_carol = world.core.create_offer(world.alice, sid, {"party": "carol"})
    error = refused(lambda: world.core.accept_offer(world.carol, to_carol["id"],
                                                    {"interface": "carol-if0"}),
                    world.store, "interface_busy", 409)
    assert "carol-if0" in error.message and str(other["id"]) in error.message


def test_point_to_point_takes_two_members_only(world: World) -> None:
    sid = p2p(world)["id"]
    to_bob = world.core.create_offer(world.alice, sid, {"party": "bob"})
    to_carol = world.core.create_offer(world.alice, sid, {"party": "carol"})
    world.core.accept_offer(world.bob, to_bob["id"], {"interface": "bob-if0"})
    # Full, the service withdrew its other offers (test_core_offer_preview.py) ...
    refused(lambda: world.core.accept_offer(world.carol, to_carol["id"],
                                            {"interface": "carol-if0"}),
            world.store, "offer_not_pending", 409)
    # ... and takes no new one.
    refused(lambda: world.core.create_offer(world.alice, sid, {"party": "carol"}),
            world.store, "point_to_point_full", 409)


@pytest.mark.parametrize("who, account, words", [
    ("alice", {"status": "suspended"}, "'alice' is suspended"),
    ("alice", {"service_kinds": ["fuel"]}, "'alice' does not list"),
    ("alice", {"max_bandwidth_mbps": 10}, "'alice' allows at most 10"),
    ("alice", {"max_channels": 0}, "'alice' has no free channel slot"),
    ("bob", {"service_kinds": []}, "'bob' does not list the service kind 'ethernet-channel'"),
    ("bob", {"max_bandwidth_mbps": 99}, "'bob' allows at most 99 Mb/s"),
    ("bob", {"max_channels": 0}, "'bob' has no free channel slot"),
])
def test_accept_verifies_both_accounts(world: World, who: str, account: dict,
                                       words: str) -> None:
    sid = p2p(world, bandwidth=100)["id"]
    offer = world.core.create_offer(world.alice, sid, {"party": "bob"})
    party_id = getattr(world, who).party_id
    world.core.update_party(ADMIN, party_id, {"account": account})
    error = refused(lambda: world.core.accept_offer(world.bob, offer["id"],
                                                    {"interface": "bob-if0"}),
                    world.store, "account_not_supported", 409)
    assert words in error.message


def test_channel_slots_count_live_memberships(world: World) -> None:
    world.core.update_party(ADMIN, world.bob.party_id, {"account": {"max_channels": 1}})
    one = p2p(world, name="one")
    offer_and_accept(world, one["id"], world.bob, "bob-if0")
    two = world.core.create_service(world.alice, ethernet_body("two", "alice-if1"))
    refused(lambda: world.core.create_offer(world.alice, two["id"], {"party": "bob"}),
            world.store, "account_not_supported")  # screened when offered ...
    world.core.remove_member(world.bob, one["id"], "bob")
    offer = world.core.create_offer(world.alice, two["id"], {"party": "bob"})
    offer_and_accept(world, one["id"], world.bob, "bob-if0")
    refused(lambda: world.core.accept_offer(world.bob, offer["id"], {"interface": "bob-if1"}),
            world.store, "account_not_supported")  # ... and again when accepted
    world.core.remove_member(world.bob, one["id"], "bob")
    world.core.accept_offer(world.bob, offer["id"], {"interface": "bob-if1"})


def test_vlan_pool_exhausted(tmp_path: Path) -> None:
    core = make_core(tmp_path, pool=[100])
    tokens = [core.create_party(ADMIN, party_body(n, [(f"acc{i + 1}", 2)], first_mac=i + 1))
              ["token"] for i, n in enumerate(("a", "b", "c", "d"))]
    a, b, c, d = (core.authenticate(t) for t in tokens)
    first = core.create_service(a, ethernet_body("one", "a-if0"))
    offer = core.create_offer(a, first["id"], {"party": "b"})
    assert core.accept_offer(b, offer["id"], {"interface": "b-if0"})["service"]["vlan"] == 100
    second = core.create_service(c, ethernet_body("two", "c-if0"))
    offer = core.create_offer(c, second["id"], {"party": "d"})
    refused(lambda: core.accept_offer(d, offer["id"], {"interface": "d-if0"}),
            core._ctx.store, "vlan_pool_exhausted", 409)
    core.teardown_service(a, first["id"])
    assert core.accept_offer(d, offer["id"], {"interface": "d-if0"})["service"]["vlan"] == 100


def test_insufficient_capacity(world: World) -> None:
    # acc1 <-> agg1 is 1000 Mb/s: two 600 Mb/s secure services cannot share it.
    first = p2p(world, kind="secure-bandwidth", bandwidth=600)
    offer_and_accept(world, first["id"], world.bob, "bob-if0")
    second = world.core.create_service(world.alice, ethernet_body(
        "s2", "alice-if1", bandwidth=600, kind="secure-bandwidth"))
    offer = world.core.create_offer(world.alice, second["id"], {"party": "carol"})
    error = refused(lambda: world.core.accept_offer(world.carol, offer["id"],
                                                    {"interface": "carol-if0"}),
                    world.store, "insufficient_capacity", 409)
    assert "agg1:2-acc1:1" in error.message and "400" in error.message
    # An ethernet-channel may oversubscribe: it reserves nothing.
    world.core.teardown_service(world.alice, second["id"])
    third = world.core.create_service(world.alice, ethernet_body("s3", "alice-if1",
                                                                 bandwidth=600))
    offer_and_accept(world, third["id"], world.carol, "carol-if0")


def test_invitation_refusals(world: World) -> None:
    sid = p2p(world)["id"]
    code = world.core.create_offer(world.alice, sid, {})["code"]
    for body in ({"code": code}, {"interface": "bob-if0"}, {"code": 1, "interface": "bob-if0"},
                 {"code": code, "interface": "bob-if0", "x": 1}):
        refused(lambda b=body: world.core.accept_invitation(world.bob, b), world.store,
                "invalid_field", 400)
    refused(lambda: world.core.accept_invitation(world.bob, {"code": "wrong",
                                                             "interface": "bob-if0"}),
            world.store, "not_found", 404)
    refused(lambda: world.core.accept_invitation(world.alice, {"code": code,
                                                               "interface": "alice-if1"}),
            world.store, "already_member", 409)
    world.core.accept_invitation(world.bob, {"code": code, "interface": "bob-if0"})
    refused(lambda: world.core.accept_invitation(world.carol, {"code": code,
                                                               "interface": "carol-if0"}),
            world.store, "offer_not_pending", 409)


def test_decline_and_withdraw_refusals(world: World) -> None:
    sid = p2p(world, type_="multipoint-to-multipoint")["id"]
    oid = world.core.create_offer(world.alice, sid, {"party": "bob"})["id"]
    refused(lambda: world.core.decline_offer(world.alice, oid), world.store, "not_addressee", 403)
    refused(lambda: world.core.decline_offer(world.carol, oid), world.store, "not_found", 404)
    refused(lambda: world.core.withdraw_offer(world.bob, oid), world.store, "not_owner", 403)
    refused(lambda: world.core.withdraw_offer(world.carol, oid), world.store, "not_found", 404)
    refused(lambda: world.core.withdraw_offer(world.alice, 999), world.store, "not_found", 404)
    world.core.decline_offer(world.bob, oid)
    refused(lambda: world.core.decline_offer(world.bob, oid), world.store,
            "offer_not_pending", 409)
    refused(lambda: world.core.withdraw_offer(world.alice, oid), world.store,
            "offer_not_pending", 409)


def test_remove_member_and_teardown_refusals(world: World) -> None:
    sid = p2p(world, type_="multipoint-to-multipoint")["id"]
    offer_and_accept(world, sid, world.bob, "bob-if0")
    offer_and_accept(world, sid, world.carol, "carol-if0")
    refused(lambda: world.core.remove_member(world.bob, sid, "carol"), world.store,
            "not_owner", 403)
    refused(lambda: world.core.remove_member(world.dave, sid, "bob"), world.store,
            "not_found", 404)
    refused(lambda: world.core.remove_member(world.alice, sid, "dave"), world.store,
            "not_found", 404)
    refused(lambda: world.core.remove_member(world.alice, sid, "zed"), world.store,
            "not_found", 404)
    refused(lambda: world.core.remove_member(world.alice, sid, "alice"), world.store,
            "forbidden", 403)
    refused(lambda: world.core.teardown_service(world.bob, sid), world.store, "not_owner", 403)
    refused(lambda: world.core.teardown_service(world.dave, sid), world.store, "not_found", 404)
    refused(lambda: world.core.get_service(world.dave, sid), world.store, "not_found", 404)
    world.core.teardown_service(world.alice, sid)
    refused(lambda: world.core.teardown_service(world.alice, sid), world.store,
            "service_not_live", 409)


def test_order_refusals(world: World) -> None:
    sid = world.core.create_service(world.alice, {
        "name": "w", "kind": "water", "interface": "alice-if0",
        "attributes": {"quantity": 3, "unit": "m3", "location": "main street"}})["id"]
    offer_and_accept(world, sid, world.bob, "bob-if0")
    order = world.core.list_orders(ADMIN)[0]["id"]
    refused(lambda: world.core.list_orders(world.alice), world.store, "forbidden", 403)
    refused(lambda: world.core.update_order(world.alice, order, {"state": "fulfilled"}),
            world.store, "forbidden", 403)
    refused(lambda: world.core.update_order(ADMIN, 999, {"state": "fulfilled"}), world.store,
            "not_found", 404)
    for body in ({"state": "open"}, {}, {"state": "fulfilled", "x": 1}):
        refused(lambda b=body: world.core.update_order(ADMIN, order, b), world.store,
                "invalid_field", 400)
    world.core.update_order(ADMIN, order, {"state": "fulfilled"})
    refused(lambda: world.core.update_order(ADMIN, order, {"state": "fulfilled"}), world.store,
            "order_not_open", 409)
