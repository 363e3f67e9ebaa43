"""Accounts, tokens and visibility (issue 9 §4) through the HTTP API: every
answer is also checked against the OpenAPI document by `World.call`."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from tests.unit import test_northbound_api as base
from tests.unit.test_northbound_api import ACCOUNT, World, p2p

world = base.world  # the fixture, shared

API = "/api/v1"


def _offer(world: World, service_id: int, party: str) -> int:
    return world.ok("POST", f"{API}/services/{service_id}/offers", "acme", {"party": party},
                    201)["id"]


def test_a_suspended_party_gets_403_on_every_write_and_still_reads(world: World) -> None:
    mp = {**p2p("mp"), "attributes": {"type": "multipoint-to-multipoint", "bandwidth_mbps": 10}}
    sid = world.ok("POST", f"{API}/services", "acme", mp, 201)["id"]
    world.ok("POST", f"{API}/offers/{_offer(world, sid, 'beta')}/accept", "beta",
             {"interface": "b1"})
    to_gamma = _offer(world, sid, "gamma")
    code = world.ok("POST", f"{API}/services/{sid}/offers", "acme", {}, 201)["code"]
    for party in ("acme", "beta", "gamma"):
        world.ok("PATCH", f"{API}/parties/{world.ids[party]}", "admin",
                 {"account": {"status": "suspended"}})
    before = world.snapshot()
    writes = [
        ("POST", f"{API}/services", "beta", p2p("b", "b2")),
        ("POST", f"{API}/services/{sid}/offers", "acme", {"party": "gamma"}),
        ("POST", f"{API}/offers/{to_gamma}/accept", "gamma", {"interface": "g1"}),
        ("POST", f"{API}/invitations/accept", "gamma", {"code": code, "interface": "g1"}),
        ("POST", f"{API}/offers/{to_gamma}/decline", "gamma", None),
        ("DELETE", f"{API}/offers/{to_gamma}", "acme", None),
        ("DELETE", f"{API}/services/{sid}/members/beta", "beta", None),
        ("DELETE", f"{API}/services/{sid}/members/beta", "acme", None),
        ("DELETE", f"{API}/services/{sid}", "acme", None),
    ]
    for method, path, who, body in writes:
        error = world.refused(method, path, who, body, 403, "account_suspended")
        assert f"'{who}'" in error["message"], (method, path)
    assert world.snapshot() == before
    for who in ("acme", "beta"):
        assert world.ok("GET", f"{API}/services/{sid}", who)["id"] == sid
        assert world.ok("GET", f"{API}/me", who)["account"]["status"] == "suspended"
        world.ok("GET", f"{API}/events", who)
        world.ok("GET", f"{API}/offers", who)
    world.ok("DELETE", f"{API}/services/{sid}", "admin")  # the provider still acts


def test_the_provider_issues_a_new_token_and_the_old_one_stops_working(world: World) -> None:
    path = f"{API}/parties/{world.ids['beta']}/token"
    old = world.tokens["beta"]
    issued = world.ok("POST", path, "admin")
    assert set(issued) == {"token"} and issued["token"] != old
    world.refused("GET", f"{API}/me", old, status=401, code="unauthorized")
    world.tokens["beta"] = issued["token"]
    assert world.ok("GET", f"{API}/me", "beta")["name"] == "beta"
    event = world.ok("GET", f"{API}/events", "admin")[0]
    assert (event["action"], event["actor"], event["party"]) == ("token_issued", "admin", "beta")
    assert event in world.ok("GET", f"{API}/events", "beta")
    world.refused("POST", path, "beta", status=403, code="forbidden")
    world.refused("POST", f"{API}/parties/{world.ids['acme']}/token", "beta", status=403)
    world.refused("POST", f"{API}/parties/999/token", "admin", status=404, code="not_found")
    world.refused("POST", path, "admin", {"token": "mine"}, 400, "invalid_field")
    world.refused("GET", path, "admin", status=405)
    assert world.ok("GET", f"{API}/me", "beta")["name"] == "beta"  # refusals changed nothing
    xml = world.call("POST", path, "admin", Accept="application/xml")
    assert xml.status_code == 200 and ET.fromstring(xml.body).find("token").text


def test_a_party_that_left_stops_seeing_the_service_events(world: World) -> None:
    mp = {**p2p("mp"), "attributes": {"type": "multipoint-to-multipoint", "bandwidth_mbps": 10}}
    sid = world.ok("POST", f"{API}/services", "acme", mp, 201)["id"]
    world.ok("POST", f"{API}/offers/{_offer(world, sid, 'beta')}/accept", "beta",
             {"interface": "b1"})
    world.ok("DELETE", f"{API}/services/{sid}/members/beta", "beta")
    world.ok("POST", f"{API}/offers/{_offer(world, sid, 'gamma')}/accept", "gamma",
             {"interface": "g1"})
    world.ok("DELETE", f"{API}/services/{sid}", "acme")

    def seen(who: str) -> list[tuple[int, str]]:
        return [(e["id"], e["action"]) for e in world.ok("GET", f"{API}/events", who)
                if e["service_id"] == sid]
    left = next(i for i, action in seen("admin") if action == "member_left")
    assert seen("acme") == seen("admin")
    assert seen("beta") == [(i, a) for i, a in seen("admin") if i <= left]
    assert ("service_deleted" in {a for _, a in seen("gamma")}
            and "service_deleted" not in {a for _, a in seen("beta")})


def test_a_second_pending_offer_to_the_same_party_is_409(world: World) -> None:
    sid = world.ok("POST", f"{API}/services", "acme", p2p(), 201)["id"]
    first = _offer(world, sid, "beta")
    error = world.refused("POST", f"{API}/services/{sid}/offers", "acme", {"party": "beta"},
                          409, "offer_exists")
    assert "'beta'" in error["message"]
    world.ok("DELETE", f"{API}/offers/{first}", "acme")
    _offer(world, sid, "beta")


def test_names_and_bandwidth_are_checked_in_full(world: World) -> None:
    body = {"name": "delta\n", "account": ACCOUNT, "interfaces": []}
    error = world.refused("POST", f"{API}/parties", "admin", body, 400, "invalid_field")
    assert error["message"].startswith("name:")
    for name in ("s\u200b", "\u202es", "s\n", ""):
        error = world.refused("POST", f"{API}/services", "acme", p2p(name), 400, "invalid_field")
        assert error["message"].startswith("name:"), name
    big = {**p2p(), "attributes": {"type": "point-to-point", "bandwidth_mbps": 4_294_968}}
    error = world.refused("POST", f"{API}/services", "acme", big, 400, "invalid_field")
    assert error["message"].startswith("attributes.bandwidth_mbps:")
    assert world.ok("GET", f"{API}/services", "acme") == []
