"""A live service changed by its owner (PATCH): renamed, or its bandwidth changed
in one verified step that the switches take as meter changes only."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.errors import ServiceError
from controller.model import ADMIN
from flows.compiler import compile_service
from flows.diff import plan
from tests.unit.test_core_fixtures import (
    World,
    build_world,
    check_invariants,
    metro_topology,
    offer_and_accept,
    p2p,
    refused,
    snapshot,
)

pytestmark = pytest.mark.usefixtures("core_engine")


@pytest.fixture
def world(tmp_path: Path) -> World:
    return build_world(tmp_path)


def live_pair(w: World, kind: str = "ethernet-channel", bandwidth: int = 100) -> int:
    service = p2p(w, kind=kind, bandwidth=bandwidth)
    offer_and_accept(w, service["id"], w.bob, "bob-if0")
    return service["id"]


def events(w: World, service_id: int) -> list[str]:
    return [e["action"] for e in w.core.list_events(ADMIN) if e["service_id"] == service_id]


def test_a_new_bandwidth_changes_only_the_meters(world: World) -> None:
    sid = live_pair(world)
    before = world.net.intents[-1]
    view = world.core.update_service(world.alice, sid, {"attributes": {"bandwidth_mbps": 20}})
    assert view["attributes"]["bandwidth_mbps"] == 20 and view["state"] == "active"
    assert [m["state"] for m in view["members"]] == ["provisioned", "provisioned"]
    after = world.net.intents[-1]
    assert (after.bandwidth_mbps, after.vlan, after.members) == (20, before.vlan, before.members)
    # What the switches are asked for: each member's meter modified, nothing else.
    topology = metro_topology()
    old, new = compile_service(topology, before), compile_service(topology, after)
    ops = [op for switch in old for op in plan(old[switch], new[switch])]
    assert ops and {op.kind for op in ops} == {"meter_modify"}
    assert {op.value.rate_kbps for op in ops} == {20_000}
    assert events(world, sid)[0] == "service_changed"
    check_invariants(world.core, world.store)


def test_a_rename_checks_the_owners_other_names(world: World) -> None:
    sid = live_pair(world)
    world.core.create_service(world.alice, {"name": "other", "kind": "fuel",
                                            "interface": "alice-if1", "attributes": {
                                                "quantity": 1, "unit": "l", "location": "x"}})
    error = refused(lambda: world.core.update_service(world.alice, sid, {"name": "other"}),
                    world.store, "name_taken", 409)
    assert "other" in error.message
    intents = len(world.net.intents)
    assert world.core.update_service(world.alice, sid, {"name": "renamed"})["name"] == "renamed"
    assert len(world.net.intents) == intents  # a new name asks nothing of the switches


def test_a_bandwidth_an_account_does_not_allow_is_refused_whole(world: World) -> None:
    sid = live_pair(world)
    world.core.update_party(ADMIN, world.bob.party_id, {"account": {"max_bandwidth_mbps": 150}})
    error = refused(lambda: world.core.update_service(
        world.alice, sid, {"name": "bigger", "attributes": {"bandwidth_mbps": 200}}),
        world.store, "account_not_supported", 409)
    assert "'bob'" in error.message and "150" in error.message


def test_secure_bandwidth_is_admitted_on_the_links_again(world: World) -> None:
    sid = live_pair(world, kind="secure-bandwidth", bandwidth=400)
    refused(lambda: world.core.update_service(world.alice, sid, {
        "attributes": {"bandwidth_mbps": 9000}}), world.store, "insufficient_capacity", 409)
    world.core.update_service(world.alice, sid, {"attributes": {"bandwidth_mbps": 600}})
    check_invariants(world.core, world.store)  # the reservations follow the new bandwidth


def test_who_may_change_what(world: World) -> None:
    sid = live_pair(world)
    refused(lambda: world.core.update_service(world.bob, sid, {"name": "mine"}), world.store,
            "not_owner", 403)
    refused(lambda: world.core.update_service(world.carol, sid, {"name": "mine"}), world.store,
            "not_found", 404)
    for body in ({"attributes": {"bandwidth_mbps": 0}}, {"attributes": {"type": "x"}},
                 {"vlan": 7}, {"name": ""}, []):
        refused(lambda b=body: world.core.update_service(world.alice, sid, b), world.store,
                "invalid_field", 400)
    fuel = world.core.create_service(world.alice, {
        "name": "fuel", "kind": "fuel", "interface": "alice-if1",
        "attributes": {"quantity": 1, "unit": "l", "location": "x"}})
    error = refused(lambda: world.core.update_service(world.alice, fuel["id"], {
        "attributes": {"bandwidth_mbps": 5}}), world.store, "invalid_field", 400)
    assert error.message.startswith("attributes")
    world.core.teardown_service(world.alice, sid)
    refused(lambda: world.core.update_service(world.alice, sid, {"name": "late"}), world.store,
            "service_not_live", 409)


def test_an_unchanged_body_changes_nothing(world: World) -> None:
    sid = live_pair(world)
    before, intents = snapshot(world.store), len(world.net.intents)
    world.core.update_service(world.alice, sid, {"name": "s1",
                                                 "attributes": {"bandwidth_mbps": 100}})
    world.core.update_service(world.alice, sid, {})
    after = snapshot(world.store)
    assert after["events"] == before["events"] and len(world.net.intents) == intents


def test_a_change_the_switches_refuse_is_undone(world: World) -> None:
    sid = live_pair(world)
    world.net.fail_for = {"bob"}
    with pytest.raises(ServiceError) as info:
        world.core.update_service(world.alice, sid, {"attributes": {"bandwidth_mbps": 30}})
    assert (info.value.status, info.value.code) == (503, "provisioning_failed")
    assert "acc1" in info.value.message
    view = world.core.get_service(world.alice, sid)
    assert view["attributes"]["bandwidth_mbps"] == 100
    assert world.net.intents[-1].bandwidth_mbps == 100  # the old meters asked for again
    assert events(world, sid)[:2] == ["service_change_failed", "service_changed"]
