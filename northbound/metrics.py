"""A tiny Prometheus registry that any module of the controller may feed.

Counters and histograms live in one process-wide registry so the Ryu apps
(which see flow-mods and barrier round trips) and the REST layer (which
sees errors) report through one `/metrics` page without importing each
other. Use:

    from northbound import metrics
    metrics.inc("flow_mods_sent", n)                 # counter, +n
    metrics.inc("api_errors", code="not_found")     # counter with labels
    metrics.observe("provisioning_seconds", 0.042)   # histogram sample

Every name is exported as `metroshare_<name>`; counters gain the `_total`
suffix. Gauges that describe current state (switches connected, services
and offers by state) are not stored here: `render` asks for them at scrape
time, so they can never go stale.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

PREFIX = "metroshare_"
# Seconds: provisioning is a barrier round trip per switch, milliseconds to seconds.
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
HELP = {
    "switches_connected": "Switches of the topology connected to the controller.",
    "parties": "Parties registered.",
    "services": "Services by state.",
    "offers": "Offers by state.",
    "members": "Service members by state (failed: provisioning failed).",
    "flow_mods_sent": "OpenFlow flow-mod messages sent to switches.",
    "api_errors": "API requests refused, by error code.",
    "provisioning_seconds": "Time to provision one service change, barrier confirmed.",
}

# Exported from the start (at zero) so dashboards and alerts see them before the first sample.
COUNTERS = ("flow_mods_sent",)
HISTOGRAMS = ("provisioning_seconds",)

Labels = tuple[tuple[str, str], ...]


class _Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.count += 1
        self.sum += value
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1


class Registry:
    """Counters and histograms by name and label set; safe across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[Labels, float]] = {}
        self._histograms: dict[str, _Histogram] = {}
        self.clear()

    def inc(self, name: str, n: float = 1, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._counters.setdefault(name, {})
            series[key] = series.get(key, 0) + n

    def observe(self, name: str, value: float) -> None:
        with self._lock:
            hist = self._histograms.setdefault(name, _Histogram(DEFAULT_BUCKETS))
            hist.observe(value)

    def clear(self) -> None:
        """Back to zero: every sample forgotten (tests)."""
        with self._lock:
            self._counters = {name: {(): 0} for name in COUNTERS}
            self._histograms = {name: _Histogram(DEFAULT_BUCKETS) for name in HISTOGRAMS}

    def render(self, gauges: Mapping[str, Mapping[Labels, float]] | None = None) -> str:
        """Prometheus text format 0.0.4, with the scrape-time `gauges` first."""
        lines: list[str] = []
        for name, series in (gauges or {}).items():
            lines += _family(name, "gauge", series.items())
        with self._lock:
            for name, series in sorted(self._counters.items()):
                lines += _family(name + "_total", "counter", series.items(), HELP.get(name))
            for name, hist in sorted(self._histograms.items()):
                lines += _histogram(name, hist)
        return "\n".join(lines) + "\n"


def _family(
    name: str, kind: str, series: Iterable[tuple[Labels, float]], help_text: str | None = None
) -> list[str]:
    full = PREFIX + name
    lines = [f"# HELP {full} {help_text or HELP.get(name, name.replace('_', ' ') + '.')}",
             f"# TYPE {full} {kind}"]
    for labels, value in sorted(series):
        lines.append(f"{full}{_labels(labels)} {_number(value)}")
    return lines


def _histogram(name: str, hist: _Histogram) -> list[str]:
    full = PREFIX + name
    lines = [f"# HELP {full} {HELP.get(name, name.replace('_', ' ') + '.')}",
             f"# TYPE {full} histogram"]
    for bound, count in zip(hist.buckets, hist.counts, strict=True):
        lines.append(f'{full}_bucket{{le="{_number(bound)}"}} {count}')
    lines.append(f'{full}_bucket{{le="+Inf"}} {hist.count}')
    lines.append(f"{full}_sum {_number(hist.sum)}")
    lines.append(f"{full}_count {hist.count}")
    return lines


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    body = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels)
    return "{" + body + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


REGISTRY = Registry()
inc = REGISTRY.inc
observe = REGISTRY.observe
