"""Many requests at once must never double-allocate a VLAN, an interface or a
point-to-point slot: 50 OS threads, 50 eventlet green threads (in a child
process, monkey-patched as under Ryu), and threads without the core's lock
so that the database alone must keep the invariants."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controller.core import ServiceCore
from controller.errors import ServiceError
from controller.model import ADMIN
from controller.store import open_store
from tests.unit.test_core_fixtures import check_invariants, ethernet_body, make_core, store_url

# Each test runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.usefixtures("core_engine")

ROOT = Path(__file__).resolve().parents[2]
OWNERS, ACCEPTORS, POOL = 10, 40, range(2, 8)


def _setup(core: ServiceCore) -> tuple[list[Callable[[], str]], Any]:
    """10 owners with a point-to-point service each, 4 offers per service; 50 jobs."""
    actors = []
    for i in range(OWNERS + ACCEPTORS):
        switch = f"acc{i % 4 + 1}"
        body = {"name": f"p{i}", "account": {
                    "status": "active", "service_kinds": ["ethernet-channel", "secure-bandwidth"],
                    "max_bandwidth_mbps": 1000, "max_channels": 5},
                "interfaces": [{"name": "a", "switch": switch, "port": 10 + 2 * i,
                                "mac": f"02:00:00:00:{i:02x}:01"},
                               {"name": "b", "switch": switch, "port": 11 + 2 * i,
                                "mac": f"02:00:00:00:{i:02x}:02"}]}
        actors.append(core.authenticate(core.create_party(ADMIN, body)["token"]))
    offers = []
    for k in range(OWNERS):
        service = core.create_service(actors[k], ethernet_body(f"s{k}", "a"))
        for j in range(4):
            acceptor = actors[OWNERS + 4 * k + j]
            offers.append((acceptor, core.create_offer(actors[k], service["id"],
                                                       {"party": acceptor.name})["id"]))

    def accept(actor: Any, offer_id: int) -> str:
        try:
            core.accept_offer(actor, offer_id, {"interface": "a"})
        except ServiceError as err:
            return err.code
        # A winner also starts a service of its own on its other interface at once.
        core.create_service(actor, ethernet_body("own", "b", "multipoint-to-multipoint",
                                                 kind="secure-bandwidth"))
        return "accepted"

    def create(actor: Any) -> str:
        try:
            core.create_service(actor, ethernet_body("again", "a"))  # its "a" is in use
        except ServiceError as err:
            return err.code
        return "created"

    jobs = [lambda a=a, o=o: accept(a, o) for a, o in offers]
    jobs += [lambda a=a: create(a) for a in actors[:OWNERS]]
    return jobs, actors


def _outcome(core: ServiceCore, results: list[str]) -> dict[str, Any]:
    services = core.list_services(ADMIN)
    p2p = [s for s in services if s["attributes"]["type"] == "point-to-point"]
    return {"results": dict(Counter(results)),
            "active": sorted(len(s["members"]) for s in p2p if s["state"] == "active"),
            "vlans": sorted(s["vlan"] for s in services if s["vlan"] is not None),
            "own_services": len(services) - len(p2p)}


def _check(outcome: dict[str, Any]) -> None:
    # Six VLANs: exactly six point-to-point services got their second member.
    assert outcome["results"].get("accepted") == len(POOL)
    assert outcome["active"] == [2] * len(POOL)
    assert outcome["vlans"] == list(POOL)
    # A loser finds its offer withdrawn (the service filled up before it), or full.
    assert set(outcome["results"]) <= {"accepted", "offer_not_pending", "point_to_point_full",
                                       "vlan_pool_exhausted", "interface_busy"}
    assert outcome["results"]["interface_busy"] == OWNERS
    assert outcome["own_services"] == len(POOL)


def _run_threads(core: ServiceCore, jobs: list[Callable[[], str]]) -> list[str]:
    results: list[str] = []
    barrier = threading.Barrier(len(jobs))

    def run(job: Callable[[], str]) -> None:
        barrier.wait()
        results.append(job())

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_fifty_os_threads(tmp_path: Path) -> None:
    core = make_core(tmp_path, pool=POOL)
    jobs, _ = _setup(core)
    _check(_outcome(core, _run_threads(core, jobs)))
    check_invariants(core, core._ctx.store)


def test_fifty_os_threads_without_the_lock(tmp_path: Path) -> None:
    """With a no-op lock, BEGIN IMMEDIATE and the unique indexes alone hold the line."""
    core = make_core(tmp_path, pool=POOL, lock=contextlib.nullcontext())
    jobs, _ = _setup(core)
    _check(_outcome(core, _run_threads(core, jobs)))
    check_invariants(core, core._ctx.store)


def green_main(db_dir: str, locked: bool) -> None:
    """Child process: eventlet-patched like Ryu, 50 green threads, a yielding provisioner."""
    import eventlet

    from controller.provisioning import ProvisionResult

    class SlowSwitches:
        def submit(self, intent: Any) -> SlowSwitches:
            return self

        def wait(self) -> ProvisionResult:
            eventlet.sleep(0.001)  # waiting for barrier replies lets others run
            return ProvisionResult(ok=True)

    lock = None if locked else contextlib.nullcontext()
    core = make_core(Path(db_dir), pool=POOL, lock=lock)
    core.set_provisioner("ethernet", SlowSwitches())
    jobs, _ = _setup(core)
    pool = eventlet.GreenPool(len(jobs))
    results = list(pool.imap(lambda job: job(), jobs))
    check_invariants(core, core._ctx.store)
    print(json.dumps(_outcome(core, results)))


@pytest.mark.parametrize("locked", [True, False])
def test_fifty_green_threads(tmp_path: Path, locked: bool) -> None:
    code = ("import eventlet; eventlet.monkey_patch(); "
            "from tests.unit.test_core_concurrency import green_main; "
            f"green_main({str(tmp_path)!r}, {locked})")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    _check(json.loads(done.stdout.strip().splitlines()[-1]))
    store = open_store(store_url(tmp_path))
    check_invariants(make_core(tmp_path, store=store), store)
