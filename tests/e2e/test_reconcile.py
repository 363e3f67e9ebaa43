"""The switches always converge back to the compiled state.

Disturbances on the demo tree with live services: flows deleted by hand or
flushed by a controller change, switches tampered with while disconnected from
the controller, a controller killed and restarted (no frame lost: fail-mode
secure keeps forwarding), and Open vSwitch itself restarted (its tables are
lost, so traffic stops until the controller has refilled them; the gap is
bounded).
"""

from __future__ import annotations

import re
import subprocess
import time
from itertools import pairwise

import pytest

from apps.installer import AUDIT_INTERVAL_S
from flows.intent import MULTIPOINT, POINT_TO_MULTIPOINT, POINT_TO_POINT
from tests.e2e.metro import create_service, mismatches, ofctl, reachability, wait_until

pytestmark = [pytest.mark.network, pytest.mark.timeout(240)]


def pairs(*groups: tuple[str, ...]) -> set[tuple[str, str]]:
    return {(a, b) for g in groups for a in g for b in g if a != b}


EXPECTED = pairs(("h1", "h5"), ("h2", "h3", "h6"), ("h4", "h7"), ("h4", "h8"))


@pytest.fixture
def services(metro):
    create_service(metro.parties, POINT_TO_POINT, "h1", ["h5"])
    create_service(metro.parties, MULTIPOINT, "h2", ["h3", "h6"])
    create_service(metro.parties, POINT_TO_MULTIPOINT, "h4", ["h7", "h8"])
    expected = metro.expected_tables()
    assert mismatches(metro.topology, expected, metro.workdir) == {}
    return expected


def converged(metro, expected) -> bool:
    return mismatches(metro.topology, expected, metro.workdir) == {}


def test_flows_deleted_by_hand_come_back(metro, services) -> None:
    repairs = metro.controller.log_text().count("switch acc1: sending")
    ofctl("del-flows", "acc1")
    # The switch reports the removals (flow-removed); the controller reads back and repairs.
    wait_until(lambda: metro.controller.log_text().count("switch acc1: sending") > repairs, 10,
               "acc1 to be repaired")
    wait_until(lambda: converged(metro, services), 10, "acc1 to be reconciled")
    assert reachability(metro.net, metro.topology) == EXPECTED


def vsctl(*args: str) -> str:
    return subprocess.run(["ovs-vsctl", *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_bridges_flushed_by_a_controller_change_are_refilled(metro, services) -> None:
    """OVS empties a bridge's tables when its controller setting changes: a bridge restart."""
    target = vsctl("get-controller", "acc3")
    for switch in ("acc3", "core1"):
        vsctl("del-controller", switch)
        assert "cookie=" not in ofctl("dump-flows", switch)
        vsctl("set-controller", switch, target)
    wait_until(lambda: converged(metro, services), 15, "acc3 and core1 to be refilled")
    assert reachability(metro.net, metro.topology) == EXPECTED


def test_tampering_while_the_controller_is_dead_is_undone(metro, services) -> None:
    metro.controller.kill()
    vlan = min(g.group_id for g in services["acc3"].groups)
    ofctl("add-flow", "acc3", "cookie=0x99,priority=5,in_port=2,actions=output:3")  # a leak
    ofctl("del-groups", "acc3", f"group_id={vlan}")          # takes its flows with it
    ofctl("add-meter", "acc3", "meter=999,kbps,band=type=drop,rate=1000")
    ofctl("mod-flows", "core1", "table=1,actions=drop")      # every forwarding rule broken
    assert not converged(metro, services)
    metro.controller.start()
    wait_until(lambda: converged(metro, services), 15, "acc3 and core1 to be repaired")
    touched = set(re.findall(r"switch (\w+): sending", metro.controller.log_text()))
    assert touched == {"acc3", "core1"}, "switches that were right must be left alone"
    assert reachability(metro.net, metro.topology) == EXPECTED


def reconciled(log: str) -> set[str]:
    return set(re.findall(r"switch (\w+) reconciled with the desired state", log))


def test_controller_restart_loses_no_frame_and_changes_nothing(metro, services) -> None:
    h1, h2 = metro.net.get("h1"), metro.net.get("h2")
    h1.sendCmd("ping -q -i 0.05 -c 160 -W 1 10.0.0.5")   # 8 s, across the core
    h2.sendCmd("ping -q -i 0.05 -c 160 -W 1 10.0.0.6")
    try:
        metro.controller.kill()  # the pings go on while it is dead and while it comes back
        time.sleep(1)
        metro.controller.start()
        metro.wait_connected()
        wait_until(lambda: len(reconciled(metro.controller.log_text())) == 7, 15,
                   "every switch to be reconciled")
    finally:
        summaries = [host.waitOutput() for host in (h1, h2)]
    for summary in summaries:
        loss = re.search(r"([\d.]+)% packet loss", summary)
        assert loss and float(loss.group(1)) == 0.0, summary
    log = metro.controller.log_text()
    assert "sending" not in log, "a reconnect re-sent rules that were already right"
    assert converged(metro, services)
    assert reachability(metro.net, metro.topology) == EXPECTED


OVS_CTL = "/usr/share/openvswitch/scripts/ovs-ctl"
OVS_OUTAGE_BOUND_S = 5


def vswitchd_running() -> bool:
    return subprocess.run(["ovs-appctl", "-t", "ovs-vswitchd", "version"],
                          capture_output=True).returncode == 0


def start_vswitchd() -> None:
    """ovsdb-server stays up: it keeps the bridges, ports and controller settings."""
    subprocess.run([OVS_CTL, "--no-ovsdb-server", "start", "--system-id=random", "--no-monitor"],
                   capture_output=True, check=True)


def longest_gap_s(ping_output: str, interval_s: float, count: int) -> float:
    """The longest run of unanswered pings, in seconds; a run at the end counts too."""
    answered = sorted({int(s) for s in re.findall(r"icmp_seq=(\d+)", ping_output)})
    assert answered, ping_output
    return (max(b - a for a, b in pairwise([0, *answered, count + 1])) - 1) * interval_s


def test_restarted_open_vswitch_is_refilled(metro, services) -> None:
    """ovs-vswitchd restarted: its tables are gone, the bridges it reads back from ovsdb
    reconnect, and the controller fills them again."""
    interval_s, count = 0.05, 200  # 10 s of pings, across the core
    h1, h2 = metro.net.get("h1"), metro.net.get("h2")
    h1.sendCmd(f"ping -i {interval_s} -c {count} -W 1 10.0.0.5")
    h2.sendCmd(f"ping -i {interval_s} -c {count} -W 1 10.0.0.6")
    seen = len(metro.controller.log_text())

    def since(event: str) -> set[str]:
        """The switches the controller logged `event` for since the restart."""
        log = metro.controller.log_text()[seen:]
        return set(re.findall(rf"switch (\w+) \(dpid [^)]*\) {event}$", log, re.MULTILINE))

    try:
        time.sleep(1)
        subprocess.run(["ovs-appctl", "-t", "ovs-vswitchd", "exit"], capture_output=True,
                       check=True)
        wait_until(lambda: not vswitchd_running(), 10, "ovs-vswitchd to exit")
        start_vswitchd()
        wait_until(lambda: since("disconnected") == set(services), 10,
                   "every switch to be seen disconnected")
        wait_until(lambda: since("connected") == set(services), 15,
                   "every switch to reconnect")
        metro.wait_connected()
        wait_until(lambda: converged(metro, services), 15, "the tables to be refilled")
    finally:
        if not vswitchd_running():
            start_vswitchd()
        summaries = [host.waitOutput() for host in (h1, h2)]
    for summary in summaries:
        assert longest_gap_s(summary, interval_s, count) <= OVS_OUTAGE_BOUND_S, summary
    assert reachability(metro.net, metro.topology) == EXPECTED


def test_changes_that_remove_nothing_are_found_by_the_audit(metro, services) -> None:
    """No event tells of an added flow or an altered action: the periodic read-back does."""
    ofctl("add-flow", "acc2", "cookie=0x99,priority=5,in_port=2,actions=output:3")
    ofctl("mod-flows", "core1", "table=1,actions=drop")
    assert not converged(metro, services)
    wait_until(lambda: converged(metro, services), AUDIT_INTERVAL_S + 10, "the audit")
    assert reachability(metro.net, metro.topology) == EXPECTED
