"""Webhooks on the real core, on both engines (issue 10 §3): registration, the
outbox written with each event (a party's webhook queued exactly what `GET
/events` shows it at that moment), and delivery to a real HTTP receiver —
signed, in event order, a failure retried on schedule and holding back the
events after it, given up in the end, nothing for a deleted webhook nor from a
deposed leader."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from controller.delivery import Sender, deliver_due, retry_delay, run
from controller.model import ADMIN, Actor
from controller.schema import deliveries, leadership, webhooks
from controller.store import open_store
from controller.workflow.core import ServiceCore
from northbound.app import NorthboundApp
from tests.unit.test_core_fixtures import (
    METRO,
    World,
    build_world,
    ethernet_body,
    offer_and_accept,
    p2p,
    refused,
    store_url,
)
from tests.unit.test_northbound_api import ACCOUNT, PARTIES
from tests.unit.test_northbound_api import ADMIN as ADMIN_TOKEN
from tests.unit.test_northbound_api import World as Http
from tests.webhook_receiver import Receiver
from topology import load_topology

# Each test runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.usefixtures("core_engine")

SECRET = "a secret of 16+ chars"
BASE = 0.5  # seconds: the retry base the tests step the clock by


@pytest.fixture
def world(tmp_path: Path) -> World:
    return build_world(tmp_path)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(4) as p:
        yield p


def _hook(world: World, actor: Actor, url: str = "https://example.net/hook") -> int:
    return world.core.create_webhook(actor, {"url": url, "secret": SECRET})["id"]


def _queued(world: World, webhook_id: int, after: int = 0) -> list[int]:
    """The events queued for the webhook, after event `after`."""
    with world.store.read() as conn:
        return list(conn.execute(select(deliveries.c.event_id).where(
            deliveries.c.webhook_id == webhook_id, deliveries.c.event_id > after)
            .order_by(deliveries.c.event_id)).scalars())


def _all_events(world: World, actor: Actor) -> list[dict[str, Any]]:
    return list(reversed(world.core.list_events(actor, limit=1000)))


# -- registration ------------------------------------------------------------------


def test_a_party_registers_lists_and_deletes_its_own_webhooks(world: World) -> None:
    core = world.core
    made = core.create_webhook(world.alice, {"url": "https://alice.example/h", "secret": SECRET})
    assert made == {"id": made["id"], "url": "https://alice.example/h", "party": "alice",
                    "created_at": made["created_at"], "active": True}
    admins = core.create_webhook(ADMIN, {"url": "http://noc.example:8080/x?y=1",
                                         "secret": SECRET})
    assert admins["party"] is None
    assert [h["id"] for h in core.list_webhooks(world.alice)] == [made["id"]]
    assert list(core.list_webhooks(world.bob)) == []
    assert [h["id"] for h in core.list_webhooks(ADMIN)] == [made["id"], admins["id"]]
    for who, which in ((world.bob, made["id"]), (world.alice, admins["id"])):
        refused(lambda who=who, which=which: core.delete_webhook(who, which), world.store,
                "not_found", 404)
    assert core.delete_webhook(world.alice, made["id"])["active"] is False
    assert list(core.list_webhooks(world.alice)) == []
    refused(lambda: core.delete_webhook(world.alice, made["id"]), world.store, "not_found")
    assert core.delete_webhook(ADMIN, admins["id"])["active"] is False


def test_webhooks_come_a_page_at_a_time(world: World) -> None:
    ids = [_hook(world, world.alice) for _ in range(3)]
    first = world.core.list_webhooks(world.alice, limit=2)
    assert [h["id"] for h in first] == ids[:2] and first.next_after == ids[1]
    rest = world.core.list_webhooks(world.alice, limit=2, after=first.next_after)
    assert [h["id"] for h in rest] == ids[2:] and rest.next_after is None


@pytest.mark.parametrize("body,field_name", [
    ({"secret": SECRET}, "url"),
    ({"url": "https://x.example"}, "secret"),
    ({"url": "https://x.example", "secret": SECRET, "events": ["all"]}, "events"),
    ({"url": "ftp://x.example/h", "secret": SECRET}, "url"),
    ({"url": "https:///no-host", "secret": SECRET}, "url"),
    ({"url": "x.example/h", "secret": SECRET}, "url"),
    ({"url": "http://x.example:99999/", "secret": SECRET}, "url"),
    ({"url": "http://x.example/a b", "secret": SECRET}, "url"),
    ({"url": "http://bücher.example/", "secret": SECRET}, "url"),
    ({"url": "https://x.example/" + "a" * 1983, "secret": SECRET}, "url"),  # 2001 chars
    ({"url": 7, "secret": SECRET}, "url"),
    ({"url": "https://x.example", "secret": "s" * 15}, "secret"),
    ({"url": "https://x.example", "secret": "s" * 201}, "secret"),
    ({"url": "https://x.example", "secret": 1234567890123456}, "secret"),
])
def test_a_bad_webhook_is_refused_naming_the_field(world: World, body: dict,
                                                   field_name: str) -> None:
    error = refused(lambda: world.core.create_webhook(world.alice, body), world.store,
                    "invalid_field", 400)
    assert error.message.startswith(f"{field_name}:"), error.message
    with world.store.read() as conn:
        assert conn.execute(select(func.count()).select_from(webhooks)).scalar_one() == 0


def test_the_longest_url_and_secret_are_taken(world: World) -> None:
    url = "https://x.example/" + "a" * 1982
    assert len(url) == 2000
    world.core.create_webhook(world.alice, {"url": url, "secret": "s" * 200})
    world.core.create_webhook(world.alice, {"url": "http://[::1]:8/h", "secret": "s" * 16})


# -- the outbox ----------------------------------------------------------------------


def _story(world: World) -> Iterator[None]:
    """alice's service: offered to bob, who joins and leaves; then offered to carol,
    who declines; dave makes his own. Pauses after each step."""
    core = world.core
    service = p2p(world)["id"]
    yield
    offer_and_accept(world, service, world.bob, "bob-if0")
    yield
    core.remove_member(world.bob, service, "bob")
    yield
    offer = core.create_offer(world.alice, service, {"party": "carol"})["id"]
    yield
    core.decline_offer(world.carol, offer)
    yield
    core.create_service(world.dave, ethernet_body("d", "dave-if0"))
    yield


def test_each_webhook_is_queued_the_events_its_owner_may_see(world: World) -> None:
    """What `GET /events` shows each party at the moment: read after each step."""
    parties = ("alice", "bob", "carol", "dave")
    hooks = {who: _hook(world, getattr(world, who)) for who in parties}
    admins = _hook(world, ADMIN)
    # From here on (each hook was also queued its own webhook_created event).
    first = last = max(e["id"] for e in _all_events(world, ADMIN))
    shown: dict[str, list[int]] = {who: [] for who in parties}
    for _ in _story(world):
        for who in parties:
            shown[who] += [e["id"] for e in _all_events(world, getattr(world, who))
                           if e["id"] > last]
        last = max(e["id"] for e in _all_events(world, ADMIN))
    assert _queued(world, admins, first) == [e["id"] for e in _all_events(world, ADMIN)
                                             if e["id"] > first]
    for who in parties:
        assert _queued(world, hooks[who], first) == shown[who], who
    assert len({tuple(ids) for ids in shown.values()}) == 4 and all(shown.values())


def test_visibility_is_decided_when_the_event_happens(world: World) -> None:
    """bob left: an event of the service while he is away is not his, even though
    `GET /events` shows it to him once he joins again (history is shown to members)."""
    core = world.core
    service = p2p(world, type_="multipoint-to-multipoint")["id"]
    offer_and_accept(world, service, world.bob, "bob-if0")
    core.remove_member(world.bob, service, "bob")
    hook = _hook(world, world.bob)
    away = core.create_offer(world.alice, service, {"party": "carol"})["id"]
    offer_and_accept(world, service, world.bob, "bob-if0")
    offered_to_carol = next(e["id"] for e in _all_events(world, ADMIN)
                            if e["detail"].get("offer") == away)
    assert offered_to_carol in [e["id"] for e in _all_events(world, world.bob)]
    assert offered_to_carol not in _queued(world, hook)
    assert _queued(world, hook)  # his own offer and acceptance


def test_a_deleted_webhook_is_queued_nothing_and_sent_nothing(world: World, receiver: Receiver,
                                                              pool: ThreadPoolExecutor) -> None:
    hook = _hook(world, ADMIN, receiver.url)
    p2p(world)
    assert _queued(world, hook)
    world.core.delete_webhook(ADMIN, hook)
    queued = _queued(world, hook)
    world.core.create_service(world.alice, ethernet_body("s2", "alice-if1"))
    assert _queued(world, hook) == queued
    assert deliver_due(world.store, pool, BASE, world.clock) == 0
    assert receiver.got == []


# -- delivery ------------------------------------------------------------------------


def _deliver_all(world: World, pool: ThreadPoolExecutor, step: float = 0.0,
                 rounds: int = 100) -> None:
    for _ in range(rounds):
        if not deliver_due(world.store, pool, BASE, world.clock) and not step:
            return
        world.clock.now += step


def test_events_arrive_signed_in_order_as_get_events_shows_them(
        world: World, receiver: Receiver, pool: ThreadPoolExecutor) -> None:
    bobs_receiver = Receiver()
    try:
        _hook(world, ADMIN, receiver.url)
        _hook(world, world.bob, bobs_receiver.url)
        for _ in _story(world):
            pass
        _deliver_all(world, pool)
    finally:
        bobs_receiver.close()
    for got, actor in ((receiver.got, ADMIN), (bobs_receiver.got, world.bob)):
        assert got and all(r.signed_with(SECRET) and r.status == 200 for r in got)
        assert all(r.action == r.event["action"] for r in got)
        ids = [r.event["id"] for r in got]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        assert [r.event for r in got] == [e for e in _all_events(world, actor) if e["id"] in ids]
    assert [r.event["id"] for r in receiver.got] == [e["id"] for e in _all_events(world, ADMIN)
                                                     if e["id"] >= receiver.got[0].event["id"]]
    assert len(bobs_receiver.got) < len(receiver.got)


def test_a_failure_is_retried_on_schedule_and_holds_back_the_next_event(
        world: World, receiver: Receiver, pool: ThreadPoolExecutor) -> None:
    hook = _hook(world, ADMIN, receiver.url)
    p2p(world)
    world.core.create_service(world.bob, ethernet_body("b", "bob-if0"))
    queued = _queued(world, hook)
    assert len(queued) == 3  # its own webhook_created, then the two services
    receiver.answers = [500]
    assert deliver_due(world.store, pool, BASE, world.clock) == 1
    assert deliver_due(world.store, pool, BASE, world.clock) == 0  # not yet due; nor the next
    assert [r.status for r in receiver.got] == [500]
    with world.store.read() as conn:
        row = conn.execute(select(deliveries).where(deliveries.c.event_id == queued[0])
                           ).mappings().one()
    assert (row["attempts"], row["last_error"], row["delivered_at"]) == (1, "HTTP 500", None)
    assert row["next_attempt_at"] == world.clock.now + retry_delay(1, BASE)
    world.clock.now += retry_delay(1, BASE)
    _deliver_all(world, pool)
    assert [r.event["id"] for r in receiver.got] == [queued[0], *queued]
    assert receiver.got[0].body == receiver.got[1].body  # the same event, the same bytes


def test_a_delivery_is_given_up_after_its_schedule_and_the_next_one_goes(
        world: World, receiver: Receiver, pool: ThreadPoolExecutor) -> None:
    hook = _hook(world, ADMIN, receiver.url)
    p2p(world)
    world.core.create_service(world.bob, ethernet_body("b", "bob-if0"))
    queued = _queued(world, hook)
    receiver.answers = [503] * 21
    waited = 0.0
    while len(receiver.got) < 21:
        assert deliver_due(world.store, pool, BASE, world.clock) == 1
        step = retry_delay(len(receiver.got), BASE)
        if step is not None:
            world.clock.now += step
            waited += step
    assert waited >= 3600 * BASE
    with world.store.read() as conn:
        row = conn.execute(select(deliveries).where(deliveries.c.event_id == queued[0])
                           ).mappings().one()
    assert (row["attempts"], row["next_attempt_at"], row["delivered_at"]) == (21, None, None)
    assert row["last_error"] == "HTTP 503"
    _deliver_all(world, pool)
    assert [r.event["id"] for r in receiver.delivered()] == queued[1:]


def test_a_slow_receiver_holds_back_only_its_own_webhook(
        world: World, receiver: Receiver, pool: ThreadPoolExecutor) -> None:
    slow = Receiver()
    try:
        fast_hook, slow_hook = _hook(world, ADMIN, receiver.url), _hook(world, ADMIN, slow.url)
        p2p(world)
        world.core.create_service(world.bob, ethernet_body("b", "bob-if0"))
        fast_queued, slow_queued = _queued(world, fast_hook), _queued(world, slow_hook)
        assert len(fast_queued) >= 3
        slow.gate.clear()  # it takes the request and answers only when let (< TIMEOUT_S)
        sender = Sender(world.store, pool, BASE, world.clock)

        def step_until(done) -> None:
            for _ in range(100):
                if done():
                    return
                sender.start_due()
                sender.settle_done(wait=0.1)
            raise AssertionError("timed out")

        step_until(lambda: [r.event["id"] for r in receiver.delivered()] == fast_queued)
        assert len(slow.got) == 1 and sender.in_flight == {slow_hook}  # still waiting
        slow.gate.set()
        step_until(lambda: [r.event["id"] for r in slow.delivered()] == slow_queued)
        assert [r.event["id"] for r in slow.got] == slow_queued  # each once, in order
    finally:
        slow.close()


def test_the_delivery_loop_keeps_going_past_a_slow_receiver_and_records_it_on_stop(
        world: World, receiver: Receiver) -> None:
    slow = Receiver()
    stop = threading.Event()
    loop = threading.Thread(target=run, args=(world.store, BASE, stop),
                            kwargs={"clock": world.clock})
    try:
        fast_hook, slow_hook = _hook(world, ADMIN, receiver.url), _hook(world, ADMIN, slow.url)
        slow.gate.clear()
        loop.start()
        p2p(world)
        world.core.create_service(world.bob, ethernet_body("b", "bob-if0"))
        fast_queued = _queued(world, fast_hook)
        assert receiver.wait_for(lambda got: [r.event["id"] for r in got] == fast_queued)
        assert len(slow.got) == 1
        stop.set()
        time.sleep(0.3)
        assert loop.is_alive()  # it waits for the attempt going
        slow.gate.set()
        loop.join(timeout=10)
        assert not loop.is_alive()
        with world.store.read() as conn:
            first = conn.execute(select(deliveries).where(
                deliveries.c.webhook_id == slow_hook).order_by(deliveries.c.event_id)
            ).mappings().first()
        assert (first["attempts"], first["next_attempt_at"]) == (1, None)
        assert first["delivered_at"] is not None
    finally:
        stop.set()
        slow.close()
        loop.join(timeout=10)


def test_an_unreachable_receiver_is_an_error_not_a_crash(world: World,
                                                         pool: ThreadPoolExecutor) -> None:
    closed = Receiver()
    url = closed.url
    closed.close()
    hook = _hook(world, ADMIN, url)
    p2p(world)
    assert deliver_due(world.store, pool, BASE, world.clock) == 1
    with world.store.read() as conn:
        errors = conn.execute(select(deliveries.c.last_error).where(
            deliveries.c.webhook_id == hook, deliveries.c.attempts == 1)).scalars().all()
    assert len(errors) == 1 and "Connection" in errors[0]


def test_a_deposed_leaders_delivery_sends_nothing(world: World, receiver: Receiver,
                                                  pool: ThreadPoolExecutor) -> None:
    _hook(world, ADMIN, receiver.url)
    p2p(world)
    with world.store.engine.begin() as conn:  # another controller took over: generation 7
        conn.execute(update(leadership).where(leadership.c.id == 1).values(generation=7))
    assert deliver_due(world.store, pool, BASE, world.clock, generation=6) == 0
    assert receiver.got == []
    assert deliver_due(world.store, pool, BASE, world.clock, generation=7) == 1


def test_the_backlog_is_on_the_metrics_page(world: World, receiver: Receiver,
                                            pool: ThreadPoolExecutor) -> None:
    page = NorthboundApp(world.core).metrics_text
    assert "metroshare_webhook_backlog 0.0" in page()
    _hook(world, ADMIN, receiver.url)
    _hook(world, world.alice, receiver.url)
    _deliver_all(world, pool)  # the webhook_created events
    assert "metroshare_webhook_backlog 0.0" in page()
    p2p(world)
    assert "metroshare_webhook_backlog 2.0" in page()
    _deliver_all(world, pool)
    assert "metroshare_webhook_backlog 0.0" in page()


# -- over HTTP ---------------------------------------------------------------------


def test_the_api_registers_pages_and_deletes_webhooks(tmp_path: Path) -> None:
    """Every answer is checked against the OpenAPI document (`Http.call`)."""
    core = ServiceCore(load_topology(METRO), open_store(store_url(tmp_path)),
                       admin_token=ADMIN_TOKEN)
    w = Http(NorthboundApp(core), {"admin": ADMIN_TOKEN})
    for name in ("acme", "beta"):
        w.tokens[name] = w.ok("POST", "/api/v1/parties", "admin", {
            "name": name, "account": ACCOUNT,
            "interfaces": [{"name": n, "switch": s, "port": p, "mac": m}
                           for n, s, p, m in PARTIES[name]]}, 201)["token"]
    made = w.ok("POST", "/api/v1/webhooks", "acme", {"url": "https://a.example/h",
                                                     "secret": SECRET}, 201)
    assert "secret" not in made and made["party"] == "acme"
    w.ok("POST", "/api/v1/webhooks", "acme", {"url": "https://a.example/2", "secret": SECRET},
         201)
    page = w.call("GET", "/api/v1/webhooks?limit=1", "acme")
    assert page.status_code == 200 and len(page.json) == 1
    assert 'rel="next"' in page.headers["Link"]
    assert w.ok("GET", "/api/v1/webhooks", "beta") == []
    error = w.refused("POST", "/api/v1/webhooks", "beta", {"url": "gopher://x", "secret": SECRET})
    assert error["code"] == "invalid_field" and error["message"].startswith("url:")
    w.refused("DELETE", f"/api/v1/webhooks/{made['id']}", "beta", status=404, code="not_found")
    assert w.ok("DELETE", f"/api/v1/webhooks/{made['id']}", "acme")["active"] is False
    assert len(w.ok("GET", "/api/v1/webhooks", "admin")) == 1
