"""Service multiplexing in the core (EVPL / EVP-LAN): one service per (interface,
customer VLAN), the untagged one included; what the views and the intents carry."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.model import ADMIN
from tests.unit.test_core_fixtures import (
    World,
    build_world,
    check_invariants,
    ethernet_body,
    refused,
)

pytestmark = pytest.mark.usefixtures("core_engine")


@pytest.fixture
def world(tmp_path: Path) -> World:
    return build_world(tmp_path)


def create(w: World, name: str, ce_vlan: int | None, interface: str = "alice-if0",
           **kwargs) -> dict:
    body = ethernet_body(name, interface, **kwargs)
    if ce_vlan is not None:
        body["ce_vlan"] = ce_vlan
    return w.core.create_service(w.alice, body)


def join(w: World, service_id: int, actor, interface: str, ce_vlan: int | None) -> dict:
    offer = w.core.create_offer(w.alice, service_id, {"party": actor.name})
    body = {"interface": interface} | ({} if ce_vlan is None else {"ce_vlan": ce_vlan})
    return w.core.accept_offer(actor, offer["id"], body)


def test_services_share_an_interface_one_per_customer_vlan(world: World) -> None:
    untagged = create(world, "plain", None)
    v100 = create(world, "v100", 100)
    v200 = create(world, "v200", 200)
    assert [m["ce_vlan"] for m in v100["members"]] == [100]
    assert untagged["members"][0]["ce_vlan"] is None
    error = refused(lambda: create(world, "again", 100), world.store, "interface_busy", 409)
    assert "customer VLAN 100" in error.message and str(v100["id"]) in error.message
    error = refused(lambda: create(world, "again", None), world.store, "interface_busy", 409)
    assert "untagged" in error.message and str(untagged["id"]) in error.message
    # The party view: `service` is the untagged holder, `services` every holder.
    iface = world.core.me(world.alice)["interfaces"][0]
    assert iface["service"] == untagged["id"]
    assert iface["services"] == [{"id": untagged["id"], "ce_vlan": None},
                                 {"id": v100["id"], "ce_vlan": 100},
                                 {"id": v200["id"], "ce_vlan": 200}]
    assert world.core.me(world.alice)["interfaces"][1]["services"] == []
    check_invariants(world.core, world.store)


def test_members_translate_and_the_intent_carries_each_customer_vlan(world: World) -> None:
    v100 = create(world, "v100", 100)
    v200 = create(world, "v200", 200)
    # bob joins both on one interface, with other customer VLANs (translation) ...
    join(world, v100["id"], world.bob, "bob-if0", 300)
    answer = join(world, v200["id"], world.bob, "bob-if0", None)
    members = answer["service"]["members"]
    assert [(m["party"], m["ce_vlan"], m["state"]) for m in members] == [
        ("alice", 200, "provisioned"), ("bob", None, "provisioned")]
    intent = world.net.intents[-1]
    assert intent.service_id == v200["id"]
    assert {m.party: m.ce_vlan for m in intent.members} == {"alice": 200, "bob": None}
    first = next(i for i in world.net.intents if i.service_id == v100["id"] and i.members)
    assert {m.party: m.ce_vlan for m in first.members} == {"alice": 100, "bob": 300}
    # ... and an invitation redeemed with a customer VLAN on the same interface.
    v300 = create(world, "v300", 300, type_="multipoint-to-multipoint")
    code = world.core.create_offer(world.alice, v300["id"], {})["code"]
    refused(lambda: world.core.accept_invitation(
        world.bob, {"code": code, "interface": "bob-if0", "ce_vlan": 300}), world.store,
        "interface_busy")
    world.core.accept_invitation(world.bob, {"code": code, "interface": "bob-if0",
                                             "ce_vlan": 4094})
    held = world.core.me(world.bob)["interfaces"][0]["services"]
    assert sorted((s["ce_vlan"] or 0) for s in held) == [0, 300, 4094]
    check_invariants(world.core, world.store)


def test_a_customer_vlan_is_freed_when_its_member_has_left(world: World) -> None:
    v100 = create(world, "v100", 100)
    join(world, v100["id"], world.bob, "bob-if0", 100)
    world.core.remove_member(world.bob, v100["id"], "bob")
    other = create(world, "other", 100, interface="alice-if1")
    assert join(world, other["id"], world.bob, "bob-if0", 100)["state"] == "accepted"
    check_invariants(world.core, world.store)


@pytest.mark.parametrize("value", [0, 4095, -1, "100", True, 1.5])
def test_a_bad_customer_vlan_is_refused_by_name(world: World, value) -> None:
    body = ethernet_body("bad", "alice-if0") | {"ce_vlan": value}
    error = refused(lambda: world.core.create_service(world.alice, body), world.store,
                    "invalid_field", 400)
    assert error.message.startswith("ce_vlan")
    service = create(world, "good", None)
    offer = world.core.create_offer(world.alice, service["id"], {"party": "bob"})
    refused(lambda: world.core.accept_offer(world.bob, offer["id"], {
        "interface": "bob-if0", "ce_vlan": value}), world.store, "invalid_field", 400)


def test_only_ethernet_services_take_a_customer_vlan(world: World) -> None:
    fuel = {"name": "fuel", "kind": "fuel", "interface": "alice-if0",
            "attributes": {"quantity": 10, "unit": "l", "location": "depot"}}
    error = refused(lambda: world.core.create_service(world.alice, fuel | {"ce_vlan": 10}),
                    world.store, "invalid_field", 400)
    assert "ce_vlan" in error.message and "fuel" in error.message
    service = world.core.create_service(world.alice, fuel | {"ce_vlan": None})
    offer = world.core.create_offer(world.alice, service["id"], {"party": "bob"})
    refused(lambda: world.core.accept_offer(world.bob, offer["id"], {
        "interface": "bob-if0", "ce_vlan": 10}), world.store, "invalid_field", 400)


def test_channel_slots_count_memberships_not_interfaces(world: World) -> None:
    world.core.update_party(ADMIN, world.bob.party_id, {"account": {"max_channels": 2}})
    for ce_vlan in (100, 200):
        join(world, create(world, f"v{ce_vlan}", ce_vlan)["id"], world.bob, "bob-if0", ce_vlan)
    third = create(world, "v300", 300)
    error = refused(lambda: world.core.create_offer(world.alice, third["id"], {"party": "bob"}),
                    world.store, "account_not_supported")
    assert "uses 2 of max_channels 2" in error.message
