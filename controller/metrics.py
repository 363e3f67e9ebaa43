"""The controller's Prometheus metrics, on one registry any layer may feed.

The Ryu apps (which see flow-mods, batches and barrier round trips) and the
REST layer (which sees errors) report through one `/metrics` page without
importing each other. The registry is ours, not prometheus_client's global
one, so tests can build apps again and again. Gauges that describe current
state (switches, parties, services, offers, members) are not stored: the
`StateGauges` collector asks at scrape time, so they never go stale. Use:

    from controller import metrics
    metrics.FLOW_MODS_SENT.inc(n)
    metrics.API_ERRORS.labels(code="not_found").inc()
    metrics.PROVISIONING_SECONDS.observe(0.042)
    metrics.BATCH_SIZE.observe(len(changes))
    metrics.QUEUE_DEPTH.set(len(waiting))
    metrics.BARRIER_SECONDS.labels(switch="agg1").observe(0.003)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from controller import model

# The page is the classic text format: no `_created` series beside each counter.
disable_created_metrics()
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds: provisioning is a barrier round trip per switch, milliseconds to seconds.
SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)

REGISTRY = CollectorRegistry()
FLOW_MODS_SENT = Counter(
    "metroshare_flow_mods_sent", "OpenFlow flow-mod messages sent to switches.",
    registry=REGISTRY)
API_ERRORS = Counter(
    "metroshare_api_errors", "API requests refused, by error code.", ["code"],
    registry=REGISTRY)
PROVISIONING_SECONDS = Histogram(
    "metroshare_provisioning_seconds", "Time to provision one service change, barrier confirmed.",
    buckets=SECONDS_BUCKETS, registry=REGISTRY)
BATCH_SIZE = Histogram(
    "metroshare_provisioning_batch_size",
    "Service changes carried by one per-switch provisioning round.",
    buckets=BATCH_BUCKETS, registry=REGISTRY)
QUEUE_DEPTH = Gauge(
    "metroshare_provisioning_queue_depth", "Service changes waiting for a provisioning round.",
    registry=REGISTRY)
BARRIER_SECONDS = Histogram(
    "metroshare_barrier_seconds",
    "Time from sending a batch to a switch to its barrier reply, by switch.", ["switch"],
    buckets=SECONDS_BUCKETS, registry=REGISTRY)
HUB_LAG = Histogram(
    "metroshare_hub_lag_seconds",
    "How late a 50 ms timer of the controller's green threads fires: time the one "
    "thread that answers the switches and the API spent busy elsewhere.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5), registry=REGISTRY)
LEADER = Gauge(
    "metroshare_leader", "1 while this controller is the leader of the cluster (a lone "
    "controller always is), else 0.", registry=REGISTRY)
LEADERSHIP_CHANGES = Counter(
    "metroshare_leadership_changes", "Times this controller became or stopped being the leader.",
    registry=REGISTRY)
GENERATION = Gauge(
    "metroshare_leader_generation", "The generation id this controller leads with (the "
    "OpenFlow role requests' generation_id); 0 while it stands by.", registry=REGISTRY)
LEADER.set(1)  # a lone controller; a cluster member starts as standby (controller.cluster)

# Every state is exported, zero included, so a dashboard sees a series from the start.
STATES = {
    "services": (model.PENDING, model.ACTIVE, model.DEGRADED, model.DELETED),
    "offers": model.OFFER_STATES,
    "members": (model.ACCEPTED, model.PROVISIONED, model.FAILED, model.LEAVING,
                model.SUSPENDED),
}
STATE_HELP = {
    "services": "Services by state.",
    "offers": "Offers by state.",
    "members": "Service members by state (failed: provisioning failed).",
}


class StateGauges(Collector):
    """The gauges of current state, read from the core's `stats()` at every scrape."""

    def __init__(self, stats: Callable[[], Mapping[str, Any]],
                 switches_connected: Callable[[], int]) -> None:
        self.stats = stats
        self.switches_connected = switches_connected

    def collect(self) -> Iterator[GaugeMetricFamily]:
        stats = self.stats()
        yield GaugeMetricFamily("metroshare_switches_connected",
                                "Switches of the topology connected to the controller.",
                                value=self.switches_connected())
        yield GaugeMetricFamily("metroshare_parties", "Parties registered.",
                                value=stats["parties"])
        for family, states in STATES.items():
            gauge = GaugeMetricFamily(f"metroshare_{family}", STATE_HELP[family],
                                      labels=["state"])
            for state, n in sorted((dict.fromkeys(states, 0) | stats[family]).items()):
                gauge.add_metric([state], n)
            yield gauge


class WebhookBacklog(Collector):
    """Webhook deliveries waiting, read from the outbox at every scrape: the delivery
    process has its own, so its counters would not reach this page; a backlog that
    keeps growing is a receiver that fails."""

    def __init__(self, backlog: Callable[[], int]) -> None:
        self.backlog = backlog

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("metroshare_webhook_backlog", "Webhook deliveries neither "
                                "made nor given up yet (each retried for an hour).",
                                value=self.backlog())


class _Page:
    """Several collectors read as one, in order (what `generate_latest` takes)."""

    def __init__(self, *collectors: Collector) -> None:
        self.collectors = collectors

    def collect(self) -> Iterator[Any]:
        for collector in self.collectors:
            yield from collector.collect()


def render(*scrape_time: Collector) -> str:
    """The /metrics page: the `scrape_time` collectors first, then REGISTRY."""
    return generate_latest(_Page(*scrape_time, REGISTRY)).decode()
