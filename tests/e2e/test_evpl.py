"""Customer VLANs (EVPL / EVP-LAN) with real frames: several services on one port of
h1, each selected by its customer VLAN, translated, PCP kept, metered apart.

Hosts: h1 h2 on acc1, h3 h4 on acc2, h5 h6 on acc3, h7 h8 on acc4. The scenario:
service A (multipoint) h1 VID 100 <-> h5 VID 100 <-> h3 VID 300; service B
(point-to-point) h1 VID 200 <-> h7 untagged; both on h1's one interface.

Mininet hosts have no 802.1Q module: frames are written raw and captured with
tcpdump. The receiving veth strips the tag into the packet's aux data
(tp_vlan_tci, tp_vlan_tpid); libpcap puts it back into the capture, so
`tcpdump -e` shows the VID and PCP that were on the wire (checked against the
aux data read directly: same VID, PCP and TPID 0x8100).
"""

from __future__ import annotations

import dataclasses
import fcntl
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from controller.core import ServiceCore
from controller.store import open_store
from flows.compiler import compile_service, infrastructure
from flows.intent import MULTIPOINT, POINT_TO_POINT
from flows.rules import SwitchTables
from tests.conftest import NETWORK_LOCK
from tests.e2e.metro import (
    Metro,
    flow_lines,
    group_ids,
    meter_ids,
    mismatches,
    ofctl,
    running_metro,
    wait_until,
)
from tests.e2e.test_reconcile import reconciled
from tests.harness import KIND

pytestmark = [pytest.mark.network, pytest.mark.timeout(300)]

SEND_RAW = "tests/e2e/send_raw.py"
FLOOD_RAW = "tests/e2e/flood_raw.py"
MARKER_TYPE = "88b5"  # IEEE local experimental ethertype: nothing else on the wire uses it
BCAST = "ff:ff:ff:ff:ff:ff"
CAP_A, CAP_B = 10, 40  # Mb/s of service A and service B
Tags = tuple[tuple[int, int], ...]  # a received frame's tags, outer first: (VID, PCP)


@dataclass
class Evpl:
    metro: Metro
    a: int  # service id: multipoint, h1 VID 100, h5 VID 100, h3 VID 300
    b: int  # service id: point-to-point, h1 VID 200, h7 untagged

    def mac(self, host: str) -> str:
        return self.metro.topology.hosts[host].mac


def _service(metro: Metro, owner: str, kind_type: str, mbps: int, ce_vlan: int | None,
             others: dict[str, int | None]) -> int:
    """A service of `owner` on its interface, joined by each of `others` with its VID."""
    def tagged(body: dict, vid: int | None) -> dict:
        return body if vid is None else {**body, "ce_vlan": vid}

    parties = metro.parties
    service = parties[owner].call("POST", "/services", tagged({
        "name": f"evpl-{owner}-{ce_vlan}", "kind": KIND, "interface": f"if{owner[1:]}",
        "attributes": {"type": kind_type, "bandwidth_mbps": mbps}}, ce_vlan))
    for host, vid in others.items():
        offer = parties[owner].call("POST", f"/services/{service['id']}/offers",
                                    {"party": f"p{host[1:]}"})
        parties[host].call("POST", f"/offers/{offer['id']}/accept",
                           tagged({"interface": f"if{host[1:]}"}, vid))
    return service["id"]


@pytest.fixture(scope="module")
def evpl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Evpl]:
    """Services A and B of the module docstring, through the REST API, on one
    network for the module (the tests send frames; the last restarts the
    controller, which changes nothing)."""
    with open(NETWORK_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with running_metro(tmp_path_factory.mktemp("evpl")) as metro:
            a = _service(metro, "h1", MULTIPOINT, CAP_A, 100, {"h5": 100, "h3": 300})
            b = _service(metro, "h1", POINT_TO_POINT, CAP_B, 200, {"h7": None})
            yield Evpl(metro, a, b)


def _frame(dst: str, src: str, tags: tuple[tuple[int, int], ...] = (), size: int = 60) -> str:
    """A hex Ethernet frame of `size` bytes with the marker ethertype, tagged with
    (VID, PCP) pairs, outer first (0x8100 each)."""
    head = dst.replace(":", "") + src.replace(":", "")
    for vid, pcp in tags:
        head += f"8100{pcp << 13 | vid:04x}"
    return (head + MARKER_TYPE + "6d6574726f7368617265").ljust(2 * size, "0")


def _captured(metro: Metro, senders: dict[str, list[str]]) -> dict[str, list[Tags]]:
    """Send raw frames from hosts while every host captures: per host, the tags of
    each marker frame it received (sorted; an empty tuple is an untagged frame).
    Other frames are left out: h7's own IPv6 traffic reaches h1 tagged 200, and
    the switch-side veths' kernel sends IPv6 multicast to every host."""
    hosts = sorted(metro.topology.hosts)
    for h in hosts:
        metro.net.get(h).cmd(f"tcpdump -Q in -e -n -i {h}-eth0 -w /tmp/ms-evpl-{h}.pcap "
                             f"'ether proto 0x{MARKER_TYPE} or vlan' >/dev/null 2>&1 &")
    wait_until(lambda: all("tcpdump" in metro.net.get(h).cmd("ps -o comm= -e") for h in hosts),
               5, "tcpdump to start")
    metro.net.get(hosts[0]).cmd("sleep 0.5")
    for h, frames in senders.items():
        metro.net.get(h).cmd(sys.executable, SEND_RAW, f"{h}-eth0", *frames)
    metro.net.get(hosts[0]).cmd("sleep 1")
    received = {}
    for h in hosts:
        metro.net.get(h).cmd("kill %tcpdump; wait")
        out = metro.net.get(h).cmd(f"tcpdump -e -n -r /tmp/ms-evpl-{h}.pcap 2>/dev/null")
        received[h] = sorted(
            tuple((int(v), int(p)) for v, p in re.findall(r"vlan (\d+), p (\d+)", line))
            for line in out.splitlines() if line[:1].isdigit() and f"0x{MARKER_TYPE}" in line)
    return received


def _only(metro: Metro, **receivers: list[Tags]) -> dict[str, list[Tags]]:
    """What `_captured` returns when exactly `receivers` get those frames."""
    return {h: sorted(receivers.get(h, [])) for h in metro.topology.hosts}


def test_each_customer_vlan_selects_its_own_service(evpl: Evpl) -> None:
    """Two services on h1's one port: VID 100 reaches service A only, VID 200 service
    B only, each receiver with its own customer VLAN (h7 untagged), both ways."""
    m, mac = evpl.metro, evpl.mac
    assert _captured(m, {"h1": [_frame(mac("h5"), mac("h1"), ((100, 0),))]}) \
        == _only(m, h5=[((100, 0),)])
    assert _captured(m, {"h1": [_frame(BCAST, mac("h1"), ((100, 0),))]}) \
        == _only(m, h5=[((100, 0),)], h3=[((300, 0),)])
    assert _captured(m, {"h1": [_frame(BCAST, mac("h1"), ((200, 0),))]}) == _only(m, h7=[()])
    assert _captured(m, {"h1": [_frame(mac("h7"), mac("h1"), ((200, 0),))]}) \
        == _only(m, h7=[()])
    assert _captured(m, {"h7": [_frame(BCAST, mac("h7"))]}) == _only(m, h1=[((200, 0),)])
    assert _captured(m, {"h7": [_frame(mac("h1"), mac("h7"))]}) == _only(m, h1=[((200, 0),)])
    assert _captured(m, {"h5": [_frame(mac("h1"), mac("h5"), ((100, 0),))]}) \
        == _only(m, h1=[((100, 0),)])


def test_a_third_member_gets_its_own_customer_vlan(evpl: Evpl) -> None:
    """h3 joined A with VID 300: VID translation 100 <-> 300 both ways."""
    m, mac = evpl.metro, evpl.mac
    assert _captured(m, {"h1": [_frame(mac("h3"), mac("h1"), ((100, 0),))]}) \
        == _only(m, h3=[((300, 0),)])
    assert _captured(m, {"h3": [_frame(mac("h1"), mac("h3"), ((300, 0),))]}) \
        == _only(m, h1=[((100, 0),)])
    assert _captured(m, {"h3": [_frame(BCAST, mac("h3"), ((300, 0),))]}) \
        == _only(m, h1=[((100, 0),)], h5=[((100, 0),)])


def test_foreign_vids_untagged_and_double_tagged_frames_reach_nobody(evpl: Evpl) -> None:
    """h1 holds VIDs 100 and 200 only: VID 999, untagged or priority-tagged frames
    (no untagged membership) and double-tagged frames go nowhere; nor do h3's
    frames on VID 100 (h3 holds 300) nor h7's tagged ones (h7 is untagged)."""
    m, mac = evpl.metro, evpl.mac
    h1 = [_frame(BCAST, mac("h1"), ((999, 0),)), _frame(mac("h5"), mac("h1"), ((999, 0),)),
          _frame(BCAST, mac("h1")), _frame(BCAST, mac("h1"), ((0, 5),)),
          _frame(BCAST, mac("h1"), ((100, 0), (100, 0))),
          _frame(mac("h5"), mac("h1"), ((100, 0), (7, 0))),
          _frame(BCAST, mac("h1"), ((200, 0), (200, 0)))]
    h3 = [_frame(BCAST, mac("h3"), ((100, 0),)), _frame(BCAST, mac("h3"), ((300, 0), (300, 0))),
          _frame(BCAST, mac("h3"))]
    h7 = [_frame(BCAST, mac("h7"), ((200, 0),)), _frame(BCAST, mac("h7"), ((0, 0), (200, 0)))]
    assert _captured(m, {"h1": h1, "h3": h3, "h7": h7}) == _only(m)


def test_priority_bits_survive_translation(evpl: Evpl) -> None:
    """The PCP a member sends is the PCP tagged receivers get, with their own VID;
    an untagged member's priority tag (VID 0) keeps its PCP too."""
    m, mac = evpl.metro, evpl.mac
    sent = [_frame(BCAST, mac("h1"), ((100, 5),)), _frame(BCAST, mac("h1"), ((100, 3),))]
    assert _captured(m, {"h1": sent}) \
        == _only(m, h5=[((100, 5),), ((100, 3),)], h3=[((300, 5),), ((300, 3),)])
    assert _captured(m, {"h3": [_frame(mac("h1"), mac("h3"), ((300, 6),))]}) \
        == _only(m, h1=[((100, 6),)])
    assert _captured(m, {"h7": [_frame(mac("h1"), mac("h7"), ((0, 5),))]}) \
        == _only(m, h1=[((200, 5),)])
    assert _captured(m, {"h1": [_frame(mac("h7"), mac("h1"), ((200, 7),))]}) \
        == _only(m, h7=[()])


def _rx_bytes(metro: Metro, host: str) -> int:
    return int(metro.net.get(host).cmd(f"cat /sys/class/net/{host}-eth0/statistics/rx_bytes"))


def _meter_bytes_in(switch: str) -> dict[int, int]:
    """Bytes each meter of `switch` has seen (passed or dropped), by meter id."""
    return {int(i): int(b) for i, b in
            re.findall(r"meter:(\d+) .*?byte_in_count:(\d+)", ofctl("meter-stats", switch))}


def test_each_service_is_metered_at_its_own_rate(evpl: Evpl) -> None:
    """h1 floods A (VID 100, to h5) and B (VID 200, to h7) far above both caps at
    once: each receiver gets about its own service's rate (the meters are per
    membership, not per port). Measured after the meters' burst, while flooding;
    the offered load is what reached each of h1's meters on acc1. The flood
    leaves the switches' tables as compiled."""
    m, mac = evpl.metro, evpl.mac
    meter = {mt.rate_kbps // 1000: mt.meter_id for mt in m.expected_tables()["acc1"].meters
             if not mt.pktps}  # h1's two memberships, told apart by their caps
    size, seconds, settle, window = 1000, 7, 2.0, 4.0
    frames = [_frame(mac("h5"), mac("h1"), ((100, 0),), size),
              _frame(mac("h7"), mac("h1"), ((200, 0),), size)]
    h1 = m.net.get("h1")
    h1.sendCmd(sys.executable, FLOOD_RAW, "h1-eth0", str(seconds), *frames)
    time.sleep(settle)
    before = {h: _rx_bytes(m, h) for h in ("h5", "h7")}
    metered = _meter_bytes_in("acc1")
    start = time.monotonic()
    time.sleep(window)
    after = {h: _rx_bytes(m, h) for h in ("h5", "h7")}
    metered = {i: b - metered[i] for i, b in _meter_bytes_in("acc1").items()}
    took = time.monotonic() - start
    h1.waitOutput()
    rate = {h: (after[h] - before[h]) * 8 / took / 1e6 for h in before}
    offered = {cap: metered[meter[cap]] * 8 / took / 1e6 for cap in (CAP_A, CAP_B)}
    figures = (f"A (cap {CAP_A} Mb/s): offered {offered[CAP_A]:.0f}, received at h5 "
               f"{rate['h5']:.2f} Mb/s; B (cap {CAP_B} Mb/s): offered {offered[CAP_B]:.0f}, "
               f"received at h7 {rate['h7']:.2f} Mb/s")
    print(figures)
    assert min(offered[CAP_A] / CAP_A, offered[CAP_B] / CAP_B) > 2, figures
    assert 0.8 * CAP_A < rate["h5"] <= 1.1 * CAP_A, figures
    assert 0.8 * CAP_B < rate["h7"] <= 1.1 * CAP_B, figures
    assert mismatches(m.topology, m.expected_tables(), m.workdir) == {}


def _counts(tables: dict[str, SwitchTables]) -> dict[str, tuple[int, int, int]]:
    return {s: (len(t.flows), len(t.groups), len(t.meters)) for s, t in tables.items()}


def _untagged_tables(metro: Metro) -> dict[str, SwitchTables]:
    """The same services with every member untagged, per switch: infrastructure plus
    each service compiled alone (together they would clash: h1 holds two
    memberships on one port, which only customer VLANs tell apart)."""
    core = ServiceCore(metro.topology, open_store(metro.controller.db),
                       admin_token=metro.controller.admin_token, replica=True)
    out = {s: infrastructure(metro.topology, s) for s in metro.topology.switches}
    for intent in core.desired_intents():
        untagged = dataclasses.replace(intent, members=tuple(
            dataclasses.replace(member, ce_vlan=None) for member in intent.members))
        for s, t in compile_service(metro.topology, untagged).items():
            out[s] = SwitchTables(out[s].flows | t.flows, out[s].groups | t.groups,
                                  out[s].meters | t.meters)
    return out


def test_switches_hold_what_the_controller_compiles(evpl: Evpl) -> None:
    """After traffic, each switch's tables equal the compilation; the rule counts per
    switch, EVPL next to the same services untagged: a tagged member saves one
    ingress rule (no priority-tag rule), nothing else differs."""
    m = evpl.metro
    _captured(m, {"h1": [_frame(BCAST, m.topology.hosts["h1"].mac, ((100, 0),))]})
    expected = m.expected_tables()
    assert mismatches(m.topology, expected, m.workdir) == {}
    on_switch = {s: (len(flow_lines(s)), len(group_ids(s)), len(meter_ids(s)))
                 for s in sorted(m.topology.switches)}
    evpl_counts, untagged = _counts(expected), _counts(_untagged_tables(m))
    table = "\n".join(f"{s:6} EVPL {evpl_counts[s]}  untagged {untagged[s]}"
                      for s in sorted(evpl_counts))
    print(f"(flows, groups, meters) per switch:\n{table}")
    assert on_switch == evpl_counts, table
    tagged = {"acc1": 2, "acc2": 1, "acc3": 1}  # tagged memberships per switch
    assert {s: (u[0] - tagged.get(s, 0), *u[1:]) for s, u in untagged.items()} \
        == evpl_counts, table


def test_a_restarted_controller_reads_translation_back_and_sends_nothing(evpl: Evpl) -> None:
    """kill -9 and restart: the rewrite and translation rules read back from the
    switches equal the compiled ones (nothing re-sent), and frames still translate."""
    m, mac = evpl.metro, evpl.mac
    m.controller.kill()
    m.controller.start()
    m.wait_connected()
    wait_until(lambda: len(reconciled(m.controller.log_text())) == len(m.topology.switches),
               15, "every switch to be reconciled")
    assert "sending" not in m.controller.log_text(), "a restart re-sent rules that were right"
    assert mismatches(m.topology, m.expected_tables(), m.workdir) == {}
    assert _captured(m, {"h3": [_frame(mac("h1"), mac("h3"), ((300, 4),))]}) \
        == _only(m, h1=[((100, 4),)])
