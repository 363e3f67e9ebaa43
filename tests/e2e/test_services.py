"""Services on the demo tree with real frames: who reaches whom, and nobody else.

Hosts: h1 h2 on acc1, h3 h4 on acc2, h5 h6 on acc3, h7 h8 on acc4.
"""

from __future__ import annotations

import re
import sys

import pytest

from flows.intent import MULTIPOINT, POINT_TO_MULTIPOINT, POINT_TO_POINT
from flows.rules import service_cookie
from tests.e2e.metro import create_service, flow_lines, mismatches, reachability, wait_until

pytestmark = [pytest.mark.network, pytest.mark.timeout(240)]

SEND_RAW = "tests/e2e/send_raw.py"
MARKER_TYPE = "88b5"  # IEEE local experimental ethertype: nothing else on the wire uses it


def pairs(*groups: tuple[str, ...]) -> set[tuple[str, str]]:
    return {(a, b) for g in groups for a in g for b in g if a != b}


def test_members_reach_each_other_and_nobody_else(metro) -> None:
    p2p, took1 = create_service(metro.parties, POINT_TO_POINT, "h1", ["h5"])
    mp, took2 = create_service(metro.parties, MULTIPOINT, "h2", ["h3", "h6"])
    tree, took3 = create_service(metro.parties, POINT_TO_MULTIPOINT, "h4", ["h7", "h8"])
    took = [round(t * 1000, 1) for t in took1 + took2 + took3]
    print(f"acceptance through REST, barrier-confirmed: {took} ms")

    # p2mp: root h4 <-> leaves h7, h8; never h7 <-> h8.
    expected = pairs(("h1", "h5"), ("h2", "h3", "h6"), ("h4", "h7"), ("h4", "h8"))
    assert reachability(metro.net, metro.topology) == expected
    assert mismatches(metro.topology, metro.expected_tables(), metro.workdir) == {}
    services = {s["id"]: s for s in metro.controller.api().call("GET", "/services")}
    assert {services[i]["state"] for i in (p2p, mp, tree)} == {"active"}
    assert all(v == "installed" for i in (p2p, mp, tree)
               for v in services[i]["provisioning"].values())
    metrics = metro.controller.call("GET", "/metrics", metro.controller.admin_token).text
    # one provisioning per acceptance: 1 (p2p) + 2 (multipoint) + 2 (p2mp)
    assert "metroshare_provisioning_seconds_count 5.0\n" in metrics, metrics
    assert "metroshare_flow_mods_sent_total 0.0\n" not in metrics, metrics
    # The hub-lag probe runs (a 50 ms timer: some seconds of samples by now).
    lag = re.search(r"^metroshare_hub_lag_seconds_count (\S+)$", metrics, re.M)
    assert lag and float(lag.group(1)) > 10, metrics

    # Leave: h6 leaves the multipoint service; teardown: the whole p2mp service goes.
    metro.parties["h6"].call("DELETE", f"/services/{mp}/members/p6")
    metro.parties["h4"].call("DELETE", f"/services/{tree}")
    assert reachability(metro.net, metro.topology) == pairs(("h1", "h5"), ("h2", "h3"))
    everything = "\n".join(line for s in metro.topology.switches for line in flow_lines(s))
    assert f"cookie={service_cookie(tree):#x}" not in everything
    assert "00:00:00:00:00:06" not in everything
    assert mismatches(metro.topology, metro.expected_tables(), metro.workdir) == {}


def _frame(dst: str, src: str, tags: tuple[int, ...] = ()) -> str:
    """A hex Ethernet frame with the marker ethertype, optionally 802.1Q-tagged."""
    head = dst.replace(":", "") + src.replace(":", "")
    for vid in tags:
        head += f"8100{vid:04x}"
    return head + MARKER_TYPE + "6d6574726f7368617265".ljust(92, "0")


def _captured(metro, senders: dict[str, list[str]]) -> dict[str, int]:
    """Send raw frames from hosts while every host captures; frames received per host."""
    hosts = sorted(metro.topology.hosts)
    for h in hosts:
        metro.net.get(h).cmd(f"tcpdump -Q in -e -n -i {h}-eth0 -w /tmp/ms-{h}.pcap "
                             f"'ether proto 0x{MARKER_TYPE} or vlan' >/dev/null 2>&1 &")
    wait_until(lambda: all("tcpdump" in metro.net.get(h).cmd("ps -o comm= -e") for h in hosts),
               5, "tcpdump to start")
    metro.net.get(hosts[0]).cmd("sleep 0.5")
    for h, frames in senders.items():
        metro.net.get(h).cmd(sys.executable, SEND_RAW, f"{h}-eth0", *frames)
    metro.net.get(hosts[0]).cmd("sleep 1")
    counts = {}
    for h in hosts:
        metro.net.get(h).cmd("kill %tcpdump; wait")
        out = metro.net.get(h).cmd(f"tcpdump -e -n -r /tmp/ms-{h}.pcap 2>/dev/null")
        counts[h] = len([line for line in out.splitlines() if line[:1].isdigit()])
    return counts


def test_broadcasts_stay_in_their_service_and_bad_frames_reach_nobody(metro) -> None:
    create_service(metro.parties, POINT_TO_POINT, "h1", ["h5"])
    create_service(metro.parties, MULTIPOINT, "h2", ["h3", "h6"])
    create_service(metro.parties, POINT_TO_MULTIPOINT, "h4", ["h7", "h8"])
    vlans = [s["vlan"] for s in metro.controller.api().call("GET", "/services")]
    hosts = metro.topology.hosts
    bcast = "ff:ff:ff:ff:ff:ff"

    def only(*receivers: str) -> dict[str, int]:
        return {h: int(h in receivers) for h in hosts}

    # Proper broadcasts: within the service only; a p2mp leaf's reaches the root alone.
    assert _captured(metro, {"h1": [_frame(bcast, hosts["h1"].mac)]}) == only("h5")
    assert _captured(metro, {"h7": [_frame(bcast, hosts["h7"].mac)]}) == only("h4")
    assert _captured(metro, {"h4": [_frame(bcast, hosts["h4"].mac)]}) == only("h7", "h8")
    senders = {}
    for h in ("h1", "h7"):
        bad = [_frame(bcast, hosts[h].mac, (v,)) for v in [*vlans, 1, 4094]]  # VLAN hopping
        bad += [_frame(bcast, hosts[h].mac, (v, v)) for v in vlans]            # QinQ
        bad += [_frame(bcast, hosts["h2"].mac),               # another member's MAC
                _frame(bcast, "02:00:00:00:00:99"),           # unknown MAC
                _frame(hosts["h5"].mac, "02:00:00:00:00:99")]  # unicast to a member, spoofed
        senders[h] = bad
    assert _captured(metro, senders) == only()


def test_bandwidth_is_capped_at_the_service_rate(metro) -> None:
    create_service(metro.parties, POINT_TO_POINT, "h1", ["h3"], bandwidth_mbps=50)
    h1, h3 = metro.net.get("h1"), metro.net.get("h3")
    h3.cmd("iperf3 -s -D -1 -p 5201")
    metro.net.get("h1").cmd("sleep 0.5")
    report = h1.cmd("iperf3 -c 10.0.0.3 -p 5201 -t 4 -O 1 -J")
    received = float(re.search(r'"sum_received":\s*{[^}]*"bits_per_second":\s*([\d.e+]+)',
                               report, re.S).group(1)) / 1e6
    print(f"iperf3 through a 50 Mb/s service: {received:.1f} Mb/s received")
    assert 10 < received <= 55


def test_a_suspended_party_is_cut_off_and_a_resumed_one_is_back(metro) -> None:
    """The provider suspends p3: its frames stop at once (its rules are gone from the
    switches, the service shows `degraded`); resumed, they flow again."""
    sid, _ = create_service(metro.parties, POINT_TO_POINT, "h1", ["h3"])
    admin = metro.controller.api()
    p3 = next(p for p in admin.call("GET", "/parties") if p["name"] == "p3")
    h3_ip = metro.topology.hosts["h3"].ip.split("/")[0]

    def h1_reaches_h3() -> bool:
        return " 0% packet loss" in metro.net.get("h1").cmd(f"ping -c2 -i0.2 -W1 {h3_ip}")

    assert h1_reaches_h3()
    admin.call("PATCH", f"/parties/{p3['id']}", {"account": {"status": "suspended"}})
    assert admin.call("GET", f"/services/{sid}")["state"] == "degraded"
    h3_switch = metro.topology.hosts["h3"].switch
    assert f"cookie={service_cookie(sid):#x}" not in "\n".join(flow_lines(h3_switch))
    assert not h1_reaches_h3()
    admin.call("PATCH", f"/parties/{p3['id']}", {"account": {"status": "active"}})
    assert admin.call("GET", f"/services/{sid}")["state"] == "active"
    wait_until(h1_reaches_h3, 5, "h1 to reach h3 again")
    assert mismatches(metro.topology, metro.expected_tables(), metro.workdir) == {}
