"""What the service core asks the network for: the input of the flow compiler."""

from __future__ import annotations

from dataclasses import dataclass

from topology.model import PortRef

POINT_TO_POINT = "point-to-point"
POINT_TO_MULTIPOINT = "point-to-multipoint"
MULTIPOINT = "multipoint-to-multipoint"
ROLES = ("root", "leaf", "peer")


@dataclass(frozen=True, slots=True)
class MemberIntent:
    """A member whose frames must flow: its edge port, its MAC, its role and,
    when several services share the port, the customer VLAN that selects this one.

    `ce_vlan` None: the port-based (untagged) membership — untagged and
    priority-tagged (VID 0) frames; 1..4094: frames tagged with that VID, and
    the member receives its frames tagged with it (EVPL / EVP-LAN).
    """

    member_id: int
    party: str
    interface: str
    edge_port: PortRef
    mac: str          # lower-case "00:00:00:00:00:01"
    role: str         # root | leaf (point-to-multipoint), peer otherwise
    ce_vlan: int | None = None  # customer VLAN on the edge port; None: untagged


@dataclass(frozen=True, slots=True)
class ServiceIntent:
    """The desired network state of one ethernet service.

    `members` lists every member whose rules must be installed now; a
    service with fewer than two members needs no rules at all.
    """

    service_id: int
    vlan: int
    type: str         # POINT_TO_POINT | POINT_TO_MULTIPOINT | MULTIPOINT
    bandwidth_mbps: int
    members: tuple[MemberIntent, ...]
