"""Several controllers on one PostgreSQL database: one leads, the other stands by.

Two real `metroshare controller` processes share a PostgreSQL database; every
switch of the demo tree connects to both. The leader holds the MASTER role,
the standby SLAVE (OVS reports each connection's role in its Controller
table). Killed, paused or restarted controllers lose no frame, leave no
acceptance half done, and the switches always end equal to the database.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import requests

from flows.intent import POINT_TO_POINT
from mininet_scenarios.network import MetroNetwork
from tests.e2e.metro import Metro, create_parties, mismatches, wait_until
from tests.harness import KIND, METRO_YAML, Controller
from topology import load_topology

pytestmark = [pytest.mark.network, pytest.mark.timeout(300)]

ADMIN = "cluster-test-admin-token-0123456789abcdef"
TAKEOVER_BOUND_S = 2.0   # the bound after kill -9
PING_INTERVAL_S = 0.02   # 50 packets/s


def role(controller: Controller) -> str | None:
    """What the instance's /healthz says it is; None when it does not answer."""
    try:
        return controller.session.get(f"{controller.url}/healthz", timeout=0.5).json()["role"]
    except (requests.RequestException, ValueError, KeyError):
        return None


def instance(workdir: Path, name: str, pg_url: str) -> Controller:
    controller = Controller(workdir / name, db=pg_url, admin_token=ADMIN, api_workers=1)
    controller.extra_args = ["--instance", name]
    return controller


def ovs_roles(topology) -> dict[str, dict[str, str]]:
    """Per bridge, the role OVS gives each controller target ("tcp:127.0.0.1:PORT")."""
    table = json.loads(subprocess.run(
        ["ovs-vsctl", "--format=json", "--columns=_uuid,target,role", "list", "Controller"],
        capture_output=True, text=True, check=True).stdout)
    role_of = {row[0][1]: (row[1], row[2] if isinstance(row[2], str) else "")
               for row in table["data"]}
    out = {}
    for bridge in topology.switches:
        refs = subprocess.run(["ovs-vsctl", "get", "Bridge", bridge, "controller"],
                              capture_output=True, text=True, check=True).stdout
        out[bridge] = dict(role_of[u] for u in re.findall(r"[0-9a-f-]{36}", refs))
    return out


def roles_are(topology, master: Controller, slave: Controller, paused: bool = False) -> bool:
    """`master` is MASTER on every switch and `slave` SLAVE (or, `paused`, anything
    but MASTER: OVS may have dropped and reopened the silent connection)."""
    ours, theirs = (f"tcp:127.0.0.1:{c.ofp_port}" for c in (master, slave))
    return all(r.get(ours) == "master" and (r.get(theirs) != "master" if paused
                                            else r.get(theirs) == "slave")
               for r in ovs_roles(topology).values())


def flow_dump(topology) -> dict[str, list[str]]:
    """Every switch's flows without counters: equal dumps mean nothing was changed."""
    return {s: sorted(subprocess.run(
        ["ovs-ofctl", "-O", "OpenFlow13", "dump-flows", "--no-stats", s],
        capture_output=True, text=True, check=True).stdout.splitlines()[1:])
        for s in topology.switches}


@contextmanager
def running_pair(workdir: Path, pg_url: str) -> Iterator[tuple[Metro, Controller, Controller]]:
    """Controller "a" (the leader: it starts first), standby "b", and the demo tree
    in Mininet with every switch connected to both."""
    topology = load_topology(METRO_YAML)
    a, b = instance(workdir, "a", pg_url), instance(workdir, "b", pg_url)
    with ExitStack() as stack:
        a.start()
        stack.callback(a.kill)
        wait_until(lambda: role(a) == "leader", 10, "a to lead")
        b.start()
        stack.callback(b.kill)
        assert role(b) == "standby"
        net = stack.enter_context(MetroNetwork(
            topology, [("127.0.0.1", a.ofp_port), ("127.0.0.1", b.ofp_port)]))
        metro = Metro(a, net, topology, create_parties(a, topology), workdir)
        metro.wait_connected()
        wait_until(lambda: roles_are(topology, a, b), 10, "a MASTER and b SLAVE on every switch")
        yield metro, a, b


def ping(net, src: str, dst_ip: str, count: int) -> None:
    net.get(src).sendCmd(f"ping -q -i {PING_INTERVAL_S} -c {count} -W 1 {dst_ip}")


def loss(net, host: str) -> float:
    summary = net.get(host).waitOutput()
    found = re.search(r"([\d.]+)% packet loss", summary)
    assert found, summary
    return float(found.group(1))


def accept_through(controller: Controller, owner, joiner, joiner_party: str,
                   interface: str, owner_interface: str, name: str) -> dict:
    """A point-to-point service of `owner`, accepted through `controller`'s API."""
    service = owner.call("POST", "/services", {
        "name": name, "kind": KIND, "interface": owner_interface,
        "attributes": {"type": POINT_TO_POINT, "bandwidth_mbps": 100}})
    offer = owner.call("POST", f"/services/{service['id']}/offers", {"party": joiner_party})
    response = controller.call("POST", f"/api/v1/offers/{offer['id']}/accept", joiner.token,
                               {"interface": interface})
    assert response.status_code == 200, response.text
    return response.json()


def test_failover_loses_no_frame_and_the_old_leader_rejoins_as_standby(
        network_lock, tmp_path: Path, pg_url: str) -> None:
    with running_pair(tmp_path, pg_url) as (metro, a, b):
        p = metro.parties
        # An acceptance through the standby is provisioned by the leader.
        answer = accept_through(b, p["h1"], p["h5"], "p5", "if5", "if1", "first")
        assert answer["service"]["state"] == "active"
        assert {m["state"] for m in answer["service"]["members"]} == {"provisioned"}
        assert mismatches(metro.topology, metro.expected_tables(), tmp_path) == {}

        ping(metro.net, "h1", "10.0.0.5", 400)  # 8 s at 50 packets/s, across the core
        try:
            time.sleep(1)
            a.kill()
            killed = time.monotonic()
            wait_until(lambda: role(b) == "leader", 10, "b to lead", interval=0.02)
            takeover_s = time.monotonic() - killed
            # Right after: an acceptance through the new leader passes traffic.
            answer = accept_through(b, b.api(p["h2"].token), p["h6"], "p6", "if6", "if2",
                                    "after")
            assert {m["state"] for m in answer["service"]["members"]} == {"provisioned"}
            assert "2 received" in metro.net.get("h2").cmd("ping -c 2 -W 1 10.0.0.6")
        finally:
            lost = loss(metro.net, "h1")
        print(f"\nfailover: new leader {takeover_s * 1000:.0f} ms after kill -9, "
              f"{lost}% of 400 pings lost")
        assert takeover_s < TAKEOVER_BOUND_S
        assert lost == 0.0
        assert mismatches(metro.topology, metro.expected_tables(), tmp_path) == {}

        # The old leader comes back as a standby and changes nothing on the switches.
        before = flow_dump(metro.topology)
        a.start()
        assert role(a) == "standby"
        wait_until(lambda: roles_are(metro.topology, b, a), 15, "a SLAVE again everywhere")
        time.sleep(2)
        assert flow_dump(metro.topology) == before
        assert "sending" not in a.log_text()


COUNT = 50


def mac(side: int, n: int) -> str:
    return f"02:00:00:{side:02x}:00:{n:02x}"


def test_leader_killed_mid_burst_leaves_every_answer_true(network_lock, tmp_path: Path,
                                                           pg_url: str) -> None:
    with running_pair(tmp_path, pg_url) as (metro, a, b):
        owner = a.api(a.party("burst-a", [(f"a-{n}", "acc1", 100 + n, mac(1, n))
                                          for n in range(COUNT)], max_channels=COUNT))
        joiner = a.api(a.party("burst-b", [(f"b-{n}", "acc4", 100 + n, mac(2, n))
                                           for n in range(COUNT)], max_channels=COUNT))
        offers, services = [], []
        for n in range(COUNT):
            service = owner.call("POST", "/services", {
                "name": f"s{n}", "kind": KIND, "interface": f"a-{n}",
                "attributes": {"type": POINT_TO_POINT, "bandwidth_mbps": 10}})
            services.append(service["id"])
            offers.append(owner.call("POST", f"/services/{service['id']}/offers",
                                     {"party": "burst-b"})["id"])
        answered = threading.Event()

        def accept(n: int) -> int | None:
            via = (a, b)[n % 2]
            try:
                response = requests.post(
                    f"{via.url}/api/v1/offers/{offers[n]}/accept", timeout=60,
                    json={"interface": f"b-{n}"},
                    headers={"Authorization": f"Bearer {joiner.token}"})
            except requests.RequestException:
                return None  # the instance died with the request: no answer
            answered.set()
            return response.status_code

        with ThreadPoolExecutor(10) as pool:
            futures = [pool.submit(accept, n) for n in range(COUNT)]
            answered.wait(30)
            a.kill()  # the leader, in the middle of the burst
            statuses = [f.result() for f in futures]
        wait_until(lambda: role(b) == "leader", 10, "b to lead")
        owner = b.api(owner.token)
        states = {}
        for n in range(COUNT):
            members = owner.call("GET", f"/services/{services[n]}")["members"]
            states[n] = next((m["state"] for m in members if m["party"] == "burst-b"), None)
        wait_until(lambda: mismatches(metro.topology, metro.expected_tables(), tmp_path) == {},
                   20, "the switches to equal the database")
        for n, status in enumerate(statuses):
            if status == 200:
                assert states[n] == "provisioned", (n, states[n])
            elif status is not None:
                assert states[n] != "provisioned", (n, status, states[n])
        print(f"\nburst: {statuses.count(200)} answered 200, {statuses.count(None)} unanswered "
              f"(the killed leader's), {COUNT - statuses.count(200) - statuses.count(None)} "
              f"refused")


def test_a_paused_leader_is_deposed_and_steps_down(network_lock, tmp_path: Path,
                                                    pg_url: str) -> None:
    with running_pair(tmp_path, pg_url) as (metro, a, b):
        p = metro.parties
        accept_through(a, p["h1"], p["h5"], "p5", "if5", "if1", "before")
        service = p["h2"].call("POST", "/services", {
            "name": "in-flight", "kind": KIND, "interface": "if2",
            "attributes": {"type": POINT_TO_POINT, "bandwidth_mbps": 100}})
        offer = p["h2"].call("POST", f"/services/{service['id']}/offers", {"party": "p6"})
        result: dict = {}

        def accept_on_a() -> None:  # held in flight by the pause
            try:
                result["status"] = requests.post(
                    f"{a.url}/api/v1/offers/{offer['id']}/accept", timeout=60,
                    json={"interface": "if6"},
                    headers={"Authorization": f"Bearer {p['h6'].token}"}).status_code
            except requests.RequestException as exc:
                result["error"] = exc

        ping(metro.net, "h1", "10.0.0.5", 700)  # 14 s at 50 packets/s
        in_flight = threading.Thread(target=accept_on_a)
        try:
            in_flight.start()
            os.kill(a.proc.pid, signal.SIGSTOP)
            wait_until(lambda: role(b) == "leader", 15, "b to take over from the paused a")
            wait_until(lambda: roles_are(metro.topology, b, a, paused=True), 10,
                       "b MASTER everywhere")
            answer = accept_through(b, b.api(p["h3"].token), p["h7"], "p7", "if7", "if3",
                                    "during")
            assert {m["state"] for m in answer["service"]["members"]} == {"provisioned"}
        finally:
            os.kill(a.proc.pid, signal.SIGCONT)
            lost = loss(metro.net, "h1")
        assert a.wait_for_log("is no longer the leader", 15)
        in_flight.join(60)
        assert lost == 0.0
        # The resumed instance could not take the switches back.
        time.sleep(2)
        assert roles_are(metro.topology, b, a)
        assert role(a) == "standby"
        wait_until(lambda: mismatches(metro.topology, metro.expected_tables(), tmp_path) == {},
                   20, "the switches to equal the database")
        members = p["h2"].call("GET", f"/services/{service['id']}")["members"]
        state = next(m["state"] for m in members if m["party"] == "p6")
        if result.get("status") == 200:
            assert state == "provisioned"
        print(f"\nsplit brain: the paused leader's acceptance answered "
              f"{result.get('status', result.get('error'))}, member {state}")


def test_a_second_controller_on_sqlite_exits_1(tmp_path: Path) -> None:
    first = Controller(tmp_path / "one", api_workers=0)
    first.start()
    try:
        second = Controller(tmp_path / "two", api_workers=0, db=first.db)
        proc = second.launch()
        assert proc.wait(timeout=20) == 1
        assert "PostgreSQL" in second.log_text()
    finally:
        first.stop()
