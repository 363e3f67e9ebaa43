"""Every endpoint of CONTRACT §3 through the WSGI app, in-process, on the real core.

`World` builds the provider and three parties on the demo metro tree; each
test then speaks HTTP (webob requests) to the northbound app, and every JSON
answer is checked against the OpenAPI document.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from webob import Request, Response

from controller.core import ServiceCore
from controller.store import open_store
from northbound.app import NorthboundApp
from northbound.envelope import RequestError
from northbound.routes import match
from topology import load_topology

# Each test runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.usefixtures("core_engine")

ROOT = Path(__file__).resolve().parents[2]
ADMIN = "admin-secret-token"
ACCOUNT = {"status": "active", "service_kinds": ["ethernet-channel", "water"],
           "max_bandwidth_mbps": 1000, "max_channels": 5}
PARTIES = {  # name -> interfaces (name, switch, port, mac)
    "acme": [("a1", "acc1", 2, "00:00:00:00:00:01"), ("a2", "acc2", 2, "00:00:00:00:00:03")],
    "beta": [("b1", "acc3", 2, "00:00:00:00:00:05"), ("b2", "acc4", 2, "00:00:00:00:00:07")],
    "gamma": [("g1", "acc1", 3, "00:00:00:00:00:02")],
}


OPENAPI = json.loads((ROOT / "northbound" / "openapi.json").read_text())


def conforms(method: str, path: str, response: Response) -> None:
    """A JSON answer of a known route must be one the OpenAPI document describes."""
    try:
        route, _ = match(method, path.split("?")[0])
    except RequestError:
        return
    if response.content_type != "application/json" or route.template.endswith("openapi.json"):
        return
    answers = OPENAPI["paths"][route.template][method.lower()]["responses"]
    assert str(response.status_code) in answers, (method, path, response.status_code)
    answer = answers[str(response.status_code)]
    if "$ref" in answer:
        answer = OPENAPI["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
    schema = {**answer["content"]["application/json"]["schema"],
              "components": OPENAPI["components"]}
    jsonschema_rs.validate(schema, response.json)


def p2p(name: str = "p2p", interface: str = "a1") -> dict[str, Any]:
    return {"name": name, "kind": "ethernet-channel", "interface": interface,
            "attributes": {"type": "point-to-point", "bandwidth_mbps": 100}}


@dataclass
class World:
    """The app, the admin token and each party's token and id."""

    app: NorthboundApp
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)

    def call(self, method: str, path: str, who: str | None = None, body: Any = None,
             raw: bytes | None = None, **headers: str) -> Response:
        if who is not None:
            headers["Authorization"] = f"Bearer {self.tokens.get(who, who)}"
        req = Request.blank(path, method=method, headers=headers)
        if body is not None or raw is not None:
            req.body = raw if raw is not None else json.dumps(body).encode()
            req.content_type = headers.get("Content-Type", "application/json")
        response = req.get_response(self.app)
        assert response.status_code < 500, response.text
        conforms(method, path, response)
        return response

    def ok(self, method: str, path: str, who: str | None, body: Any = None,
           status: int = 200) -> Any:
        response = self.call(method, path, who, body)
        assert response.status_code == status, response.text
        return response.json

    def refused(self, method: str, path: str, who: str | None, body: Any = None,
                status: int = 400, code: str | None = None) -> dict[str, Any]:
        response = self.call(method, path, who, body)
        assert response.status_code == status, response.text
        assert response.content_type == "application/json"
        error = response.json["error"]
        assert set(error) == {"code", "message"} and error["message"]
        if code:
            assert error["code"] == code, error
        return error

    def snapshot(self) -> list[Any]:
        """Everything the provider can see, to prove a refusal changed nothing."""
        return [self.ok("GET", f"/api/v1/{what}", "admin")
                for what in ("parties", "services", "orders", "events", "topology")] + [
                    self.ok("GET", "/api/v1/offers", p) for p in PARTIES]


@pytest.fixture
def world(tmp_path: Path) -> World:
    core = ServiceCore(load_topology(ROOT / "mininet_scenarios" / "metro.yaml"),
                       open_store(tmp_path / "db"), admin_token=ADMIN)
    w = World(NorthboundApp(core, lambda: 3), {"admin": ADMIN})
    for name, interfaces in PARTIES.items():
        party = w.ok("POST", "/api/v1/parties", "admin", {
            "name": name, "account": ACCOUNT,
            "interfaces": [{"name": n, "switch": s, "port": p, "mac": m}
                           for n, s, p, m in interfaces]}, 201)
        w.tokens[name], w.ids[name] = party["token"], party["id"]
    return w


@pytest.fixture
def offered(world: World) -> tuple[int, int]:
    """acme's point-to-point service on a1, offered to beta: (service id, offer id)."""
    service = world.ok("POST", "/api/v1/services", "acme", p2p(), 201)
    offer = world.ok("POST", f"/api/v1/services/{service['id']}/offers", "acme",
                     {"party": "beta"}, 201)
    return service["id"], offer["id"]


# -- auth: every endpoint, no token / wrong token / another party's token -------

def endpoints(service: int, offer: int) -> list[tuple[str, str, Any, int]]:
    """Every token endpoint, with what gamma (neither owner nor addressee) gets:
    404 for acme's things, 403 for the provider's, 200 for its own lists."""
    return [
        ("POST", "/api/v1/parties", {"name": "x", "account": ACCOUNT}, 403),
        ("GET", "/api/v1/parties", None, 200),
        ("GET", "/api/v1/parties/1", None, 404),
        ("PATCH", "/api/v1/parties/1", {"account": {"max_channels": 1}}, 403),
        ("POST", "/api/v1/parties/1/token", None, 403),
        ("GET", "/api/v1/me", None, 200),
        ("GET", "/api/v1/topology", None, 200),
        ("GET", "/api/v1/events", None, 200),
        ("GET", "/api/v1/services", None, 200),
        ("GET", f"/api/v1/services/{service}", None, 404),
        ("DELETE", f"/api/v1/services/{service}", None, 404),
        ("POST", f"/api/v1/services/{service}/offers", {"party": "gamma"}, 404),
        ("DELETE", f"/api/v1/services/{service}/members/acme", None, 404),
        ("GET", "/api/v1/offers", None, 200),
        ("POST", f"/api/v1/offers/{offer}/accept", {"interface": "g1"}, 404),
        ("POST", f"/api/v1/offers/{offer}/decline", None, 404),
        ("DELETE", f"/api/v1/offers/{offer}", None, 404),
        ("GET", "/api/v1/orders", None, 403),
        ("PATCH", "/api/v1/orders/1", {"state": "fulfilled"}, 403),
        ("GET", "/metrics", None, 403),
        # gamma's own requests, which must not touch acme's things:
        ("POST", "/api/v1/services", p2p("x", "a2"), 400),
        ("POST", "/api/v1/invitations/accept", {"code": "nope", "interface": "g1"}, 404),
        ("POST", "/api/v1/invitations/preview", {"code": "nope"}, 404),
    ]


def test_every_endpoint_refuses_a_missing_or_wrong_token(world: World, offered) -> None:
    before = world.snapshot()
    for method, path, body, _ in endpoints(*offered):
        for who in (None, "not-a-token"):
            response = world.call(method, path, who, body)
            assert response.status_code == 401, (method, path, response.text)
            assert response.json["error"]["code"] == "unauthorized"
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert world.call("GET", "/api/v1/me", None, Authorization="Basic YTpi").status_code == 401
    assert world.snapshot() == before


def test_another_partys_token_sees_nothing_of_acme(world: World, offered) -> None:
    before = world.snapshot()
    for method, path, body, status in endpoints(*offered):
        response = world.call(method, path, "gamma", body)
        assert response.status_code == status, (method, path, response.text)
        assert "acme" not in response.text, (method, path, response.text)
    assert world.snapshot() == before


# -- provider: parties, topology, events, orders ---------------------------------

def test_create_party_returns_its_token_once(world: World) -> None:
    party = world.ok("POST", "/api/v1/parties", "admin", {"name": "delta", "account": ACCOUNT},
                     201)
    assert party["token"] and party["name"] == "delta" and party["interfaces"] == []
    assert world.ok("GET", "/api/v1/me", party["token"])["name"] == "delta"
    assert "token" not in world.ok("GET", f"/api/v1/parties/{party['id']}", "admin")
    assert all("token" not in p for p in world.ok("GET", "/api/v1/parties", "admin"))


@pytest.mark.parametrize("body,field_name", [
    ({"name": "d", "account": ACCOUNT, "colour": "red"}, "colour"),
    ({"name": "d"}, "account"),
    ({"name": 7, "account": ACCOUNT}, "name"),
    ({"name": "d", "account": {**ACCOUNT, "max_channels": "5"}}, "max_channels"),
    ({"name": "d", "account": {**ACCOUNT, "status": "gone"}}, "status"),
    ({"name": "d", "account": ACCOUNT, "interfaces": [{"name": "x", "switch": "acc1",
                                                       "port": 1, "mac": "00:00:00:00:00:09"}]},
     "interfaces[0]"),
])
def test_create_party_refuses_bad_fields(world: World, body: dict, field_name: str) -> None:
    before = world.snapshot()
    error = world.refused("POST", "/api/v1/parties", "admin", body, 400, "invalid_field")
    assert field_name in error["message"]
    assert world.snapshot() == before


def test_create_party_conflicts_and_permissions(world: World) -> None:
    world.refused("POST", "/api/v1/parties", "admin", {"name": "acme", "account": ACCOUNT}, 409)
    world.refused("POST", "/api/v1/parties", "acme", {"name": "zeta", "account": ACCOUNT}, 403,
                  "forbidden")


def test_list_and_get_parties(world: World) -> None:
    assert [p["name"] for p in world.ok("GET", "/api/v1/parties", "admin")] == list(PARTIES)
    assert [p["name"] for p in world.ok("GET", "/api/v1/parties", "beta")] == ["beta"]
    assert world.ok("GET", f"/api/v1/parties/{world.ids['beta']}", "beta")["name"] == "beta"
    world.refused("GET", f"/api/v1/parties/{world.ids['acme']}", "beta", status=404)
    world.refused("GET", "/api/v1/parties/999", "admin", status=404, code="not_found")


def test_patch_party(world: World) -> None:
    path = f"/api/v1/parties/{world.ids['beta']}"
    party = world.ok("PATCH", path, "admin", {"account": {"status": "suspended"}})
    assert party["account"]["status"] == "suspended"
    assert party["account"]["max_channels"] == ACCOUNT["max_channels"]
    world.refused("PATCH", path, "admin", {"account": {"speed": 1}}, 400, "invalid_field")
    world.refused("PATCH", path, "admin", {"nickname": "b"}, 400, "invalid_field")
    world.refused("PATCH", "/api/v1/parties/999", "admin", {"account": {}}, 404)
    world.refused("PATCH", path, "beta", {"account": {"max_channels": 99}}, 403)


def test_me(world: World) -> None:
    me = world.ok("GET", "/api/v1/me", "acme")
    assert me["name"] == "acme" and [i["name"] for i in me["interfaces"]] == ["a1", "a2"]
    world.refused("GET", "/api/v1/me", "admin", status=403)


def test_topology_shows_a_party_only_its_own_interfaces(world: World) -> None:
    full = world.ok("GET", "/api/v1/topology", "admin")
    assert {s["name"] for s in full["switches"]} >= {"core1", "agg1", "acc4"}
    assert all({"ends", "up"} <= set(link) for link in full["links"])
    named = {p["interface"]["name"] for p in full["edge_ports"] if p["interface"]}
    assert named == {"a1", "a2", "b1", "b2", "g1"}
    view = world.ok("GET", "/api/v1/topology", "acme")
    assert {p["interface"]["name"] for p in view["edge_ports"] if p["interface"]} == {"a1", "a2"}


def test_events_newest_first_since_and_visibility(world: World, offered) -> None:
    events = world.ok("GET", "/api/v1/events", "admin")
    ids = [e["id"] for e in events]
    assert ids == sorted(ids, reverse=True) and len(ids) >= 5
    assert [e["id"] for e in world.ok("GET", f"/api/v1/events?since={ids[1]}", "admin")] == [
        ids[0]]
    assert [e["action"] for e in world.ok("GET", "/api/v1/events", "gamma")] == [
        "party_created"]  # its own; nothing of acme's service
    assert any(e["service_id"] == offered[0] for e in world.ok("GET", "/api/v1/events", "beta"))
    for bad in ("x", "-1", "1.5", ""):
        error = world.refused("GET", f"/api/v1/events?since={bad}", "admin", status=400,
                              code="invalid_field")
        assert "since" in error["message"]


def test_work_orders(world: World) -> None:
    water = {"name": "w", "kind": "water", "interface": "a2",
             "attributes": {"quantity": 5, "unit": "m3", "location": "plant 1"}}
    service = world.ok("POST", "/api/v1/services", "acme", water, 201)
    offer = world.ok("POST", f"/api/v1/services/{service['id']}/offers", "acme",
                     {"party": "beta"}, 201)
    world.ok("POST", f"/api/v1/offers/{offer['id']}/accept", "beta", {"interface": "b2"})
    orders = world.ok("GET", "/api/v1/orders", "admin")
    assert orders and all(o["state"] == "open" for o in orders)
    world.refused("GET", "/api/v1/orders", "acme", status=403)
    path = f"/api/v1/orders/{orders[0]['id']}"
    world.refused("PATCH", path, "admin", {"state": "open"}, 400, "invalid_field")
    world.refused("PATCH", path, "acme", {"state": "fulfilled"}, 403)
    world.refused("PATCH", "/api/v1/orders/999", "admin", {"state": "fulfilled"}, 404)
    assert world.ok("PATCH", path, "admin", {"state": "fulfilled"})["state"] == "fulfilled"
    world.refused("PATCH", path, "admin", {"state": "fulfilled"}, 409)
