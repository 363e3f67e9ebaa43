"""Webhooks from the real `metroshare controller` process to a real HTTP receiver
(issue 10 §3): signed, in event order, a 500 retried, a party's webhook given
only its own events, and events recorded while the receiver was away — and the
controller then killed before it could deliver them — delivered after a restart.
With two controllers on PostgreSQL only the leader delivers, and the next
leader carries on when it dies.

No switches are needed: parties and services make the events.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.harness import Controller
from tests.webhook_receiver import Receiver

SECRET = "integration-webhook-secret"
RETRY_BASE = "0.1"  # --webhook-retry-base: retries after 0.1, 0.2, 0.4 ... s


def _events(controller: Controller, token: str) -> list[dict]:
    """The whole audit log as `token` sees it, oldest first."""
    return list(reversed(controller.api(token).call("GET", "/events?limit=1000")))


def test_webhooks_are_signed_ordered_retried_and_survive_a_restart(tmp_path: Path) -> None:
    provider, acmes = Receiver(), Receiver()
    controller = Controller(tmp_path)
    controller.extra_args = ["--webhook-retry-base", RETRY_BASE]
    controller.start()
    try:
        admin = controller.api()
        admin.call("POST", "/webhooks", {"url": provider.url, "secret": SECRET})
        provider.answers = [500]  # the first delivery fails once
        acme = controller.party("acme", [("a1", "acc1", 2, "00:00:00:00:00:01")])
        controller.api(acme).call("POST", "/webhooks", {"url": acmes.url, "secret": SECRET})
        controller.party("beta", [("b1", "acc4", 3, "00:00:00:00:00:08")])
        service = controller.api(acme).call("POST", "/services", {
            "name": "p2p", "kind": "ethernet-channel", "interface": "a1",
            "attributes": {"type": "point-to-point", "bandwidth_mbps": 50}})
        logged = _events(controller, controller.admin_token)
        assert provider.wait_for(lambda got: len(got) == len(logged)), provider.got
        assert provider.got[0].status == 500 and provider.got[1].status == 200
        assert provider.got[0].body == provider.got[1].body  # the same event, retried
        assert [r.event for r in provider.delivered()] == logged
        assert all(r.signed_with(SECRET) and r.action == r.event["action"]
                   for r in provider.got)
        # acme's webhook: only what acme may see, from when it registered (its own
        # registration first).
        assert acmes.wait_for(lambda got: got and got[-1].event["action"] == "service_created")
        delivered = [r.event for r in acmes.delivered()]
        assert delivered[0]["action"] == "webhook_created" and delivered[0]["party"] == "acme"
        assert delivered[1:] == [
            e for e in _events(controller, acme) if e["service_id"] == service["id"]]

        # The receiver goes away; events happen; the controller dies before it delivers.
        port = provider.server.server_address[1]
        provider.close()
        controller.party("gamma", [("g1", "acc2", 2, "00:00:00:00:00:03")])
        controller.api(acme).call("DELETE", f"/services/{service['id']}")
        missed = [e for e in _events(controller, controller.admin_token) if e not in logged]
        assert [e["action"] for e in missed] == ["party_created", "service_deleted"]
        controller.kill()
        back = Receiver(port)
        try:
            controller.start()
            assert back.wait_for(lambda got: len(got) == len(missed)), back.got
            assert [r.event for r in back.delivered()] == missed
            assert all(r.signed_with(SECRET) for r in back.got)
        finally:
            back.close()
    finally:
        controller.stop()
        acmes.close()


def _role(controller: Controller) -> str | None:
    try:
        return controller.session.get(f"{controller.url}/healthz", timeout=0.5).json()["role"]
    except Exception:  # noqa: BLE001 - not answering is no role
        return None


def _until(done, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_only_the_leader_delivers_and_the_next_one_carries_on(tmp_path: Path,
                                                              pg_url: str) -> None:
    receiver = Receiver()
    a, b = (Controller(tmp_path / name, db=pg_url, admin_token="cluster-admin-token",
                       api_workers=1) for name in "ab")
    for controller, name in ((a, "a"), (b, "b")):
        controller.extra_args = ["--instance", name, "--webhook-retry-base", RETRY_BASE,
                                 "--db-connections", "2"]  # each of its processes: the fewest
    try:
        a.start()
        assert _until(lambda: _role(a) == "leader")
        b.start()
        assert _role(b) == "standby"
        b.api().call("POST", "/webhooks", {"url": receiver.url, "secret": SECRET})
        for n, controller in enumerate((a, b, a, b)):
            controller.party(f"p{n}", [(f"i{n}", "acc1", 2 + n, f"00:00:00:00:00:0{n + 1}")])
        logged = _events(b, b.admin_token)
        assert receiver.wait_for(lambda got: len(got) >= len(logged))
        time.sleep(1)  # a second sender would have sent its copies by now
        assert [r.event for r in receiver.got] == logged  # each once, in order

        a.kill()
        assert _until(lambda: _role(b) == "leader")
        b.party("p9", [("i9", "acc2", 2, "00:00:00:00:00:09")])
        logged = _events(b, b.admin_token)
        assert receiver.wait_for(lambda got: len(got) >= len(logged))
        assert [r.event for r in receiver.got] == logged
        assert all(r.signed_with(SECRET) for r in receiver.got)
    finally:
        for controller in (b, a):
            if controller.proc is not None:
                controller.kill()
        receiver.close()
