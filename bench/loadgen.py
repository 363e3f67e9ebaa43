"""A cheap REST load generator for bench/scale.py: standard library only.

The machine has two cores and the controller needs one of them, so the client
must cost little: one keep-alive `http.client` connection per thread (no
`requests`), bodies read but not parsed where nothing in them is needed, and
the threads spread over a few processes (forked, so nothing is re-imported)
so that no single GIL is the limit. Every loop is bounded in count and in
time, and every connection goes to 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
import math
import multiprocessing
import queue
import re
import resource
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

API = "/api/v1"
HOST = "127.0.0.1"
REQUEST_TIMEOUT_S = 60
MAX_RETRY_AFTER_S = 1.0   # a 429 is honoured, but never for longer than this
IDLE_REOPEN_S = 30.0      # the API drops connections idle for 60 s (apps/rest.py)


@dataclass(frozen=True)
class Member:
    """One side of a point-to-point service: a party (name, token) and its interface."""

    party: str
    token: str
    interface: str


@dataclass(frozen=True)
class Pair:
    """The two interfaces a service joins: `a` creates and offers, `b` accepts."""

    a: Member
    b: Member


class Refused(Exception):
    """An answer other than the one the workload expects (the status says which)."""

    def __init__(self, what: str, status: int, body: bytes) -> None:
        super().__init__(f"{what} -> {status}: {body[:300].decode(errors='replace')}")
        self.key = f"{what} {status}"


class Client:
    """One keep-alive HTTP/1.1 connection to the API on 127.0.0.1, as one worker of a
    provider's integration would hold."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT_S)
        self.last_used = time.monotonic()

    def request(self, method: str, path: str, token: str | None = None,
                body: Any = None) -> tuple[int, bytes]:
        """(status, raw body); a broken connection is reopened for the next request."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        if time.monotonic() - self.last_used > IDLE_REOPEN_S:
            self.conn.close()  # reopened by the request, rather than found closed by it
        try:
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            raise
        finally:
            self.last_used = time.monotonic()
        if response.status == 429:  # CONTRACT §3: a client over its rate waits
            retry = response.getheader("Retry-After", "1")
            time.sleep(min(float(retry) if retry.replace(".", "", 1).isdigit() else 1.0,
                           MAX_RETRY_AFTER_S))
        return response.status, raw

    def call(self, method: str, path: str, token: str | None, body: Any = None,
             expect: int = 200) -> Any:
        """The JSON answer of an API call; anything but `expect` raises Refused."""
        status, raw = self.request(method, API + path, token, body)
        if status != expect:
            raise Refused(f"{method} {re.sub(r'/[0-9]+', '/{id}', path)}", status, raw)
        return json.loads(raw)

    def close(self) -> None:
        self.conn.close()


def cycle(client: Client, pair: Pair, name: str, delete: bool,
          steps: dict[str, list[float]] | None = None) -> tuple[float, float]:
    """create → offer → accept (→ delete): the seconds the acceptance took, and when
    (time.monotonic()) it was confirmed; each step's seconds go to `steps`.

    The acceptance returns once the switches have confirmed the rules (barriers),
    so its latency is the figure; the service must come back `active`. With
    `delete`, the service is torn down afterwards, also when a step failed."""
    took: dict[str, float] = {}

    def step(what: str, method: str, path: str, token: str, body: Any,
             expect: int = 200) -> Any:
        start = time.perf_counter()
        answer = client.call(method, path, token, body, expect)
        took[what] = time.perf_counter() - start
        return answer

    service = step("create", "POST", "/services", pair.a.token, {
        "name": name, "kind": "ethernet-channel", "interface": pair.a.interface,
        "attributes": {"type": "point-to-point", "bandwidth_mbps": 1}}, expect=201)
    try:
        offer = step("offer", "POST", f"/services/{service['id']}/offers", pair.a.token,
                     {"party": pair.b.party}, expect=201)
        accepted = step("accept", "POST", f"/offers/{offer['id']}/accept", pair.b.token,
                        {"interface": pair.b.interface})
        confirmed_at = time.monotonic()
        if accepted["service"]["state"] != "active":
            raise Refused(f"accepted, service {accepted['service']['state']}:", 200, b"")
        return took["accept"], confirmed_at
    finally:
        if delete:
            step("delete", "DELETE", f"/services/{service['id']}", pair.a.token, None)
        if steps is not None:
            for what, seconds in took.items():
                steps.setdefault(what, []).append(seconds)


# -- what one thread does --------------------------------------------------------


@dataclass
class Result:
    """What one thread did: latencies with their completion times, and refusals."""

    latencies: list[float] = field(default_factory=list)   # seconds
    done_at: list[float] = field(default_factory=list)     # time.monotonic() at completion
    errors: dict[str, int] = field(default_factory=dict)
    steps: dict[str, list[float]] = field(default_factory=dict)  # cycles: seconds per step
    cpu_s: float = 0.0                                      # of the whole process (once)

    def done(self, latency_and_time: tuple[float, float]) -> None:
        self.latencies.append(latency_and_time[0])
        self.done_at.append(latency_and_time[1])

    def error(self, key: str) -> None:
        self.errors[key] = self.errors.get(key, 0) + 1


def fill(client: Client, start_at: float, stop_at: float, jobs: list[tuple[Pair, str]],
         result: Result) -> None:
    """Bulk services that stay: one cycle without delete per job, until done or time."""
    for pair, name in jobs:
        if time.monotonic() >= stop_at:
            result.error("fill stopped: out of time")
            return
        try:
            result.done(cycle(client, pair, name, delete=False, steps=result.steps))
        except Refused as exc:
            result.error(exc.key)
        except (OSError, http.client.HTTPException) as exc:
            result.error(type(exc).__name__)


def churn(client: Client, start_at: float, stop_at: float, pair: Pair, prefix: str,
          max_cycles: int, result: Result) -> None:
    """create → offer → accept → delete in a loop on one pair of interfaces, so the
    number of live services stays where the fill left it."""
    for i in range(max_cycles):
        if time.monotonic() >= stop_at:
            return
        try:
            result.done(cycle(client, pair, f"{prefix}-{i}", delete=True, steps=result.steps))
        except Refused as exc:
            result.error(exc.key)
        except (OSError, http.client.HTTPException) as exc:
            result.error(type(exc).__name__)


def read(client: Client, start_at: float, stop_at: float, paths: list[str], token: str | None,
         max_reads: int, result: Result) -> None:
    """GET the paths in turn as one caller; the body is read, not parsed."""
    for i in range(max_reads):
        if time.monotonic() >= stop_at:
            return
        start = time.perf_counter()
        try:
            status, _ = client.request("GET", paths[i % len(paths)], token)
        except (OSError, http.client.HTTPException) as exc:
            result.error(type(exc).__name__)
            continue
        if status != 200:
            result.error(f"GET {paths[i % len(paths)]} {status}")
            continue
        result.done((time.perf_counter() - start, time.monotonic()))


# -- threads in processes -----------------------------------------------------------

Job = tuple[Callable[..., None], dict[str, Any]]   # a thread's function and its arguments


def _process(index: int, port: int, jobs: list[Job], start_at: float, stop_at: float,
             out: multiprocessing.Queue) -> None:
    """One client process: a thread per job, each with its own connection, all
    starting at `start_at`; then the results, and this process's CPU time."""
    # The parent stops this process (terminate) and handles Ctrl-C for the whole run.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    results = [Result() for _ in jobs]

    def thread(job: Job, result: Result) -> None:
        client = Client(port)
        try:
            client.conn.connect()
            time.sleep(max(0.0, start_at - time.monotonic()))
            job[0](client, start_at, stop_at, result=result, **job[1])
        except Exception as exc:  # reported, never hidden
            result.error(f"client crashed: {exc!r}")
        finally:
            client.close()

    threads = [threading.Thread(target=thread, args=(job, r), daemon=True)
               for job, r in zip(jobs, results, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    results[0].cpu_s = usage.ru_utime + usage.ru_stime
    out.put((index, results))


def run(port: int, processes: list[list[Job]], seconds: float,
        start_delay: float = 0.5) -> tuple[list[list[Result]], float]:
    """Runs every process's threads at once, for at most `seconds` once started.

    Returns the Results of each process's threads (in the order given) and the
    start time (time.monotonic()). The processes are forked, so the jobs need
    no pickling; they are killed on the way out whatever happens."""
    context = multiprocessing.get_context("fork")
    out: multiprocessing.Queue = context.Queue()
    start_at = time.monotonic() + start_delay
    stop_at = start_at + seconds
    procs = [context.Process(target=_process, args=(i, port, jobs, start_at, stop_at, out),
                             daemon=True) for i, jobs in enumerate(processes) if jobs]
    results: list[list[Result]] = [[] for _ in processes]
    try:
        for p in procs:
            p.start()
        for _ in procs:
            # Past the window, a request in flight has REQUEST_TIMEOUT_S to finish.
            wait = stop_at - time.monotonic() + REQUEST_TIMEOUT_S + 5
            index, reported = out.get(timeout=max(wait, 1.0))
            results[index] = reported
    except queue.Empty:
        raise RuntimeError("a client process did not report in time") from None
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join(timeout=5)
    return results, start_at


def split(items: list[Any], parts: int) -> list[list[Any]]:
    """`items` dealt round-robin into `parts` lists (some maybe empty)."""
    return [items[i::parts] for i in range(parts)]


# -- figures ------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


@dataclass
class Summary:
    """Completions per second inside the window, latency percentiles, refusals."""

    count: int
    rate: float
    p50_ms: float
    p99_ms: float
    errors: dict[str, int]
    cpu_s: float
    steps: dict[str, tuple[float, float]] = field(default_factory=dict)  # p50, p99 ms

    def line(self, unit: str) -> str:
        errors = ", ".join(f"{k} ×{v}" for k, v in sorted(self.errors.items())) or "none"
        steps = "".join(f"; {what} p50 {p50:.1f} / p99 {p99:.1f} ms"
                        for what, (p50, p99) in self.steps.items())
        return (f"{self.count} {unit}, {self.rate:.1f}/s, p50 {self.p50_ms:.1f} ms, "
                f"p99 {self.p99_ms:.1f} ms{steps}; client CPU {self.cpu_s:.1f} s; "
                f"refused: {errors}")


def summarize(results: list[Result], start_at: float, seconds: float) -> Summary:
    """Counts what completed inside [start_at, start_at + seconds]; latencies of all."""
    end = start_at + seconds
    latencies = [x for r in results for x in r.latencies]
    inside = sum(1 for r in results for t in r.done_at if start_at <= t <= end)
    errors: dict[str, int] = {}
    for r in results:
        for key, n in r.errors.items():
            errors[key] = errors.get(key, 0) + n
    steps: dict[str, list[float]] = {}
    for r in results:
        for what, took in r.steps.items():
            steps.setdefault(what, []).extend(took)
    return Summary(len(latencies), inside / seconds if seconds > 0 else math.nan,
                   percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000,
                   errors, sum(r.cpu_s for r in results),
                   {what: (percentile(v, 50) * 1000, percentile(v, 99) * 1000)
                    for what, v in steps.items()})
