"""The provisioning boundary: the core decides what must exist, these do it.

Ethernet kinds are provisioned by an `EthernetProvisioner` (the Ryu side
implements it) given a service's whole desired state. Utility kinds are
provisioned by work orders: one per member, and fulfilling it provisions
the member.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import Connection, insert

from controller.model import ORDER_OPEN
from controller.schema import orders
from flows.intent import ServiceIntent
from topology.model import Topology

INSTALLED = "installed"


@dataclass(frozen=True)
class ProvisionResult:
    """What the switches did: `switches` maps a switch to "installed" or "failed: why".

    `elsewhere`: another controller instance (the leader) provisioned the change
    and recorded the outcome; there is nothing left to record here."""

    ok: bool
    switches: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    elsewhere: bool = False


class Pending(Protocol):
    def wait(self) -> ProvisionResult:
        """Block until the switches confirmed the change (or refused it)."""
        ...


class Settled:
    """A provisioning answer known at once."""

    def __init__(self, result: ProvisionResult) -> None:
        self.result = result

    def wait(self) -> ProvisionResult:
        return self.result


class EthernetProvisioner(Protocol):
    def submit(self, intent: ServiceIntent) -> Pending:
        """Start making the switches hold exactly `intent`, and return at once.

        Called under the core's lock right after the change committed, so the
        switches see changes in the order they were decided; no switch I/O
        happens here. `wait()` on the answer blocks until they confirmed.
        """
        ...


class NullProvisioner:
    """Reports success without touching a switch: for tests and runs without Ryu."""

    def __init__(self, topology: Topology | None = None) -> None:
        self.topology = topology

    def submit(self, intent: ServiceIntent) -> Settled:
        if self.topology is None or len(intent.members) < 2:
            return Settled(ProvisionResult(ok=True))
        subtree = self.topology.subtree(m.edge_port for m in intent.members)
        return Settled(ProvisionResult(
            ok=True, switches={s: INSTALLED for s in sorted(subtree.switches)}))


def issue_orders(conn: Connection, service_id: int, member_ids: Iterable[int], now: float) -> None:
    """The work-order provisioner: one open order per member for the provider."""
    rows = [{"service_id": service_id, "member_id": m, "state": ORDER_OPEN, "created_at": now}
            for m in member_ids]
    if rows:
        conn.execute(insert(orders), rows)
