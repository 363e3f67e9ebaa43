"""apps.installer.Installer with a fake channel: which switches get what, and when it fails."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import eventlet
import pytest

from apps.installer import Installer
from flows.intent import MULTIPOINT, POINT_TO_POINT, MemberIntent, ServiceIntent
from flows.rules import service_cookie, service_of_cookie
from tests.conftest import METRO_YAML
from topology import load_topology
from topology.model import PortRef

TOPOLOGY = load_topology(METRO_YAML)


class FakeChannel:
    """Records every batch. A switch named in `refuse` refuses its whole batch; a flow
    of a service in `refuse_services` is refused alone, as OVS refuses one message."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.sent: list[tuple[str, list]] = []
        self.refuse = refuse
        self.refuse_services: set[int] = set()

    def send_batch(self, datapath, ops):
        self.sent.append((datapath.name, ops))
        return 1, (datapath.name, ops)

    def wait_batch(self, dpid, barrier_xid, waiter, count, timeout):
        eventlet.sleep(0)  # a barrier round trip: other changes may queue meanwhile
        name, ops = waiter
        if name in self.refuse:
            return ["switch disconnected"], []
        refused = [(op, f"{op.kind}: OFPET_FLOW_MOD_FAILED/OFPFMFC_TABLE_FULL") for op in ops
                   if op.kind == "flow_add" and service_of_cookie(op.value.cookie)
                   in self.refuse_services]
        return [text for _, text in refused], refused

    def request(self, datapath, msg, timeout, convert=None):
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
    assert not result.ok and "agg2" in result.error and "disconnected" in result.error
    assert result.switches["agg2"].startswith("failed:")


def test_a_switch_down_fails_additions_but_not_removals(installer) -> None:
    installer.apply(service(1, 1, 7))
    installer.switch_disconnected("acc4", installer.datapaths["acc4"])
    result = installer.apply(service(2, 2, 8))
    assert not result.ok and "acc4 is not connected" in result.error
    assert installer.apply(ServiceIntent(1, 101, POINT_TO_POINT, 10, ())).ok


def _submit_together(installer, intents):
    """Submit every intent before any switch answers, as concurrent requests do."""
    pending = [installer.submit(i) for i in intents]
    return [p.wait() for p in pending]


def test_concurrent_changes_on_one_switch_share_one_round(installer) -> None:
    # h1 and h2 sit on acc1: four services between them and h3..h4 of acc2.
    intents = [service(10 + n, a, b) for n, (a, b) in enumerate([(1, 3), (2, 4)])]
    results = _submit_together(installer, intents)
    assert all(r.ok for r in results)
    per_switch = [name for name, _ in installer.channel.sent]
    assert sorted(per_switch) == ["acc1", "acc2", "agg1"]  # one batch each, not two
    [(_, ops)] = [(n, o) for n, o in installer.channel.sent if n == "acc1"]
    assert {service_of_cookie(op.value.cookie) for op in ops if op.kind == "flow_add"} == {10, 11}


def test_changes_arriving_during_a_round_join_the_next(installer) -> None:
    first = installer.submit(service(10, 1, 3))
    eventlet.sleep(0)  # the first round is now waiting for its barrier
    later = [installer.submit(service(11, 2, 4)), installer.submit(service(12, 5, 6))]
    assert first.wait().ok and all(p.wait().ok for p in later)
    acc1 = [ops for name, ops in installer.channel.sent if name == "acc1"]
    assert len(acc1) == 2  # service 10's round, then one round for 11 (12 is on acc2 only)


def test_a_refused_member_fails_only_its_own_service(installer) -> None:
    installer.channel.refuse_services = {11}
    ok, refused = _submit_together(installer, [service(10, 1, 3), service(11, 2, 4)])
    assert ok.ok and set(ok.switches.values()) == {"installed"}
    assert not refused.ok and "TABLE_FULL" in refused.error
    # The switches that refused are read back before their next change.
    installer.channel.refuse_services = set()
    installer.channel.sent.clear()
    assert installer.apply(service(11, 2, 4)).ok


def test_a_switch_lost_mid_round_fails_its_changes_and_is_read_back(installer) -> None:
    installer.channel.refuse = frozenset({"acc1"})  # answers "switch disconnected"
    results = _submit_together(installer, [service(10, 1, 3), service(11, 2, 4)])
    assert not any(r.ok for r in results)
    assert all(r.switches["acc1"].startswith("failed:") for r in results)
    assert all(r.switches["agg1"] == "installed" for r in results)
    installer.channel.refuse = frozenset()
    reads = []
    installer.channel.request = lambda dp, msg, timeout, convert: reads.append(dp.name) or []
    assert installer.reconcile("acc1") is None and reads == ["acc1", "acc1", "acc1"]


def test_a_clash_with_another_service_changes_nothing(installer) -> None:
    assert installer.apply(service(10, 1, 3)).ok
    clash = ServiceIntent(11, 110, POINT_TO_POINT, 10, (member(1), member(3)))  # same VLAN
    installer.channel.sent.clear()
    result = installer.apply(clash)
    assert not result.ok and "share VLAN" in result.error and installer.channel.sent == []


def test_a_flow_removed_for_a_service_that_is_gone_is_no_loss(installer) -> None:
    """The same match may belong to a newer service by the time the switch reports the
    removal of the old one (a reused VLAN and interface): only the holder's cookie counts."""
    from flows.rules import service_cookie

    installer.apply(service(1, 1, 2))
    installer.apply(ServiceIntent(1, 101, POINT_TO_POINT, 10, ()))
    installer.apply(ServiceIntent(2, 101, POINT_TO_POINT, 10, (member(1), member(2))))
    flow = next(f for f in installer.state.tables("acc1").flows if f.cookie == service_cookie(2))
    key = (flow.table, flow.priority, flow.match)
    assert not installer.lost("acc1", *key, service_cookie(1))
    assert installer.lost("acc1", *key, service_cookie(2))


def test_the_audit_takes_the_desired_state_from_the_database(installer) -> None:
    """A change the provisioner missed (or made that the database does not hold) is
    corrected from the database, then reconciled onto the switches."""
    database = [service(1, 1, 3)]
    installer._desired_intents = lambda: database
    installer.apply(service(2, 2, 4))   # installed, but not in the database
    installer.resync()
    assert set(installer.state.intents) == {1}
    installer.channel.sent.clear()
    for name in TOPOLOGY.switches:
        assert installer.reconcile(name) is None
    assert {name for name, _ in installer.channel.sent} >= {"acc1", "acc2", "agg1"}


def tagged(n: int, ce_vlan: int | None, member_id: int | None = None) -> MemberIntent:
    """Host `n`'s interface as an EVPL membership selected by `ce_vlan`."""
    return replace(member(n), member_id=member_id or n, ce_vlan=ce_vlan)


def test_services_sharing_an_interface_by_customer_vlan_install_apart(installer) -> None:
    """EVPL: a second service on h1's interface adds only its own rules, and leaving
    removes only its own (by cookie); the same interface, MAC and customer VLAN in a
    third service is a clash that sends nothing."""
    first = ServiceIntent(1, 101, POINT_TO_POINT, 10, (tagged(1, 10), tagged(3, None)))
    second = ServiceIntent(2, 102, POINT_TO_POINT, 10, (tagged(1, 20, 11), tagged(3, 30, 13)))
    assert installer.apply(first).ok
    installer.channel.sent.clear()
    assert installer.apply(second).ok
    ops = [op for _, batch in installer.channel.sent for op in batch]
    assert {op.kind for op in ops} == {"meter_add", "group_add", "flow_add"}
    assert {op.value.cookie for op in ops if op.kind == "flow_add"} == {service_cookie(2)}
    assert {op.value.meter_id for op in ops if op.kind == "meter_add"} == {11, 13}
    installer.channel.sent.clear()
    assert installer.apply(ServiceIntent(2, 102, POINT_TO_POINT, 10, ())).ok
    deletes = [op for _, batch in installer.channel.sent for op in batch
               if op.kind == "flows_delete_cookie"]
    assert {op.value for op in deletes} == {service_cookie(2)}
    assert any(f.cookie == service_cookie(1) for f in installer.state.tables("acc1").flows)
    installer.channel.sent.clear()
    clash = ServiceIntent(3, 103, POINT_TO_POINT, 10, (tagged(1, 10, 21), tagged(5, None)))
    result = installer.apply(clash)
    assert not result.ok and "clashes" in result.error and installer.channel.sent == []
