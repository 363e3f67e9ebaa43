"""Services and offers through the API; envelope refusals; XML; the unauthenticated pages."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

import pytest

from controller import metrics
from northbound.envelope import MAX_BODY_BYTES
from tests.unit import test_northbound_api as base
from tests.unit.test_northbound_api import World, p2p

world, offered = base.world, base.offered  # the fixtures, shared

S = "/api/v1/services"


def test_create_and_read_a_service(world: World) -> None:
    service = world.ok("POST", S, "acme", p2p(), 201)
    assert service["state"] == "pending" and service["owner"] == "acme"
    assert [(m["party"], m["interface"]) for m in service["members"]] == [("acme", "a1")]
    assert world.ok("GET", f"{S}/{service['id']}", "acme") == service
    assert [s["id"] for s in world.ok("GET", S, "acme")] == [service["id"]]
    assert world.ok("GET", S, "beta") == []
    world.refused("GET", f"{S}/{service['id']}", "beta", status=404, code="not_found")
    world.refused("GET", f"{S}/999", "acme", status=404)
    assert world.ok("GET", f"{S}/{service['id']}", "admin")["id"] == service["id"]


@pytest.mark.parametrize("change,field_name", [
    ({"colour": "red"}, "colour"),
    ({"kind": "teleport"}, "kind"),
    ({"attributes": {"type": "ring", "bandwidth_mbps": 1}}, "type"),
    ({"attributes": {"type": "point-to-point", "bandwidth_mbps": "1"}}, "bandwidth_mbps"),
    ({"attributes": {"type": "point-to-point", "bandwidth_mbps": 1, "x": 1}}, "x"),
    ({"interface": 5}, "interface"),
])
def test_create_service_refuses_bad_fields(world: World, change: dict, field_name: str) -> None:
    before = world.snapshot()
    error = world.refused("POST", S, "acme", {**p2p(), **change}, 400, "invalid_field")
    assert field_name in error["message"]
    assert world.snapshot() == before


def test_create_service_conflicts(world: World) -> None:
    world.ok("POST", S, "acme", p2p(), 201)
    world.refused("POST", S, "acme", p2p("again"), 409, "interface_busy")
    world.refused("POST", S, "acme", p2p("theirs", "b1"), 400, "invalid_field")  # beta's
    world.refused("POST", S, "admin", p2p("x", "a2"), 403)


def test_offer_accept_provisions_and_activates(world: World, offered) -> None:
    service, offer = offered
    assert [o["id"] for o in world.ok("GET", "/api/v1/offers", "beta")] == [offer]
    assert [o["id"] for o in world.ok("GET", "/api/v1/offers", "acme")] == [offer]
    world.refused("POST", f"/api/v1/offers/{offer}/accept", "acme", {"interface": "a2"}, 403,
                  "not_addressee")  # the owner sees its offer, but it is not addressed to it
    world.refused("POST", f"/api/v1/offers/{offer}/accept", "gamma", {"interface": "g1"}, 404)
    world.refused("POST", f"/api/v1/offers/{offer}/accept", "beta", {"interface": "a2"}, 400,
                  "invalid_field")
    world.refused("POST", f"/api/v1/offers/{offer}/accept", "beta", {}, 400, "invalid_field")
    accepted = world.ok("POST", f"/api/v1/offers/{offer}/accept", "beta", {"interface": "b1"})
    assert accepted["state"] == "accepted" and accepted["service"]["state"] == "active"
    assert isinstance(accepted["service"]["vlan"], int)
    assert {m["state"] for m in accepted["service"]["members"]} == {"provisioned"}
    assert accepted["service"]["provisioning"]
    world.refused("POST", f"/api/v1/offers/{offer}/accept", "beta", {"interface": "b2"}, 409,
                  "offer_not_pending")
    world.refused("POST", f"{S}/{service}/offers", "acme", {"party": "gamma"}, 409,
                  "point_to_point_full")
    world.refused("POST", f"{S}/{service}/offers", "acme", {"party": "nobody"}, 400)
    world.refused("POST", f"{S}/{service}/offers", "beta", {"party": "gamma"}, 403)


def test_decline_and_withdraw(world: World, offered) -> None:
    service, offer = offered
    world.refused("POST", f"/api/v1/offers/{offer}/decline", "acme", status=403)
    world.refused("POST", f"/api/v1/offers/{offer}/decline", "gamma", status=404)
    world.refused("POST", f"/api/v1/offers/{offer}/decline", "beta", {"why": "no"}, 400,
                  "invalid_field")
    assert world.ok("POST", f"/api/v1/offers/{offer}/decline", "beta")["state"] == "declined"
    world.refused("POST", f"/api/v1/offers/{offer}/decline", "beta", status=409)
    again = world.ok("POST", f"{S}/{service}/offers", "acme", {"party": "beta"}, 201)
    world.refused("DELETE", f"/api/v1/offers/{again['id']}", "beta", status=403)
    assert world.ok("DELETE", f"/api/v1/offers/{again['id']}", "acme")["state"] == "withdrawn"
    world.refused("DELETE", f"/api/v1/offers/{again['id']}", "acme", status=409)
    world.refused("DELETE", "/api/v1/offers/999", "acme", status=404)


def test_invitation_code_works_once(world: World) -> None:
    service = world.ok("POST", S, "acme", {**p2p("mp"), "attributes": {
        "type": "multipoint-to-multipoint", "bandwidth_mbps": 10}}, 201)
    invitation = world.ok("POST", f"{S}/{service['id']}/offers", "acme", {}, 201)
    assert invitation["invitation"] and invitation["party"] is None and invitation["code"]
    assert "code" not in json.dumps(world.ok("GET", "/api/v1/offers", "acme"))
    body = {"code": invitation["code"], "interface": "g1"}
    world.refused("POST", "/api/v1/invitations/accept", "gamma", {"code": "wrong",
                                                                  "interface": "g1"}, 404)
    joined = world.ok("POST", "/api/v1/invitations/accept", "gamma", body)
    assert joined["service"]["state"] == "active"
    response = world.call("POST", "/api/v1/invitations/accept", "beta",
                          {**body, "interface": "b1"})
    assert response.status_code in (404, 409)


def test_an_invitation_is_previewed_and_an_offer_shows_its_service(world: World) -> None:
    service = world.ok("POST", S, "acme", {**p2p("mp"), "attributes": {
        "type": "multipoint-to-multipoint", "bandwidth_mbps": 10}}, 201)
    code = world.ok("POST", f"{S}/{service['id']}/offers", "acme", {}, 201)["code"]
    before = world.snapshot()
    seen = world.ok("POST", "/api/v1/invitations/preview", "gamma", {"code": code})
    assert seen["service"]["members"] == 1 and seen["owner"] == "acme" and seen["expires_at"]
    assert world.snapshot() == before
    xml = world.call("POST", "/api/v1/invitations/preview", "gamma", {"code": code},
                     Accept="application/xml")
    assert ET.fromstring(xml.body).tag == "invitation"
    world.refused("POST", "/api/v1/invitations/preview", "gamma", {"code": "wrong"}, 404,
                  "not_found")
    error = world.refused("POST", "/api/v1/invitations/preview", "gamma",
                          {"code": code, "interface": "g1"}, 400, "invalid_field")
    assert error["message"].startswith("interface:")
    world.refused("GET", "/api/v1/invitations/preview", "gamma", status=405)
    offer = world.ok("POST", f"{S}/{service['id']}/offers", "acme", {"party": "beta"}, 201)
    assert offer["service"] == seen["service"]
    preview = world.ok("GET", f"{S}/{service['id']}", "beta")  # the addressee reads it
    assert [(m["party"], m["interface"]) for m in preview["members"]] == [("acme", None)]
    world.refused("PATCH", f"{S}/{service['id']}", "beta", {"name": "x"}, 404)
    world.ok("POST", "/api/v1/invitations/accept", "gamma", {"code": code, "interface": "g1"})
    world.refused("POST", "/api/v1/invitations/preview", "gamma", {"code": code}, 404)


def test_leave_remove_and_teardown(world: World, offered) -> None:
    service, offer = offered
    world.ok("POST", f"/api/v1/offers/{offer}/accept", "beta", {"interface": "b1"})
    world.refused("DELETE", f"{S}/{service}/members/beta", "gamma", status=404)
    world.refused("DELETE", f"{S}/{service}", "beta", status=403)
    left = world.ok("DELETE", f"{S}/{service}/members/beta", "beta")
    assert [m["party"] for m in left["members"]] == ["acme"] and left["state"] == "pending"
    world.refused("GET", f"{S}/{service}", "beta", status=404)
    world.refused("DELETE", f"{S}/{service}/members/nobody", "acme", status=404)
    gone = world.ok("DELETE", f"{S}/{service}", "acme")
    assert gone["state"] == "deleted"
    world.refused("DELETE", f"{S}/{service}", "acme", status=409)
    assert world.ok("POST", S, "acme", p2p("reuse"), 201)["state"] == "pending"  # a1 is free


# -- the envelope: size, media type, JSON, unknown fields -------------------------

def test_envelope_refusals_change_nothing(world: World, offered) -> None:
    service, offer = offered
    before = world.snapshot()
    cases = [
        (dict(raw=b"{" + b" " * MAX_BODY_BYTES + b"}"), 413, "payload_too_large"),
        (dict(raw=b'{"name": "x"', ), 400, "invalid_json"),
        (dict(raw=b"[]"), 400, "invalid_body"),
        (dict(raw=b"name=x", **{"Content-Type": "application/x-www-form-urlencoded"}), 415,
         "unsupported_media_type"),
        (dict(raw=b"\xff"), 400, "invalid_json"),
    ]
    for kwargs, status, code in cases:
        for path in (S, "/api/v1/parties", f"/api/v1/offers/{offer}/accept"):
            response = world.call("POST", path, "admin" if "parties" in path else "beta", **kwargs)
            assert (response.status_code, response.json["error"]["code"]) == (status, code)
    assert world.snapshot() == before


def test_unknown_query_parameters_are_refused(world: World) -> None:
    error = world.refused("GET", "/api/v1/events?since=1&colour=red", "admin", status=400,
                          code="invalid_field")
    assert "colour" in error["message"]
    world.refused("GET", "/api/v1/services?x=1", "acme", status=400, code="invalid_field")


def test_unknown_path_and_method(world: World) -> None:
    world.refused("GET", "/api/v1/nothing", "admin", status=404, code="not_found")
    world.refused("GET", "/api/v1/services/abc", "acme", status=404)
    world.refused("GET", "/api/v1/services/" + "9" * 40, "acme", status=404)
    response = world.call("PUT", "/api/v1/services/1", "acme", {})
    assert response.status_code == 405 and response.headers["Allow"] == "DELETE, GET, PATCH"
    assert response.json["error"]["code"] == "method_not_allowed"


# -- XML --------------------------------------------------------------------------

def test_every_resource_renders_as_xml_with_the_json_fields(world: World, offered) -> None:
    world.ok("POST", f"/api/v1/offers/{offered[1]}/accept", "beta", {"interface": "b1"})
    for path, who in [("/api/v1/parties", "admin"), ("/api/v1/parties/1", "admin"),
                      ("/api/v1/me", "beta"), ("/api/v1/topology", "beta"),
                      ("/api/v1/events", "beta"), (S, "beta"), (f"{S}/{offered[0]}", "beta"),
                      ("/api/v1/offers", "beta"), ("/api/v1/orders", "admin"),
                      ("/healthz", None)]:
        as_json = world.call("GET", path, who).json
        response = world.call("GET", path, who, Accept="application/xml")
        assert response.status_code == 200
        assert response.content_type == "application/xml"
        root = ET.fromstring(response.body)
        items = as_json if isinstance(as_json, list) else [as_json]
        nodes = list(root) if isinstance(as_json, list) else [root]
        assert len(nodes) == len(items)
        for node, item in zip(nodes, items, strict=True):
            assert [child.tag for child in node] == list(item), path


def test_errors_render_as_xml(world: World) -> None:
    response = world.call("GET", "/api/v1/services/999", "acme", Accept="application/xml")
    root = ET.fromstring(response.body)
    assert response.status_code == 404 and root.tag == "error"
    assert root.findtext("code") == "not_found" and root.findtext("message")
    response = world.call("POST", S, "acme", p2p("x", "zz"), Accept="text/xml")
    assert ET.fromstring(response.body).findtext("code") == "invalid_field"
    response = world.call("GET", "/api/v1/me", None, Accept="application/xml")
    assert response.status_code == 401 and ET.fromstring(response.body).tag == "error"


# -- healthz, metrics, openapi, the UI -------------------------------------------

def test_healthz_needs_no_token(world: World) -> None:
    assert world.ok("GET", "/healthz", None) == {"status": "ok", "switches_connected": 3,
                                                 "role": "leader", "instance": ""}


def test_metrics(world: World, offered) -> None:
    world.ok("POST", f"/api/v1/offers/{offered[1]}/accept", "beta", {"interface": "b1"})
    metrics.FLOW_MODS_SENT.inc(7)
    metrics.PROVISIONING_SECONDS.observe(0.01)
    world.refused("GET", "/metrics", "acme", status=403)
    response = world.call("GET", "/metrics", "admin")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = response.text
    for line in ("metroshare_switches_connected 3.0", 'metroshare_services{state="active"} 1.0',
                 'metroshare_offers{state="accepted"} 1.0',
                 'metroshare_offers{state="pending"} 0.0',
                 "metroshare_flow_mods_sent_total", "metroshare_provisioning_seconds_bucket",
                 'metroshare_api_errors_total{code="forbidden"}'):
        assert line in text, line


def test_openapi_needs_a_token(world: World) -> None:
    """CONTRACT §3: every API request carries a token, this document's too."""
    world.refused("GET", "/api/v1/openapi.json", None, status=401, code="unauthorized")
    doc = world.ok("GET", "/api/v1/openapi.json", "acme")
    assert doc["openapi"].startswith("3.") and "/api/v1/services" in doc["paths"]


def test_ui_files(world: World) -> None:
    page = world.call("GET", "/")
    assert page.status_code == 200 and "text/html" in page.content_type
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    for name in ("app.js", "picture.js", "style.css"):
        assert world.call("GET", f"/ui/{name}").status_code == 200
    for bad in ("/ui/../app.py", "/ui/nothing.js", "/ui/", "/ui/%2e%2e/app.py"):
        assert world.call("GET", bad).status_code == 404
