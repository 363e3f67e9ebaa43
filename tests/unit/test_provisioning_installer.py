"""apps.installer.Installer with a fake channel: which switches get what, and when it fails."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from apps.installer import Installer
from flows.intent import MULTIPOINT, POINT_TO_POINT, MemberIntent, ServiceIntent
from tests.conftest import METRO_YAML
from topology import load_topology
from topology.model import PortRef

TOPOLOGY = load_topology(METRO_YAML)


class FakeChannel:
    """Records every batch; a switch named in `refuse` answers with an error."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.sent: list[tuple[str, list]] = []
        self.refuse = refuse

    def send_batch(self, datapath, ops):
        self.sent.append((datapath.name, ops))
        return 1, datapath.name

    def wait_batch(self, dpid, barrier_xid, waiter, count, timeout):
        return ["flow_add: OFPET_FLOW_MOD_FAILED/OFPFMFC_TABLE_FULL"] if waiter in self.refuse \
            else []

    def request(self, datapath, msg, timeout):
        return []  # an empty switch


def member(n: int, role: str = "peer") -> MemberIntent:
    host = TOPOLOGY.hosts[f"h{n}"]
    return MemberIntent(n, f"p{n}", f"if{n}", PortRef(host.switch, host.port), host.mac, role)


def service(sid: int, *hosts: int, kind: str = POINT_TO_POINT) -> ServiceIntent:
    return ServiceIntent(sid, 100 + sid, kind, 10, tuple(member(h) for h in hosts))


@pytest.fixture
def installer(monkeypatch) -> Installer:
    parser = SimpleNamespace(OFPFlowStatsRequest=lambda *a, **k: None,
                             OFPGroupDescStatsRequest=lambda *a, **k: None,
                             OFPMeterConfigStatsRequest=lambda *a, **k: None)
    ofp = SimpleNamespace(OFPTT_ALL=255, OFPP_ANY=0, OFPG_ANY=0, OFPM_ALL=0)
    inst = Installer(TOPOLOGY, FakeChannel(), lambda: [])
    for name, sw in TOPOLOGY.switches.items():
        inst.switch_connected(name, SimpleNamespace(name=name, id=sw.dpid, ofproto=ofp,
                                                    ofproto_parser=parser))
    for name in TOPOLOGY.switches:
        assert inst.reconcile(name) is None
    inst.channel.sent.clear()
    return inst


def test_only_the_switches_on_the_path_are_touched(installer) -> None:
    result = installer.apply(service(1, 1, 3))   # acc1 - agg1 - acc2
    assert result.ok and set(result.switches) == {"acc1", "agg1", "acc2"}
    assert {name for name, _ in installer.channel.sent} == {"acc1", "agg1", "acc2"}


def test_the_same_state_twice_sends_nothing(installer) -> None:
    installer.apply(service(1, 1, 5))
    installer.channel.sent.clear()
    assert installer.apply(service(1, 1, 5)).ok
    assert installer.channel.sent == []


def test_a_joining_member_changes_only_what_it_needs(installer) -> None:
    installer.apply(service(1, 1, 3, kind=MULTIPOINT))
    installer.channel.sent.clear()
    installer.apply(service(1, 1, 3, 4, kind=MULTIPOINT))   # h4 sits on acc2 too
    assert {name for name, _ in installer.channel.sent} == {"acc2"}


def test_removal_deletes_by_cookie(installer) -> None:
    installer.apply(service(1, 1, 2))                          # both on acc1
    installer.channel.sent.clear()
    assert installer.apply(ServiceIntent(1, 101, POINT_TO_POINT, 10, ())).ok
    [(switch, ops)] = installer.channel.sent
    assert switch == "acc1" and "flows_delete_cookie" in [op.kind for op in ops]


def test_a_refusing_switch_fails_the_change_and_names_itself(installer) -> None:
    installer.channel.refuse = frozenset({"agg2"})
    result = installer.apply(service(1, 1, 7))
    assert not result.ok and "agg2" in result.error and "TABLE_FULL" in result.error
    assert result.switches["agg2"].startswith("failed:")


def test_a_switch_down_fails_additions_but_not_removals(installer) -> None:
    installer.apply(service(1, 1, 7))
    installer.switch_disconnected("acc4", installer.datapaths["acc4"])
    result = installer.apply(service(2, 2, 8))
    assert not result.ok and "acc4 is not connected" in result.error
    assert installer.apply(ServiceIntent(1, 101, POINT_TO_POINT, 10, ())).ok
