"""The running demo tree: real controller process, real Mininet, parties p1..p8."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.metro import Metro, running_metro


@pytest.fixture
def metro(network_lock, tmp_path: Path) -> Iterator[Metro]:
    with running_metro(tmp_path) as world:
        yield world
