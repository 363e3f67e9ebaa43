"""The main workflow of CONTRACT §3: create, offer, accept, provision, leave, tear down."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.core import ServiceCore
from controller.errors import ServiceError
from controller.model import ADMIN, Actor
from tests.unit.test_core_fixtures import (
    World,
    build_world,
    check_invariants,
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


def test_created_service_is_pending_with_owner_as_first_member(world: World) -> None:
    service = p2p(world)
    assert service["state"] == "pending" and service["vlan"] is None
    assert service["owner"] == "alice"
    assert service["members"] == [{"party": "alice", "interface": "alice-if0", "ce_vlan": None,
                                   "role": "peer", "state": "accepted", "error": None}]
    assert world.core.me(world.alice)["interfaces"][0]["service"] == service["id"]
    check_invariants(world.core, world.store)


def test_point_to_multipoint_owner_is_root(world: World) -> None:
    service = p2p(world, type_="point-to-multipoint")
    assert service["members"][0]["role"] == "root"
    result = offer_and_accept(world, service["id"], world.bob, "bob-if0")
    roles = {m["party"]: m["role"] for m in result["service"]["members"]}
    assert roles == {"alice": "root", "bob": "leaf"}
    assert {m.role for m in world.net.intents[-1].members} == {"root", "leaf"}


def test_acceptance_provisions_both_and_activates(world: World) -> None:
    service = p2p(world)
    result = offer_and_accept(world, service["id"], world.bob, "bob-if0")
    assert result["state"] == "accepted" and result["party"] == "bob"
    view = result["service"]
    assert view["state"] == "active" and view["vlan"] == 2
    assert [m["state"] for m in view["members"]] == ["provisioned", "provisioned"]
    assert view["provisioning"] == {"acc1": "installed"}
    intent = world.net.intents[-1]
    assert intent.vlan == 2 and intent.type == "point-to-point" and intent.bandwidth_mbps == 100
    assert {m.party for m in intent.members} == {"alice", "bob"}
    assert world.core.desired_intents() == [intent]
    check_invariants(world.core, world.store)


def test_multipoint_grows_and_shrinks(world: World) -> None:
    service = p2p(world, type_="multipoint-to-multipoint")
    for actor in (world.bob, world.carol, world.dave):
        offer_and_accept(world, service["id"], actor, f"{actor.name}-if0")
    assert len(world.net.intents[-1].members) == 4
    view = world.core.remove_member(world.carol, service["id"], "carol")
    assert [m["party"] for m in view["members"]] == ["alice", "bob", "dave"]
    assert {m.party for m in world.net.intents[-1].members} == {"alice", "bob", "dave"}
    view = world.core.remove_member(world.alice, service["id"], "dave")
    assert view["state"] == "active" and view["vlan"] == 2
    view = world.core.remove_member(world.alice, service["id"], "bob")
    # Alone again: no rules, no VLAN, back to pending.
    assert world.net.intents[-1].members == ()
    assert view["state"] == "pending" and view["vlan"] is None
    assert view["members"][0]["state"] == "accepted"
    check_invariants(world.core, world.store)


def test_teardown_frees_vlan_interfaces_and_withdraws_offers(world: World) -> None:
    service = p2p(world, type_="multipoint-to-multipoint")
    offer_and_accept(world, service["id"], world.bob, "bob-if0")
    pending = world.core.create_offer(world.alice, service["id"], {"party": "carol"})
    view = world.core.teardown_service(world.alice, service["id"])
    assert view["state"] == "deleted" and view["vlan"] is None and view["members"] == []
    assert world.net.intents[-1].members == () and world.net.intents[-1].vlan == 2
    assert world.core.desired_intents() == []
    offers = {o["id"]: o for o in world.core.list_offers(world.alice)}
    assert offers[pending["id"]]["state"] == "withdrawn"
    assert world.core.me(world.bob)["interfaces"][0]["service"] is None
    # The interfaces are free again, and the VLAN too, though it is reused last (stale
    # rules on a switch that was away might still carry it).
    again = p2p(world, name="s2")
    result = offer_and_accept(world, again["id"], world.bob, "bob-if0")
    assert result["service"]["vlan"] == 3
    check_invariants(world.core, world.store)


def test_vlans_are_lowest_never_used_then_least_recently_freed(world: World) -> None:
    first = p2p(world, name="one")
    offer_and_accept(world, first["id"], world.bob, "bob-if0")
    second = world.core.create_service(world.carol, ethernet_body("two", "carol-if0"))
    offer = world.core.create_offer(world.carol, second["id"], {"party": "dave"})
    assert world.core.accept_offer(world.dave, offer["id"],
                                   {"interface": "dave-if0"})["service"]["vlan"] == 3
    world.core.teardown_service(world.alice, first["id"])
    third = world.core.create_service(world.alice, ethernet_body("three", "alice-if1"))
    offer = world.core.create_offer(world.alice, third["id"], {"party": "bob"})
    assert world.core.accept_offer(world.bob, offer["id"],
                                   {"interface": "bob-if1"})["service"]["vlan"] == 4


def test_vlans_reused_least_recently_freed_once_all_were_used(tmp_path) -> None:
    world = build_world(tmp_path, pool=range(2, 4))
    first = p2p(world, name="one")
    offer_and_accept(world, first["id"], world.bob, "bob-if0")
    second = world.core.create_service(world.carol, ethernet_body("two", "carol-if0"))
    offer = world.core.create_offer(world.carol, second["id"], {"party": "dave"})
    world.core.accept_offer(world.dave, offer["id"], {"interface": "dave-if0"})
    world.clock.now += 1
    world.core.teardown_service(world.carol, second["id"])   # frees 3
    world.clock.now += 1
    world.core.teardown_service(world.alice, first["id"])    # frees 2, later
    third = world.core.create_service(world.alice, ethernet_body("three", "alice-if1"))
    offer = world.core.create_offer(world.alice, third["id"], {"party": "bob"})
    assert world.core.accept_offer(world.bob, offer["id"],
                                   {"interface": "bob-if1"})["service"]["vlan"] == 3


def test_invitation_code_works_once(world: World) -> None:
    service = p2p(world, type_="multipoint-to-multipoint")
    invitation = world.core.create_offer(world.alice, service["id"], {})
    assert invitation["invitation"] is True and invitation["party"] is None
    assert len(invitation["code"]) >= 43
    assert "code" not in world.core.list_offers(world.alice)[0]
    result = world.core.accept_invitation(world.carol, {"code": invitation["code"],
                                                        "interface": "carol-if0"})
    assert result["party"] == "carol" and result["state"] == "accepted"
    assert result["service"]["state"] == "active"
    with pytest.raises(Exception) as info:
        world.core.accept_invitation(world.dave, {"code": invitation["code"],
                                                  "interface": "dave-if0"})
    assert info.value.code == "offer_not_pending"


def test_decline_and_withdraw(world: World) -> None:
    service = p2p(world)
    offer = world.core.create_offer(world.alice, service["id"], {"party": "bob"})
    assert world.core.decline_offer(world.bob, offer["id"])["state"] == "declined"
    offer = world.core.create_offer(world.alice, service["id"], {"party": "bob"})
    assert world.core.withdraw_offer(world.alice, offer["id"])["state"] == "withdrawn"
    assert world.core.get_service(world.alice, service["id"])["state"] == "pending"
    check_invariants(world.core, world.store)


def test_offers_expire_lazily_and_by_sweep(world: World) -> None:
    service = p2p(world, type_="multipoint-to-multipoint")
    short = world.core.create_offer(world.alice, service["id"],
                                    {"party": "bob", "expires_in_s": 60})
    long = world.core.create_offer(world.alice, service["id"], {"party": "carol"})
    world.clock.now += 61
    states = {o["id"]: o["state"] for o in world.core.list_offers(world.alice)}
    assert states == {short["id"]: "expired", long["id"]: "pending"}
    world.clock.now += 7 * 24 * 3600
    assert world.core.expire_offers() == 1
    assert world.core.expire_offers() == 0
    actions = [e["action"] for e in world.core.list_events(ADMIN)]
    assert actions.count("offer_expired") == 2


def failed_acceptance(w: World, service_id: int, actor, interface: str) -> tuple[str, int]:
    """Offer and accept, expecting 503 provisioning_failed: (its message, the offer)."""
    offer = w.core.create_offer(w.alice, service_id, {"party": actor.name})["id"]
    with pytest.raises(ServiceError) as info:
        w.core.accept_offer(actor, offer, {"interface": interface})
    assert (info.value.status, info.value.code) == (503, "provisioning_failed"), info.value
    return info.value.message, offer


def test_failed_provisioning_keeps_nothing_and_the_offer_open(world: World) -> None:
    service = p2p(world, kind="secure-bandwidth", type_="multipoint-to-multipoint")
    offer_and_accept(world, service["id"], world.bob, "bob-if0")
    world.net.fail_for.add("carol")
    message, offer = failed_acceptance(world, service["id"], world.carol, "carol-if0")
    assert "refused" in message and f"offer {offer} is pending again" in message
    view = world.core.get_service(world.alice, service["id"])
    assert [m["party"] for m in view["members"]] == ["alice", "bob"]
    assert view["state"] == "active"
    # The switches were told again, without carol.
    assert {m.party for m in world.net.intents[-1].members} == {"alice", "bob"}
    assert world.core.me(world.carol)["interfaces"][0]["services"] == []
    assert [o["state"] for o in world.core.list_offers(world.carol)] == ["pending"]
    events = [e["action"] for e in world.core.list_events(ADMIN, service=service["id"])]
    assert events[:2] == ["offer_reopened", "member_failed"]
    check_invariants(world.core, world.store)
    # The same offer, accepted again, succeeds.
    world.net.fail_for.clear()
    result = world.core.accept_offer(world.carol, offer, {"interface": "carol-if0"})
    states = {m["party"]: m["state"] for m in result["service"]["members"]}
    assert states == {"alice": "provisioned", "bob": "provisioned", "carol": "provisioned"}
    check_invariants(world.core, world.store)


def test_a_failed_acceptance_that_filled_a_point_to_point_service_reopens_its_other_offers(
        world: World) -> None:
    """The acceptance withdrew the other pending offers because the service was full;
    the switches did not take it, so they are pending again (an owner's own
    withdrawal and an offer that expired meanwhile stay as they are)."""
    service = p2p(world)
    sid = service["id"]
    to_carol = world.core.create_offer(world.alice, sid, {"party": "carol"})["id"]
    code = world.core.create_offer(world.alice, sid, {})
    short = world.core.create_offer(world.alice, sid, {"party": "dave", "expires_in_s": 60})["id"]
    world.net.fail_for.add("bob")
    to_bob = world.core.create_offer(world.alice, sid, {"party": "bob"})["id"]
    world.clock.now += 30
    with pytest.raises(ServiceError) as info:
        world.core.accept_offer(world.bob, to_bob, {"interface": "bob-if0"})
    assert info.value.code == "provisioning_failed"
    states = {o["id"]: o["state"] for o in world.core.list_offers(world.alice)}
    assert states == {to_carol: "pending", code["id"]: "pending", short: "pending",
                      to_bob: "pending"}
    reopened = [(e["party"], e["detail"].get("reason")) for e in
                world.core.list_events(ADMIN, service=sid) if e["action"] == "offer_reopened"]
    assert sorted(reopened, key=str) == sorted(
        [("bob", "provisioning_failed"), ("carol", "point_to_point_not_filled"),
         ("dave", "point_to_point_not_filled"), (None, "point_to_point_not_filled")], key=str)
    check_invariants(world.core, world.store)

    # Filled again, and this time the switches take it; an expiry and a withdrawal stay.
    world.core.withdraw_offer(world.alice, to_carol)
    world.net.fail_for.clear()
    world.clock.now += 31  # dave's offer is past its expiry
    world.core.accept_offer(world.bob, to_bob, {"interface": "bob-if0"})
    states = {o["id"]: o["state"] for o in world.core.list_offers(world.alice)}
    assert states == {to_carol: "withdrawn", code["id"]: "withdrawn", short: "expired",
                      to_bob: "accepted"}
    check_invariants(world.core, world.store)


def test_failed_first_acceptance_leaves_service_pending_without_vlan(world: World) -> None:
    service = p2p(world)
    world.net.fail_for.add("bob")
    failed_acceptance(world, service["id"], world.bob, "bob-if0")
    view = world.core.get_service(world.alice, service["id"])
    assert view["state"] == "pending" and view["vlan"] is None
    assert [m["state"] for m in view["members"]] == ["accepted"]
    assert world.net.intents[-1].members == ()
    assert world.core.desired_intents() == []
    check_invariants(world.core, world.store)


def test_crashing_provisioner_counts_as_failure(world: World) -> None:
    class Crashing:
        def submit(self, intent):
            raise RuntimeError("barrier timed out")

    world.core.set_provisioner("ethernet", Crashing())
    service = p2p(world)
    message, _ = failed_acceptance(world, service["id"], world.bob, "bob-if0")
    assert "barrier timed out" in message
    check_invariants(world.core, world.store)


def test_member_leaves_and_a_failed_acceptance_left_no_member(world: World) -> None:
    service = p2p(world, type_="multipoint-to-multipoint")
    offer_and_accept(world, service["id"], world.bob, "bob-if0")
    world.net.fail_for.add("carol")
    failed_acceptance(world, service["id"], world.carol, "carol-if0")
    refused(lambda: world.core.remove_member(world.alice, service["id"], "carol"), world.store,
            "not_found", 404)
    view = world.core.remove_member(world.bob, service["id"], "bob")
    assert view["state"] == "pending"
    actions = [e["action"] for e in world.core.list_events(world.alice)]
    assert actions[:3] == ["member_left", "offer_reopened", "member_failed"]


def test_admin_may_remove_members_and_tear_down(world: World) -> None:
    service = p2p(world)
    offer_and_accept(world, service["id"], world.bob, "bob-if0")
    assert world.core.remove_member(ADMIN, service["id"], "bob")["state"] == "pending"
    assert world.core.teardown_service(ADMIN, service["id"])["state"] == "deleted"


def test_visibility_of_services_offers_and_events(world: World) -> None:
    service = p2p(world)
    offer_and_accept(world, service["id"], world.bob, "bob-if0")
    assert [s["id"] for s in world.core.list_services(world.bob)] == [service["id"]]
    assert world.core.list_services(world.carol) == []
    assert len(world.core.list_services(ADMIN)) == 1
    assert world.core.list_offers(world.carol) == []
    assert len(world.core.list_offers(world.bob)) == 1
    assert [e["action"] for e in world.core.list_events(world.carol)] == ["party_created"]
    bob_events = world.core.list_events(world.bob)
    assert bob_events and all(e["service_id"] == service["id"] or e["party"] == "bob"
                              for e in bob_events)
    assert [e["id"] for e in bob_events] == sorted((e["id"] for e in bob_events), reverse=True)
    newest = bob_events[0]["id"]
    assert world.core.list_events(world.bob, since=newest) == []
    assert [e["id"] for e in world.core.list_events(world.bob, since=newest - 1)] == [newest]
    assert [p["name"] for p in world.core.list_parties(world.bob)] == ["bob"]
    assert len(world.core.list_parties(ADMIN)) == 4


def test_events_say_who_did_what_to_which(world: World) -> None:
    service = p2p(world)
    offer_and_accept(world, service["id"], world.bob, "bob-if0")
    events = world.core.list_events(ADMIN)
    created = next(e for e in events if e["action"] == "service_created")
    assert created["actor"] == "alice" and created["service_id"] == service["id"]
    accepted = next(e for e in events if e["action"] == "offer_accepted")
    assert accepted["actor"] == "bob" and accepted["party"] == "bob"
    assert accepted["detail"]["vlan"] == 2 and accepted["at"].endswith("Z")
    assert sum(e["action"] == "party_created" for e in events) == 4


def test_topology_view_shows_reservations_and_interfaces(world: World) -> None:
    service = p2p(world, kind="secure-bandwidth", bandwidth=300)
    offer_and_accept(world, service["id"], world.bob, "bob-if0")
    world.core.set_switch_connected("core1", True)
    view = world.core.topology_view(ADMIN)
    reserved = {tuple(link["ends"]): link["reserved_mbps"] for link in view["links"]}
    assert reserved[("agg1:2", "acc1:1")] == 300 and reserved[("agg1:3", "acc2:1")] == 300
    assert reserved[("core1:1", "agg1:1")] == 0
    assert {s["name"]: s["connected"] for s in view["switches"]}["core1"] is True
    ports = {(p["switch"], p["port"]): p["interface"] for p in view["edge_ports"]}
    assert ports[("acc1", 2)]["name"] == "alice-if0"
    mine = {(p["switch"], p["port"]): p["interface"]
            for p in world.core.topology_view(world.bob)["edge_ports"]}
    assert mine[("acc1", 2)] is None and mine[("acc2", 2)]["name"] == "bob-if0"


def test_switch_and_link_down_degrade_services(world: World) -> None:
    service = p2p(world)
    offer_and_accept(world, service["id"], world.bob, "bob-if0")
    world.core.set_switch_connected("acc4", False)
    assert world.core.get_service(world.alice, service["id"])["state"] == "active"
    world.core.set_switch_connected("agg1", False)
    assert world.core.get_service(world.alice, service["id"])["state"] == "degraded"
    assert world.core.stats()["services"] == {"degraded": 1}
    world.core.set_switch_connected("agg1", True)
    assert world.core.get_service(world.alice, service["id"])["state"] == "active"
    from topology.model import PortRef
    world.core.set_link_up(PortRef("acc2", 1), False)
    assert world.core.get_service(world.alice, service["id"])["state"] == "degraded"
    world.core.set_link_up(PortRef("agg1", 3), True)
    assert world.core.get_service(world.alice, service["id"])["state"] == "active"
    actions = [e["action"] for e in world.core.list_events(ADMIN)][:4]
    assert actions == ["link_up", "link_down", "switch_up", "switch_down"]


def test_stats_count_services_offers_and_parties(world: World) -> None:
    service = p2p(world, type_="multipoint-to-multipoint")
    offer_and_accept(world, service["id"], world.bob, "bob-if0")
    world.core.create_offer(world.alice, service["id"], {"party": "carol"})
    stats = world.core.stats()
    assert stats["services"] == {"active": 1}
    assert stats["offers"] == {"accepted": 1, "pending": 1}
    assert stats["parties"] == 4 and stats["members"] == {"provisioned": 2}


def test_update_party_changes_account_and_interfaces(world: World) -> None:
    view = world.core.update_party(ADMIN, world.bob.party_id, {
        "account": {"max_channels": 3, "status": "suspended"},
        "interfaces": [{"name": "bob-if0", "switch": "acc2", "port": 2,
                        "mac": "02:00:00:00:00:14"},
                       {"name": "bob-new", "switch": "acc2", "port": 7,
                        "mac": "02:00:00:00:00:AA"}]})
    assert view["account"]["max_channels"] == 3 and view["account"]["status"] == "suspended"
    assert [(i["name"], i["port"], i["mac"]) for i in view["interfaces"]] == [
        ("bob-if0", 2, "02:00:00:00:00:14"), ("bob-new", 7, "02:00:00:00:00:aa")]
    assert world.core.get_party(ADMIN, world.bob.party_id) == view
    assert world.core.get_party(world.bob, world.bob.party_id) == view


def test_new_party_token_is_shown_once_and_authenticates(world: World) -> None:
    created = world.core.create_party(ADMIN, party_body("erin", [("acc1", 9)], first_mac=99))
    assert len(created["token"]) >= 43
    actor = world.core.authenticate(created["token"])
    assert actor == Actor(is_admin=False, party_id=created["id"], name="erin")
    assert "token" not in world.core.get_party(ADMIN, created["id"])
    assert world.core.authenticate("admin-secret-for-tests").is_admin


def test_utility_service_is_provisioned_by_work_orders(world: World) -> None:
    service = world.core.create_service(world.alice, {
        "name": "power", "kind": "electric-power", "interface": "alice-if0",
        "attributes": {"quantity": 5.5, "unit": "MWh", "location": "substation 3"}})
    result = offer_and_accept(world, service["id"], world.bob, "bob-if0")
    assert result["service"]["vlan"] is None and result["service"]["state"] == "pending"
    orders = world.core.list_orders(ADMIN)
    assert [(o["party"], o["state"], o["kind"]) for o in orders] == [
        ("alice", "open", "electric-power"), ("bob", "open", "electric-power")]
    assert orders[0]["attributes"]["unit"] == "MWh"
    assert world.net.intents == []
    world.core.update_order(ADMIN, orders[0]["id"], {"state": "fulfilled"})
    view = world.core.get_service(world.alice, service["id"])
    assert [m["state"] for m in view["members"]] == ["provisioned", "accepted"]
    assert view["state"] == "pending"
    done = world.core.update_order(ADMIN, orders[1]["id"], {"state": "fulfilled"})
    assert done["state"] == "fulfilled" and done["fulfilled_at"] is not None
    assert world.core.get_service(world.alice, service["id"])["state"] == "active"
    offer_and_accept(world, service["id"], world.carol, "carol-if0")
    assert [o["party"] for o in world.core.list_orders(ADMIN)] == ["alice", "bob", "carol"]
    world.core.teardown_service(world.alice, service["id"])
    assert [o["state"] for o in world.core.list_orders(ADMIN)] == [
        "fulfilled", "fulfilled", "cancelled"]


def test_interfaces_may_swap_ports_in_one_update(world: World) -> None:
    body = world.core.me(world.bob)["interfaces"]
    for iface in body:
        del iface["service"]
    body[0]["port"], body[1]["port"] = body[1]["port"], body[0]["port"]
    body[0]["mac"], body[1]["mac"] = body[1]["mac"], body[0]["mac"]
    view = world.core.update_party(ADMIN, world.bob.party_id, {"interfaces": body})
    assert [(i["name"], i["port"]) for i in view["interfaces"]] == [("bob-if0", 3),
                                                                    ("bob-if1", 2)]


def test_a_failed_acceptance_frees_the_interface_and_the_log_keeps_why(world: World) -> None:
    service = p2p(world)
    world.net.fail_for.add("bob")
    failed_acceptance(world, service["id"], world.bob, "bob-if0")
    keep = [i for i in world.core.me(world.bob)["interfaces"] if i["name"] == "bob-if1"]
    world.core.update_party(ADMIN, world.bob.party_id, {"interfaces": keep})
    failed = world.core.list_events(ADMIN, service=service["id"], action="member_failed")
    assert [(e["party"], e["detail"]["error"]) for e in failed] == [
        ("bob", "switch refused rules for bob")]


def test_an_offer_past_its_expiry_is_expired_when_touched(world: World) -> None:
    service = p2p(world)
    offer = world.core.create_offer(world.alice, service["id"],
                                    {"party": "bob", "expires_in_s": 10})
    world.clock.now += 10
    with pytest.raises(ServiceError) as info:
        world.core.accept_offer(world.bob, offer["id"], {"interface": "bob-if0"})
    assert info.value.code == "offer_not_pending" and "expired" in info.value.message
    assert world.core.list_offers(world.bob)[0]["state"] == "expired"
    expired = world.core.list_events(world.alice)[0]
    assert (expired["actor"], expired["action"]) == ("system", "offer_expired")


def test_default_provisioner_reports_the_subtree_installed(tmp_path: Path) -> None:
    core = make_core(tmp_path)
    tokens = [core.create_party(ADMIN, party_body(n, [(sw, 2)], first_mac=i + 1))["token"]
              for i, (n, sw) in enumerate((("a", "acc1"), ("b", "acc3")))]
    a, b = (core.authenticate(t) for t in tokens)
    service = core.create_service(a, ethernet_body("s", "a-if0"))
    offer = core.create_offer(a, service["id"], {"party": "b"})
    view = core.accept_offer(b, offer["id"], {"interface": "b-if0"})["service"]
    assert view["state"] == "active"
    assert view["provisioning"] == dict.fromkeys(
        ["acc1", "acc3", "agg1", "agg2", "core1"], "installed")


def test_construction_refusals(tmp_path: Path) -> None:
    core = make_core(tmp_path)
    with pytest.raises(ValueError):
        core.set_provisioner("fuel", object())
    with pytest.raises(ValueError):
        ServiceCore(core.topology, core._ctx.store, admin_token="")
    with pytest.raises(ValueError):
        make_core(tmp_path, pool=[0, 1])


def test_a_removal_a_switch_has_not_confirmed_holds_interface_and_vlan(world: World) -> None:
    """Leave while acc2 is away: bob stays `leaving`, his interface and the VLAN stay
    taken (the switch, fail-secure, still forwards for him) until acc2 confirms."""
    service = p2p(world, type_="multipoint-to-multipoint")
    offer_and_accept(world, service["id"], world.bob, "bob-if0")
    offer_and_accept(world, service["id"], world.carol, "carol-if0")
    world.net.away = {"acc2"}
    view = world.core.remove_member(world.bob, service["id"], "bob")
    bob = next(m for m in view["members"] if m["party"] == "bob")
    assert bob["state"] == "leaving" and view["provisioning"]["acc2"] == "removal_pending"
    other = world.core.create_service(world.dave, ethernet_body("d", "dave-if0"))
    offer = world.core.create_offer(world.dave, other["id"], {"party": "bob"})
    refused(lambda: world.core.accept_offer(world.bob, offer["id"], {"interface": "bob-if0"}),
            world.store, "interface_busy")
    world.net.away = set()
    world.core.confirm_removals("acc1")  # another switch: nothing changes
    assert "leaving" in [m["state"] for m in world.core.get_service(
        ADMIN, service["id"])["members"]]
    world.core.confirm_removals("acc2")
    view = world.core.get_service(ADMIN, service["id"])
    assert [m["party"] for m in view["members"]] == ["alice", "carol"]
    assert "removal_pending" not in view["provisioning"].values()
    assert world.core.accept_offer(world.bob, offer["id"], {"interface": "bob-if0"})
    check_invariants(world.core, world.store)


def test_a_teardown_a_switch_has_not_confirmed_keeps_the_vlan(world: World) -> None:
    service = p2p(world)
    offer_and_accept(world, service["id"], world.bob, "bob-if0")
    world.net.away = {"acc2"}
    view = world.core.teardown_service(world.alice, service["id"])
    assert view["state"] == "deleted" and view["vlan"] == 2
    assert view["provisioning"] == {"acc2": "removal_pending"}
    world.net.away = set()
    world.core.confirm_removals("acc2")
    view = world.core.get_service(ADMIN, service["id"])
    assert view["vlan"] is None and view["provisioning"] == {} and view["members"] == []
    check_invariants(world.core, world.store)


def test_suspending_a_party_takes_its_members_off_and_resuming_puts_them_back(
        world: World) -> None:
    service = p2p(world, type_="multipoint-to-multipoint")
    offer_and_accept(world, service["id"], world.bob, "bob-if0")
    offer_and_accept(world, service["id"], world.carol, "carol-if0")
    bob_id = world.core.me(world.bob)["id"]
    world.core.update_party(ADMIN, bob_id, {"account": {"status": "suspended"}})
    assert {m.party for m in world.net.intents[-1].members} == {"alice", "carol"}
    view = world.core.get_service(ADMIN, service["id"])
    assert view["state"] == "degraded" and view["vlan"] == 2
    assert {m["party"]: m["state"] for m in view["members"]}["bob"] == "suspended"
    assert world.core.me(world.bob)["interfaces"][0]["service"] == service["id"]  # still held
    world.core.update_party(ADMIN, bob_id, {"account": {"status": "active"}})
    assert {m.party for m in world.net.intents[-1].members} == {"alice", "bob", "carol"}
    view = world.core.get_service(ADMIN, service["id"])
    assert view["state"] == "active" and view["vlan"] == 2
    assert [m["state"] for m in view["members"]] == ["provisioned"] * 3
    check_invariants(world.core, world.store)


def test_a_point_to_point_service_keeps_its_vlan_while_its_peer_is_suspended(
        world: World) -> None:
    service = p2p(world)
    offer_and_accept(world, service["id"], world.bob, "bob-if0")
    bob_id = world.core.me(world.bob)["id"]
    world.core.update_party(ADMIN, bob_id, {"account": {"status": "suspended"}})
    assert world.net.intents[-1].members == ()
    view = world.core.get_service(ADMIN, service["id"])
    assert view["state"] == "degraded" and view["vlan"] == 2
    world.core.update_party(ADMIN, bob_id, {"account": {"status": "active"}})
    assert world.core.get_service(ADMIN, service["id"])["state"] == "active"
    check_invariants(world.core, world.store)


def test_an_outcome_the_database_refuses_is_undone_not_left_installed(world: World,
                                                                      monkeypatch) -> None:
    """The switches confirmed, then the transaction recording it failed: the
    acceptance fails (503) and its rules are withdrawn, rather than staying
    installed and `accepted`."""
    service = p2p(world)
    offer = world.core.create_offer(world.alice, service["id"], {"party": "bob"})
    real = world.store.transaction
    calls = []

    def second_fails():
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk I/O error")
        return real()

    monkeypatch.setattr(world.store, "transaction", second_fails)
    with pytest.raises(ServiceError) as info:
        world.core.accept_offer(world.bob, offer["id"], {"interface": "bob-if0"})
    assert info.value.code == "provisioning_failed"
    assert "could not be recorded" in info.value.message
    assert world.net.intents[-1].members == ()
    assert world.core.desired_intents() == []
    monkeypatch.setattr(world.store, "transaction", real)
    check_invariants(world.core, world.store)
