"""Ryu app run by bench/install_rate.py: times the provisioner on one real switch.

Phases, once the switch connects: acceptance latency (one `apply` per new
service, barrier-confirmed), then a bulk reconciliation of MS_BENCH_SERVICES
services onto the emptied switch. Writes the figures as JSON to MS_BENCH_OUT.
"""

from __future__ import annotations

import json
import os
import statistics
import time

from ryu.base import app_manager
from ryu.controller import ofp_event
from ryu.controller.handler import MAIN_DISPATCHER, set_ev_cls
from ryu.lib import hub
from ryu.ofproto import ofproto_v1_3

from apps.channel import Channel, ChannelReplies
from apps.installer import Installer
from bench.workload import SWITCH, bench_topology, p2p
from flows.compiler import compile_switch
from flows.diff import plan
from flows.intent import POINT_TO_POINT, ServiceIntent
from flows.rules import SwitchTables

APPLY_SAMPLES = 100


class InstallBench(ChannelReplies, app_manager.RyuApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.channel = Channel()
        self.topology = bench_topology()
        count = int(os.environ["MS_BENCH_SERVICES"])
        self.bulk = [p2p(i) for i in range(1, count + 1)]

    @set_ev_cls(ofp_event.EventOFPStateChange, MAIN_DISPATCHER)
    def state_change_handler(self, ev) -> None:
        hub.spawn(self._measure, ev.datapath)

    def _installer(self, intents: list[ServiceIntent]) -> Installer:
        return Installer(self.topology, self.channel, lambda: intents)

    def _batch(self, datapath, ops) -> float:
        """Seconds to send `ops` and get the barrier back, as `apply` does."""
        start = time.perf_counter()
        barrier_xid, waiter = self.channel.send_batch(datapath, ops)
        errors, _ = self.channel.wait_batch(datapath, barrier_xid, waiter, len(ops), 60)
        assert not errors, errors[:3]
        return time.perf_counter() - start

    def _flows_only(self, datapath, desired: SwitchTables, runs: int = 3) -> float:
        """The baseline's job: every flow onto a switch that has the groups and meters
        (median of `runs`, as for the baseline)."""
        no_flows = SwitchTables(frozenset(), desired.groups, desired.meters)
        times = []
        for _ in range(runs):
            self._batch(datapath, plan(desired, no_flows))
            hub.sleep(1)  # let the flow-removed messages of the deletion drain
            times.append(self._batch(datapath, plan(no_flows, desired)))
        return statistics.median(times)

    def _measure(self, datapath) -> None:
        small = self._installer([])
        small.switch_connected(SWITCH, datapath)
        assert small.reconcile(SWITCH) is None
        apply_ms, remove_ms = [], []
        for i in range(1, APPLY_SAMPLES + 1):
            start = time.perf_counter()
            assert small.apply(p2p(i)).ok
            apply_ms.append((time.perf_counter() - start) * 1000)
        for i in range(1, APPLY_SAMPLES + 1):
            start = time.perf_counter()
            assert small.apply(ServiceIntent(i, i, POINT_TO_POINT, 100, ())).ok
            remove_ms.append((time.perf_counter() - start) * 1000)
        bulk = self._installer(self.bulk)
        bulk.switch_connected(SWITCH, datapath)
        start = time.perf_counter()
        bulk.state  # noqa: B018 -- compiled once at start-up, not per switch that connects
        compile_s = time.perf_counter() - start
        desired = compile_switch(self.topology, self.bulk, SWITCH)
        start = time.perf_counter()
        error = bulk.reconcile(SWITCH)
        total_s = time.perf_counter() - start
        flows_s = self._flows_only(datapath, desired)
        result = {
            "flows_only_s": flows_s,
            "error": error, "flows": len(desired.flows), "groups": len(desired.groups),
            "meters": len(desired.meters), "compile_s": compile_s, "total_s": total_s,
            "apply_ms_p50": statistics.median(apply_ms),
            "apply_ms_p95": statistics.quantiles(apply_ms, n=20)[18],
            "remove_ms_p50": statistics.median(remove_ms),
        }
        self.logger.info("bench result: %s", result)
        with open(os.environ["MS_BENCH_OUT"], "w") as out:
            json.dump(result, out)
