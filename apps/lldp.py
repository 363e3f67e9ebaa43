"""LLDP probes that check the fiber links against the topology file.

Each switch sends a probe out of every fiber port naming itself (dpid) and
the port; the neighbour's rule hands it to the controller, which compares
the sender with what the topology file says is at the other end. The rule
is infrastructure of the declared pipeline (`flows.compiler.infrastructure`):
only untagged probes on fiber ports match it, through a meter, so customers
can neither reach the controller nor fake a link. Pure: frames are built and
parsed with `struct`.
"""

from __future__ import annotations

import struct

from flows.pipeline import ETH_TYPE_LLDP, LLDP_MAC
from topology.model import PortRef, Topology

_SOURCE_MAC = bytes.fromhex("0e0000000001")  # locally administered, never a member MAC


def _tlv(kind: int, value: bytes) -> bytes:
    return struct.pack("!H", kind << 9 | len(value)) + value


def probe(dpid: int, port: int) -> bytes:
    """An LLDP frame saying 'sent by switch `dpid` out of `port`'."""
    return (bytes.fromhex(LLDP_MAC.replace(":", "")) + _SOURCE_MAC
            + struct.pack("!H", ETH_TYPE_LLDP)
            + _tlv(1, b"\x07" + f"dpid:{dpid:016x}".encode())   # chassis id, locally assigned
            + _tlv(2, b"\x07" + str(port).encode())              # port id, locally assigned
            + _tlv(3, struct.pack("!H", 120))                    # time to live
            + _tlv(0, b""))


def parse_probe(frame: bytes) -> tuple[int, int] | None:
    """(dpid, port) of a metroshare probe, or None for any other frame."""
    if len(frame) < 14 or frame[12:14] != struct.pack("!H", ETH_TYPE_LLDP):
        return None
    values: dict[int, bytes] = {}
    offset = 14
    while offset + 2 <= len(frame):
        (head,) = struct.unpack_from("!H", frame, offset)
        kind, length = head >> 9, head & 0x1FF
        if kind == 0:
            break
        values[kind] = frame[offset + 2:offset + 2 + length]
        offset += 2 + length
    chassis, port = values.get(1, b""), values.get(2, b"")
    try:
        if chassis[:1] != b"\x07" or not chassis[1:].startswith(b"dpid:") or port[:1] != b"\x07":
            return None
        return int(chassis[6:], 16), int(port[1:])
    except ValueError:
        return None


def check(topology: Topology, at: PortRef, sender_dpid: int, sender_port: int) -> str | None:
    """None when the probe arrived where the topology file says; else the mismatch."""
    sender = topology.switch_by_dpid(sender_dpid)
    seen = f"{sender.name}:{sender_port}" if sender else f"dpid {sender_dpid:#x} port {sender_port}"
    link = topology.link_at(at)
    if link is None:
        return f"LLDP from {seen} arrived at {at}, which is not a fiber port in the topology"
    expected = link.b if link.a == at else link.a
    if sender is None or PortRef(sender.name, sender_port) != expected:
        return f"link mismatch at {at}: topology says {expected}, LLDP says {seen}"
    return None
