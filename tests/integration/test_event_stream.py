"""`GET /api/v1/events/stream` on the real controller (its API workers serve it):
events arrive as they are recorded, each caller sees only its own story, a
reconnect with Last-Event-ID gets what it missed, a rotated token ends it."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.harness import Controller, running_controller

ADMIN = "stream-admin-token"
READ_TIMEOUT_S = 10


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Controller]:
    with running_controller(tmp_path_factory.mktemp("stream"), admin_token=ADMIN) as controller:
        yield controller


class Stream:
    """One open stream, read event by event."""

    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.response = response

    def next(self) -> dict:
        """The next event (id, action, data), skipping comments and the retry line."""
        fields: dict[str, str] = {}
        while True:
            line = self.response.readline().decode()
            assert line, "the stream ended"
            line = line.rstrip("\n")
            if line == "" and "id" in fields:
                data = json.loads(fields["data"])
                assert (data["id"], data["action"]) == (int(fields["id"]), fields["event"])
                return data
            if line and not line.startswith(":"):
                key, _, value = line.partition(": ")
                fields[key] = value


@contextmanager
def stream(server: Controller, token: str, last: str | None = None) -> Iterator[Stream]:
    conn = http.client.HTTPConnection("127.0.0.1", server.api_port, timeout=READ_TIMEOUT_S)
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    if last is not None:
        headers["Last-Event-ID"] = last
    conn.request("GET", "/api/v1/events/stream", headers=headers)
    response = conn.getresponse()
    assert response.status == 200, response.read()
    assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    try:
        yield Stream(response)
    finally:
        conn.close()


def service_body(name: str, interface: str) -> dict:
    return {"name": name, "kind": "ethernet-channel", "interface": interface,
            "attributes": {"type": "point-to-point", "bandwidth_mbps": 10}}


def test_each_caller_gets_its_own_events_as_they_happen(server: Controller) -> None:
    acme = server.party("acme", [("a1", "acc1", 2, "00:00:00:00:00:01")])
    beta = server.party("beta", [("b1", "acc4", 3, "00:00:00:00:00:08")])
    with stream(server, acme) as mine, stream(server, beta) as theirs, \
            stream(server, ADMIN) as everything:
        service = server.call("POST", "/api/v1/services", acme, service_body("s", "a1")).json()
        offer = server.call("POST", f"/api/v1/services/{service['id']}/offers", acme,
                            {"party": "beta"}).json()
        assert [mine.next()["action"] for _ in range(2)] == ["service_created", "offer_created"]
        # beta sees the offer addressed to it, not the creation of acme's service.
        seen = theirs.next()
        assert (seen["action"], seen["party"], seen["detail"]["offer"]) == (
            "offer_created", "beta", offer["id"])
        assert [everything.next()["action"] for _ in range(2)] == [
            "service_created", "offer_created"]


def test_a_reconnect_gets_what_it_missed_first(server: Controller) -> None:
    carol = server.party("carol", [("c1", "acc2", 2, "00:00:00:00:00:03")])
    with stream(server, carol) as first:
        server.call("POST", "/api/v1/services", carol, service_body("one", "c1"))
        last = first.next()
    for name, ce_vlan in (("two", 100), ("three", 200)):  # missed while disconnected
        body = {**service_body(name, "c1"), "ce_vlan": ce_vlan}
        assert server.call("POST", "/api/v1/services", carol, body).status_code == 201
    with stream(server, carol, last=str(last["id"])) as again:
        missed = [again.next() for _ in range(2)]
    assert [e["detail"]["ce_vlan"] for e in missed] == [100, 200]
    assert missed[0]["id"] > last["id"] and missed[1]["id"] > missed[0]["id"]


def test_a_bad_last_event_id_is_refused_by_name(server: Controller) -> None:
    response = server.call("GET", "/api/v1/events/stream", ADMIN, **{"Last-Event-ID": "x1"})
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("Last-Event-ID")
    assert server.call("GET", "/api/v1/events/stream", None).status_code == 401


def test_a_rotated_token_ends_the_stream(server: Controller) -> None:
    dave = server.party("dave", [("d1", "acc3", 2, "00:00:00:00:00:05")])
    party_id = server.call("GET", "/api/v1/me", dave).json()["id"]
    with stream(server, dave) as mine:
        server.call("POST", f"/api/v1/parties/{party_id}/token", ADMIN)
        started = time.monotonic()
        while mine.response.readline():  # heartbeats at most, then the end
            assert time.monotonic() - started < READ_TIMEOUT_S
