"""See before you accept (issue 10): an offer carries its service in brief, its
addressee may read the service while the offer is pending, an invitation code
can be looked at without being redeemed, an offer the addressee's account could
not take is refused up front, a full point-to-point service closes its other
offers, and an expiry is recorded with the time it fell due."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.model import ADMIN
from controller.workflow.views import iso
from tests.unit.test_core_fixtures import (
    World,
    build_world,
    check_invariants,
    ethernet_body,
    offer_and_accept,
    p2p,
    refused,
    snapshot,
)

# Each test runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.usefixtures("core_engine")


@pytest.fixture
def world(tmp_path: Path) -> World:
    return build_world(tmp_path)


def multipoint(w: World, name: str = "mp") -> dict:
    return w.core.create_service(w.alice, ethernet_body(name, "alice-if0",
                                                        "multipoint-to-multipoint"))


def events(w: World, action: str) -> list[dict]:
    return [e for e in w.core.list_events(ADMIN, limit=1000) if e["action"] == action]


# -- the offer carries its service ------------------------------------------------

def test_an_offer_carries_its_service_with_the_count_of_live_members(world: World) -> None:
    sid = multipoint(world)["id"]
    offer = world.core.create_offer(world.alice, sid, {"party": "bob"})
    expected = {"id": sid, "name": "mp", "kind": "ethernet-channel",
                "attributes": {"type": "multipoint-to-multipoint", "bandwidth_mbps": 100},
                "owner": "alice", "members": 1}
    assert offer["service"] == expected
    assert offer["expires_at"] == iso(world.clock.now + 7 * 24 * 3600)
    world.core.accept_offer(world.bob, offer["id"], {"interface": "bob-if0"})
    to_carol = world.core.create_offer(world.alice, sid, {"party": "carol"})
    assert to_carol["service"]["members"] == 2
    # Every view of an offer carries it, the pages too; counts follow the service.
    for who in (world.alice, world.carol, ADMIN):
        listed = {o["id"]: o for o in world.core.list_offers(who)}
        assert listed[to_carol["id"]]["service"] == {**expected, "members": 2}
    world.core.remove_member(world.bob, sid, "bob")
    assert world.core.list_offers(world.carol)[0]["service"]["members"] == 1
    # Withdrawn or declined, an offer still says what it was of.
    assert world.core.decline_offer(world.carol, to_carol["id"])["service"]["id"] == sid


def test_the_answer_of_an_acceptance_keeps_the_full_service(world: World) -> None:
    sid = p2p(world)["id"]
    joined = offer_and_accept(world, sid, world.bob, "bob-if0")
    assert joined["service"] == world.core.get_service(world.bob, sid)
    assert [m["party"] for m in joined["service"]["members"]] == ["alice", "bob"]


# -- the addressee previews the service -------------------------------------------

def test_the_addressee_of_a_pending_offer_reads_the_service(world: World) -> None:
    sid = multipoint(world)["id"]
    offer_and_accept(world, sid, world.bob, "bob-if0")
    world.core.create_offer(world.alice, sid, {"party": "carol"})
    member = world.core.get_service(world.bob, sid)
    preview = world.core.get_service(world.carol, sid)
    # As members see it, without where the others attach.
    assert {k: v for k, v in preview.items() if k not in ("members", "provisioning")} == {
        k: v for k, v in member.items() if k not in ("members", "provisioning")}
    assert member["provisioning"] and preview["provisioning"] == {}
    assert [(m["party"], m["role"], m["state"]) for m in preview["members"]] == [
        (m["party"], m["role"], m["state"]) for m in member["members"]]
    assert all(m["interface"] is None and m["ce_vlan"] is None and m["error"] is None
               for m in preview["members"])
    assert "alice-if0" not in repr(preview) and "acc1" not in repr(preview)
    refused(lambda: world.core.get_service(world.dave, sid), world.store, "not_found", 404)


def test_the_addressee_cannot_write_to_the_service(world: World) -> None:
    sid = multipoint(world)["id"]
    world.core.create_offer(world.alice, sid, {"party": "carol"})
    assert world.core.get_service(world.carol, sid)["id"] == sid
    writes = [
        lambda: world.core.update_service(world.carol, sid, {"name": "mine"}),
        lambda: world.core.create_offer(world.carol, sid, {"party": "dave"}),
        lambda: world.core.remove_member(world.carol, sid, "alice"),
        lambda: world.core.teardown_service(world.carol, sid),
    ]
    for write in writes:
        refused(write, world.store, "not_found", 404)
    assert world.core.list_services(world.carol) == []  # a preview is not a membership


@pytest.mark.parametrize("end", ["declined", "withdrawn", "expired", "accepted elsewhere"])
def test_the_preview_ends_with_the_offer(world: World, end: str) -> None:
    sid = p2p(world)["id"]
    offer = world.core.create_offer(world.alice, sid, {"party": "carol", "expires_in_s": 60})
    assert world.core.get_service(world.carol, sid)["id"] == sid
    if end == "declined":
        world.core.decline_offer(world.carol, offer["id"])
    elif end == "withdrawn":
        world.core.withdraw_offer(world.alice, offer["id"])
    elif end == "expired":
        world.clock.now += 60  # due, though no sweep has marked it yet
    else:
        offer_and_accept(world, sid, world.bob, "bob-if0")
    refused(lambda: world.core.get_service(world.carol, sid), world.store, "not_found", 404)


# -- an invitation code, looked at -------------------------------------------------

def test_an_invitation_is_previewed_without_being_redeemed(world: World) -> None:
    sid = multipoint(world)["id"]
    code = world.core.create_offer(world.alice, sid, {"expires_in_s": 600})["code"]
    before = snapshot(world.store)
    for who in (world.bob, world.dave, world.alice):
        seen = world.core.preview_invitation(who, {"code": code})
        assert seen == {"service": {"id": sid, "name": "mp", "kind": "ethernet-channel",
                                    "attributes": {"type": "multipoint-to-multipoint",
                                                   "bandwidth_mbps": 100},
                                    "owner": "alice", "members": 1},
                        "owner": "alice", "expires_at": iso(world.clock.now + 600)}
    assert snapshot(world.store) == before
    world.core.accept_invitation(world.bob, {"code": code, "interface": "bob-if0"})
    check_invariants(world.core, world.store)


def test_an_unknown_used_or_expired_code_is_not_found(world: World) -> None:
    sid = multipoint(world)["id"]
    used = world.core.create_offer(world.alice, sid, {})["code"]
    world.core.accept_invitation(world.bob, {"code": used, "interface": "bob-if0"})
    withdrawn = world.core.create_offer(world.alice, sid, {})
    world.core.withdraw_offer(world.alice, withdrawn["id"])
    due = world.core.create_offer(world.alice, sid, {"expires_in_s": 30})["code"]
    world.clock.now += 30  # past its expiry, not yet swept: the preview must not mark it
    for code in ("no-such-code", used, withdrawn["code"], due):
        error = refused(lambda c=code: world.core.preview_invitation(world.carol, {"code": c}),
                        world.store, "not_found", 404)
        assert "invitation" in error.message


@pytest.mark.parametrize("body,culprit", [
    ({}, "code"), ({"code": ""}, "code"), ({"code": 7}, "code"), ([], "body"),
    ({"code": "x", "interface": "carol-if0"}, "interface")])
def test_a_bad_preview_body_is_refused_naming_the_field(world: World, body: object,
                                                       culprit: str) -> None:
    error = refused(lambda: world.core.preview_invitation(world.carol, body), world.store,
                    "invalid_field", 400)
    assert error.message.startswith(f"{culprit}:")


# -- screening at offer time -------------------------------------------------------

@pytest.mark.parametrize("account,words,at_redemption", [
    ({"service_kinds": ["water"]}, "'bob' does not list the service kind 'ethernet-channel'",
     "account_not_supported"),
    ({"max_bandwidth_mbps": 99}, "'bob' allows at most 99 Mb/s", "account_not_supported"),
    ({"max_channels": 0}, "'bob' has no free channel slot", "account_not_supported"),
    ({"status": "suspended"}, "'bob' is suspended, not active", "account_suspended"),
])
def test_an_offer_the_addressee_could_not_take_is_refused(world: World, account: dict,
                                                          words: str,
                                                          at_redemption: str) -> None:
    sid = p2p(world, bandwidth=100)["id"]
    world.core.update_party(ADMIN, world.bob.party_id, {"account": account})
    error = refused(lambda: world.core.create_offer(world.alice, sid, {"party": "bob"}),
                    world.store, "account_not_supported", 409)
    assert words in error.message
    # An open invitation does not know its redeemer: it is made, and screened at redemption.
    code = world.core.create_offer(world.alice, sid, {})["code"]
    refused(lambda: world.core.accept_invitation(world.bob, {"code": code,
                                                             "interface": "bob-if0"}),
            world.store, at_redemption)


# -- a full point-to-point service -------------------------------------------------

def test_a_second_member_withdraws_the_other_pending_offers(world: World) -> None:
    sid = p2p(world)["id"]
    to_bob = world.core.create_offer(world.alice, sid, {"party": "bob"})
    to_carol = world.core.create_offer(world.alice, sid, {"party": "carol"})
    invitation = world.core.create_offer(world.alice, sid, {})
    overdue = world.core.create_offer(world.alice, sid, {"party": "dave", "expires_in_s": 5})
    world.clock.now += 10
    world.core.accept_offer(world.bob, to_bob["id"], {"interface": "bob-if0"})
    states = {o["id"]: o["state"] for o in world.core.list_offers(world.alice)}
    assert states == {to_bob["id"]: "accepted", to_carol["id"]: "withdrawn",
                      invitation["id"]: "withdrawn", overdue["id"]: "expired"}
    withdrawn = events(world, "offer_withdrawn")
    assert sorted((e["detail"]["offer"], e["actor"], e["party"]) for e in withdrawn) == [
        (to_carol["id"], "system", "carol"), (invitation["id"], "system", None)]
    assert all(e["service_id"] == sid and e["detail"]["reason"] == "point_to_point_full"
               for e in withdrawn)
    assert [e["detail"]["offer"] for e in events(world, "offer_expired")] == [overdue["id"]]
    assert any(e["detail"]["offer"] == to_carol["id"]
               for e in world.core.list_events(world.carol))  # the addressee is told
    refused(lambda: world.core.accept_offer(world.carol, to_carol["id"],
                                            {"interface": "carol-if0"}),
            world.store, "offer_not_pending", 409)
    check_invariants(world.core, world.store)


def test_a_multipoint_service_keeps_its_other_offers(world: World) -> None:
    sid = multipoint(world)["id"]
    to_carol = world.core.create_offer(world.alice, sid, {"party": "carol"})
    offer_and_accept(world, sid, world.bob, "bob-if0")
    assert world.core.list_offers(world.carol)[0]["id"] == to_carol["id"]
    assert world.core.list_offers(world.carol)[0]["state"] == "pending"
    assert events(world, "offer_withdrawn") == []


# -- expiry ------------------------------------------------------------------------

def test_an_expired_offer_records_when_it_expired(world: World) -> None:
    sid = p2p(world)["id"]
    offer = world.core.create_offer(world.alice, sid, {"party": "bob", "expires_in_s": 60})
    due_at = iso(world.clock.now + 60)
    world.clock.now += 3600  # the sweep comes late
    assert world.core.expire_offers() == 1
    [event] = events(world, "offer_expired")
    assert event["detail"] == {"offer": offer["id"], "expires_at": due_at}
    assert event["at"] == iso(world.clock.now)
