"""Shared fixtures. Tests that touch Open vSwitch or Mininet take one lock,
so two runs on one machine never tear down each other's bridges."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import METRO_YAML, Controller, running_controller

NETWORK_LOCK = "/tmp/metroshare-network.lock"


@pytest.fixture(scope="session")
def metro_yaml() -> Path:
    return METRO_YAML


@pytest.fixture
def network_lock() -> Iterator[None]:
    """Exclusive use of OVS and Mininet on this machine for one test."""
    if os.geteuid() != 0 or not shutil.which("ovs-vsctl") or not shutil.which("mnexec"):
        pytest.fail("network tests need root, Open vSwitch and Mininet: run `make test`")
    with open(NETWORK_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture
def controller(tmp_path: Path) -> Iterator[Controller]:
    """The real controller on free ports, loaded with the demo tree."""
    with running_controller(tmp_path) as running:
        yield running
