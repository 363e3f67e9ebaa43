"""API worker processes: reads answered without the controller's thread, changes
forwarded to it, and nothing left behind when the controller dies."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.harness import alive, running_controller

pytestmark = pytest.mark.timeout(60)


def workers_of(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children
            if b"northbound.worker" in Path(f"/proc/{c}/cmdline").read_bytes()]


def test_reads_need_no_controller_thread_and_changes_reach_it(tmp_path: Path) -> None:
    with running_controller(tmp_path) as controller:
        admin = controller.api()
        token = controller.party("acme", [("a1", "acc1", 3, "00:00:00:00:00:01")])
        acme = controller.api(token)
        assert len(workers_of(controller.proc.pid)) == 2
        os.kill(controller.proc.pid, signal.SIGSTOP)  # the controller's thread answers nothing
        try:
            for _ in range(10):  # new connections: whichever worker accepts answers
                controller.session.close()
                assert [p["name"] for p in admin.call("GET", "/parties")] == ["acme"]
                assert acme.call("GET", "/services") == []
        finally:
            os.kill(controller.proc.pid, signal.SIGCONT)
        created = acme.call("POST", "/services", {
            "name": "s1", "kind": "ethernet-channel", "interface": "a1",
            "attributes": {"type": "point-to-point", "bandwidth_mbps": 10}})
        assert [s["id"] for s in acme.call("GET", "/services")] == [created["id"]]
        assert controller.call("GET", "/healthz", None).json()["status"] == "ok"


def test_workers_die_with_the_controller_and_a_new_one_takes_the_port(tmp_path: Path) -> None:
    with running_controller(tmp_path) as controller:
        workers = workers_of(controller.proc.pid)
        assert workers
        controller.kill()
        deadline = time.monotonic() + 5
        while any(alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(alive(w) for w in workers)
        controller.start()  # same API port: free again
        assert controller.call("GET", "/healthz", None).status_code == 200
