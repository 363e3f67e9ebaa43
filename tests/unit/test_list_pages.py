"""Lists paginate (CONTRACT §3): `?limit=` and `?after=`, a `Link: rel="next"` while
more remain, and a page costs the same few statements however long the list is."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from controller.errors import ServiceError
from controller.model import ADMIN, KINDS
from tests.unit import test_northbound_api as base
from tests.unit.test_core_fixtures import make_core
from tests.unit.test_northbound_api import World

# Each test runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.usefixtures("core_engine")

world = base.world  # the northbound fixture, shared
LINK = re.compile(r'^<(?P<url>[^>]+)>; rel="next"$')


ACCOUNT = {"status": "active", "service_kinds": list(KINDS), "max_bandwidth_mbps": 1000,
           "max_channels": 1000}


def party_body(name: str, switch: str, ports: int, mac_prefix: str) -> dict[str, Any]:
    return {"name": name, "account": ACCOUNT,
            "interfaces": [{"name": f"if{i}", "switch": switch, "port": 10 + i,
                            "mac": f"{mac_prefix}:00:00:00:{i // 256:02x}:{i % 256:02x}"}
                           for i in range(ports)]}


class Metro:
    """A core with two parties that make services and offers between them."""

    def __init__(self, path: Path) -> None:
        self.core = make_core(path)
        self.owner = self._party("owner", "acc1", "0a")
        self.guest = self._party("guest", "acc3", "0e")
        self.made = 0

    def _party(self, name: str, switch: str, mac_prefix: str) -> Any:
        token = self.core.create_party(ADMIN, party_body(name, switch, 160, mac_prefix))["token"]
        return self.core.authenticate(token)

    def grow(self, services: int, accepted_every: int = 10) -> None:
        """More point-to-point services, each offered to the guest; some accepted."""
        for _ in range(services):
            n, self.made = self.made, self.made + 1
            service = self.core.create_service(self.owner, {
                "name": f"s{n}", "kind": "ethernet-channel", "interface": f"if{n}",
                "attributes": {"type": "point-to-point", "bandwidth_mbps": 10}})
            offer = self.core.create_offer(self.owner, service["id"], {"party": "guest"})
            if n % accepted_every == 0:
                self.core.accept_offer(self.guest, offer["id"], {"interface": f"if{n}"})


@pytest.fixture
def metro(tmp_path: Path) -> Metro:
    return Metro(tmp_path)


def pages(read: Callable[..., Any], limit: int) -> list[list[dict[str, Any]]]:
    """Every page of a list, following `next_after` as a client follows the Link."""
    found, after = [], None
    while True:
        page = read(limit=limit, after=after)
        found.append(list(page))
        if page.next_after is None:
            return found
        after = page.next_after


# -- the core ----------------------------------------------------------------------

def test_pages_cover_each_list_once_in_id_order(metro: Metro) -> None:
    metro.grow(12, accepted_every=3)
    core, owner, guest = metro.core, metro.owner, metro.guest
    for read in (partial(core.list_services, owner), partial(core.list_services, guest),
                 partial(core.list_services, ADMIN), partial(core.list_offers, owner),
                 partial(core.list_offers, guest), partial(core.list_parties, ADMIN)):
        whole = read(limit=1000)
        assert not whole.more and whole.next_after is None
        split = pages(read, limit=5)
        assert [len(p) for p in split[:-1]] == [5] * (len(split) - 1) and split[-1]
        assert [item for page in split for item in page] == whole
        ids = [item["id"] for item in whole]
        assert ids == sorted(ids)
    assert len(core.list_services(guest, limit=1000)) == 4  # joined ones only
    assert len(core.list_services(owner)) == len(core.list_offers(guest)) == 12


def test_a_page_ending_the_list_says_no_more(metro: Metro) -> None:
    metro.grow(4)
    page = metro.core.list_services(metro.owner, limit=4)
    assert len(page) == 4 and not page.more and page.next_after is None
    page = metro.core.list_services(metro.owner, limit=3)
    assert page.more and page.next_after == page[-1]["id"]
    assert metro.core.list_services(metro.owner, after=page[-1]["id"]) == [
        metro.core.get_service(metro.owner, page[-1]["id"] + 1)]
    assert metro.core.list_services(metro.owner, after=10**9) == []


def test_events_are_newest_first_and_pages_continue_below(metro: Metro) -> None:
    metro.grow(6, accepted_every=2)
    core = metro.core
    for actor in (ADMIN, metro.guest):
        whole = core.list_events(actor, limit=1000)
        ids = [e["id"] for e in whole]
        assert ids == sorted(ids, reverse=True) and len(ids) > 7
        split = pages(partial(core.list_events, actor), limit=4)
        assert [e for page in split for e in page] == whole
        since = ids[len(ids) // 2]
        newer = pages(partial(core.list_events, actor, since), limit=2)
        assert [e["id"] for page in newer for e in page] == [i for i in ids if i > since]
    assert len(core.list_events(ADMIN)) == min(100, len(core.list_events(ADMIN, limit=1000)))


def test_orders_paginate(tmp_path: Path) -> None:
    metro = Metro(tmp_path)
    core = metro.core
    for n in range(3):
        service = core.create_service(metro.owner, {
            "name": f"w{n}", "kind": "water", "interface": f"if{n}",
            "attributes": {"quantity": 1, "unit": "m3", "location": "x"}})
        offer = core.create_offer(metro.owner, service["id"], {"party": "guest"})
        core.accept_offer(metro.guest, offer["id"], {"interface": f"if{n}"})
    whole = core.list_orders(ADMIN)
    assert len(whole) == 6 and {o["party"] for o in whole} == {"owner", "guest"}
    assert [o for page in pages(partial(core.list_orders, ADMIN), 4) for o in page] == whole


@pytest.mark.parametrize("limit,after,culprit", [
    (0, None, "limit"), (1001, None, "limit"), (-1, None, "limit"), ("5", None, "limit"),
    (True, None, "limit"), (10, -1, "after"), (10, "3", "after"), (10, 2**63, "after")])
def test_a_bad_window_is_refused_naming_the_field(metro: Metro, limit: Any, after: Any,
                                                  culprit: str) -> None:
    reads = [metro.core.list_services, metro.core.list_offers, metro.core.list_parties,
             metro.core.list_events, metro.core.list_orders]
    for read in reads:
        with pytest.raises(ServiceError) as info:
            read(ADMIN, limit=limit, after=after)
        assert info.value.status == 400 and info.value.code == "invalid_field"
        assert info.value.message.startswith(f"{culprit}:")


# -- statements per page -----------------------------------------------------------

def statements_of(core: Any, call: Callable[[], Any]) -> list[str]:
    """The SQL statements `call` sends to the core's database."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    engine = core._ctx.store.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return seen


def test_a_page_costs_the_same_statements_however_many_rows(metro: Metro) -> None:
    core, owner, guest = metro.core, metro.owner, metro.guest
    reads = {
        "services (owner)": lambda: core.list_services(owner),
        "services (guest)": lambda: core.list_services(guest),
        "services (admin)": lambda: core.list_services(ADMIN),
        "offers (owner)": lambda: core.list_offers(owner),
        "offers (guest)": lambda: core.list_offers(guest),
        "offers (admin)": lambda: core.list_offers(ADMIN),
        "parties (admin)": lambda: core.list_parties(ADMIN),
        "events (guest)": lambda: core.list_events(guest),
        "events (admin)": lambda: core.list_events(ADMIN),
        "orders (admin)": lambda: core.list_orders(ADMIN),
    }
    metro.grow(3, accepted_every=1)
    few = {name: statements_of(core, read) for name, read in reads.items()}
    metro.grow(110, accepted_every=1)
    for n in range(100):
        core.create_party(ADMIN, {"name": f"extra{n}", "account": ACCOUNT})
    assert len(core.list_services(owner)) == 100 and core.list_services(owner).more
    assert len(core.list_services(guest)) == 100 and len(core.list_offers(owner)) == 100
    assert len(core.list_parties(ADMIN)) == 100
    for name, read in reads.items():
        many = statements_of(core, read)
        assert len(many) == len(few[name]), (name, few[name], many)
        assert len([s for s in many if s.startswith(("SELECT", "WITH"))]) <= 3, (name, many)
    # A single service reads the same way, through the same code.
    one = statements_of(core, lambda: core.get_service(guest, 1))
    assert len([s for s in one if s.startswith("SELECT")]) <= 5, one


# -- over HTTP ---------------------------------------------------------------------

def make_services(world: World, n: int) -> list[int]:
    made = []
    for i in range(n):
        made.append(world.ok("POST", "/api/v1/services", "acme", {
            "name": f"s{i}", "kind": "water", "interface": "a1",
            "attributes": {"quantity": 1, "unit": "m3", "location": "x"}}, 201)["id"])
        world.ok("DELETE", f"/api/v1/services/{made[-1]}", "acme")
    return made


def next_url(response: Any) -> str | None:
    link = response.headers.get("Link")
    if link is None:
        return None
    found = LINK.match(link)
    assert found, link
    return found["url"].removeprefix("http://localhost")


def test_link_header_only_while_more_remain(world: World) -> None:
    made = make_services(world, 5)
    response = world.call("GET", "/api/v1/services?limit=5", "acme")
    assert response.status_code == 200 and [s["id"] for s in response.json] == made
    assert "Link" not in response.headers
    response = world.call("GET", "/api/v1/services?limit=2", "acme")
    assert [s["id"] for s in response.json] == made[:2]
    assert next_url(response) == f"/api/v1/services?limit=2&after={made[1]}"
    seen, url = [], "/api/v1/services?limit=2"
    while url:
        response = world.call("GET", url, "acme")
        seen += [s["id"] for s in response.json]
        url = next_url(response)
    assert seen == made
    assert world.call("GET", "/api/v1/services", "beta").json == []


def test_events_link_keeps_since_and_moves_after_down(world: World) -> None:
    make_services(world, 3)
    every = [e["id"] for e in world.ok("GET", "/api/v1/events?limit=1000", "admin")]
    since = every[-2]
    response = world.call("GET", f"/api/v1/events?since={since}&limit=3", "admin")
    assert [e["id"] for e in response.json] == every[:3]
    assert next_url(response) == f"/api/v1/events?since={since}&limit=3&after={every[2]}"
    seen, url = [], f"/api/v1/events?since={since}&limit=3"
    while url:
        response = world.call("GET", url, "admin")
        seen += [e["id"] for e in response.json]
        url = next_url(response)
    assert seen == [i for i in every if i > since]


@pytest.mark.parametrize("path", ["services", "offers", "parties", "events", "orders"])
@pytest.mark.parametrize("query,culprit", [
    ("limit=0", "limit"), ("limit=1001", "limit"), ("limit=abc", "limit"), ("limit=", "limit"),
    ("limit=-1", "limit"), ("after=x", "after"), ("after=-3", "after")])
def test_bad_limit_or_after_is_a_400_naming_it(world: World, path: str, query: str,
                                               culprit: str) -> None:
    error = world.refused("GET", f"/api/v1/{path}?{query}", "admin", status=400,
                          code="invalid_field")
    assert error["message"].startswith(f"{culprit}:")


def test_xml_pages_stay_lists_with_the_link(world: World) -> None:
    made = make_services(world, 3)
    response = world.call("GET", "/api/v1/services?limit=2", "acme",
                          Accept="application/xml")
    assert response.status_code == 200 and response.content_type == "application/xml"
    root = ET.fromstring(response.body)
    assert root.tag == "services" and root.get("type") == "list"
    assert [int(s.find("id").text) for s in root] == made[:2]
    assert next_url(response) == f"/api/v1/services?limit=2&after={made[1]}"
