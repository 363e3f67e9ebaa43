"""Benchmark: acceptance latency on the demo tree, through the REST API.

Each sample is one `POST /offers/{id}/accept`: the core's transaction, the
provisioner's compile + diff + send, and the barrier replies of every switch
on the path, until the HTTP response. Real controller, real Mininet.

    sudo .venv/bin/python -m bench.acceptance [--rounds 15]
"""

from __future__ import annotations

import argparse
import fcntl
import statistics
import tempfile
from pathlib import Path

from flows.intent import POINT_TO_POINT
from tests.conftest import NETWORK_LOCK
from tests.e2e.metro import create_service, running_metro

# One pair across the core (5 switches), one inside an aggregation subtree (3 switches).
PAIRS = (("h1", "h8"), ("h2", "h3"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    samples: list[float] = []
    with open(NETWORK_LOCK, "w") as lock, tempfile.TemporaryDirectory() as tmp:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with running_metro(Path(tmp)) as metro:
            for _ in range(args.rounds):
                for owner, other in PAIRS:
                    sid, took = create_service(metro.parties, POINT_TO_POINT, owner, [other])
                    samples += took
                    metro.parties[owner].call("DELETE", f"/services/{sid}")
    ms = sorted(t * 1000 for t in samples)
    p95 = statistics.quantiles(ms, n=20)[18]
    print(f"acceptance through REST on the demo tree, barrier-confirmed: n={len(ms)} "
          f"p50 {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms, max {ms[-1]:.1f} ms")


if __name__ == "__main__":
    main()
