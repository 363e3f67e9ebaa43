"""Ryu's parsed multipart replies back into the compiler's rule values.

Reconciliation compares what a switch holds with what the compiler wants as
sets of `Flow`/`Group`/`Meter`, so the switch's tables must read back in
exactly the canonical form the compiler writes (sorted match fields,
lower-case MACs, plain VLAN ids in set-field actions). Duck-typed on Ryu's
attribute names, so it stays importable and testable without a switch.
"""

from __future__ import annotations

import struct

from apps import ofwire
from flows.rules import Action, Flow, Group, Meter

OFPVID_PRESENT = 0x1000
_OFPIT_GOTO_TABLE, _OFPIT_APPLY_ACTIONS, _OFPIT_METER = 1, 4, 6
_OFPMBT_DROP = 1
_PLAIN_BUCKET = (0, ofwire.OFPP_ANY, ofwire.OFPG_ANY)  # weight 0, nothing watched


def _canonical(value: object) -> object:
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, tuple):
        return tuple(_canonical(v) for v in value)
    return value


def match_value(ofp_match: object) -> tuple:
    """A Ryu `OFPMatch` as a canonical `Match`."""
    return tuple(sorted((k, _canonical(v)) for k, v in ofp_match.items()))


def action_value(action: object) -> Action:
    """One Ryu action object as a rule action tuple."""
    kind = type(action).__name__
    if kind == "OFPActionOutput":
        return ("output", action.port)
    if kind == "OFPActionGroup":
        return ("group", action.group_id)
    if kind == "OFPActionPushVlan":
        return ("push_vlan",)
    if kind == "OFPActionPopVlan":
        return ("pop_vlan",)
    if kind == "OFPActionSetField" and action.key == "vlan_vid":
        return ("set_vlan_vid", action.value & ~OFPVID_PRESENT)
    return ("unknown", kind)  # never equal to a compiled action, so reconciled away


def flow_value(stats: object) -> Flow:
    """An `OFPFlowStats` entry (or a `FlowStatsEntry`, decoded already) as a `Flow`.

    Flags and timeouts are not part of a `Flow`: an entry whose flags or
    timeouts differ from what the installer sets reads back with a marker
    action, so it never equals the compiled flow and is replaced."""
    if isinstance(stats, FlowStatsEntry):
        return stats.flow
    actions: tuple[Action, ...] = ()
    goto = meter = None
    for inst in stats.instructions:
        if inst.type == _OFPIT_APPLY_ACTIONS:
            actions = tuple(action_value(a) for a in inst.actions)
        elif inst.type == _OFPIT_GOTO_TABLE:
            goto = inst.table_id
        elif inst.type == _OFPIT_METER:
            meter = inst.meter_id
        else:
            actions += (("unknown-instruction", inst.type),)
    if (stats.flags, stats.idle_timeout, stats.hard_timeout) != (ofwire.OFPFF_SEND_FLOW_REM, 0, 0):
        actions += (("unknown-flags", stats.flags, stats.idle_timeout, stats.hard_timeout),)
    return Flow(table=stats.table_id, priority=stats.priority,
                match=match_value(stats.match), actions=actions,
                goto=goto, meter=meter, cookie=stats.cookie)


class FlowStatsEntry:
    """A flow-stats reply entry decoded straight from the wire into a `Flow`.

    Why: Ryu's `OFPFlowStats.parser` builds an object tree per flow (~70 µs);
    a switch with tens of thousands of flows then takes seconds of the
    controller's one thread at every read-back (restart, reconnect, audit).
    The launcher installs this as the body class of Ryu's flow-stats reply;
    it gives the same `Flow` as `flow_value` of Ryu's own parse (a test checks
    both on every compiled flow)."""

    __slots__ = ("flow", "length")

    def __init__(self, flow: Flow, length: int) -> None:
        self.flow, self.length = flow, length

    @classmethod
    def parser(cls, buf: bytes, offset: int) -> FlowStatsEntry:
        (length, table, priority, idle, hard, flags,
         cookie) = _FLOW_STATS.unpack_from(buf, offset)
        end = offset + length
        offset += _FLOW_STATS.size
        match_length = _TYPE_LEN.unpack_from(buf, offset)[1]
        match = tuple(sorted(_oxm_fields(buf, offset + 4, offset + match_length)))
        offset += (match_length + 7) // 8 * 8
        actions: tuple[Action, ...] = ()
        goto = meter = None
        while offset < end:
            kind, size = _TYPE_LEN.unpack_from(buf, offset)
            if kind == _OFPIT_APPLY_ACTIONS:
                actions = _actions(buf, offset + 8, offset + size)
            elif kind == _OFPIT_GOTO_TABLE:
                goto = buf[offset + 4]
            elif kind == _OFPIT_METER:
                meter = _U32.unpack_from(buf, offset + 4)[0]
            else:
                actions += (("unknown-instruction", kind),)
            offset += size
        if (flags, idle, hard) != (ofwire.OFPFF_SEND_FLOW_REM, 0, 0):
            actions += (("unknown-flags", flags, idle, hard),)
        return cls(Flow(table=table, priority=priority, match=match, actions=actions,
                        goto=goto, meter=meter, cookie=cookie), length)


_FLOW_STATS = struct.Struct("!HB9xHHHH4xQ16x")  # ofp_flow_stats up to its match
_TYPE_LEN = struct.Struct("!HH")
_U32 = struct.Struct("!I")
_OXM_NAMES = {0: "in_port", 3: "eth_dst", 4: "eth_src", 5: "eth_type", 6: "vlan_vid"}


def _oxm_value(name: str, raw: bytes) -> object:
    if name in ("eth_dst", "eth_src"):
        return ":".join(f"{b:02x}" for b in raw)
    return int.from_bytes(raw, "big")


def _oxm_fields(buf: bytes, offset: int, end: int) -> list[tuple[str, object]]:
    """The OXM TLVs of a match, as Ryu's `OFPMatch.items()` names and values them
    (a field metroshare never sets keeps a name no compiled rule has)."""
    fields = []
    while offset + 4 <= end:
        header = _U32.unpack_from(buf, offset)[0]
        oxm_class, field, masked, size = header >> 16, header >> 9 & 0x7F, header >> 8 & 1, \
            header & 0xFF
        raw = bytes(buf[offset + 4:offset + 4 + size])
        name = _OXM_NAMES.get(field) if oxm_class == 0x8000 else None
        if name is None:
            fields.append((f"oxm-{oxm_class:#x}-{field}", raw.hex()))
        elif masked:
            half = size // 2
            fields.append((name, (_oxm_value(name, raw[:half]), _oxm_value(name, raw[half:]))))
        else:
            fields.append((name, _oxm_value(name, raw)))
        offset += 4 + size
    return fields


def _actions(buf: bytes, offset: int, end: int) -> tuple[Action, ...]:
    """Apply-actions as rule action tuples, as `action_value` gives them."""
    out: list[Action] = []
    while offset < end:
        kind, size = _TYPE_LEN.unpack_from(buf, offset)
        if kind == 0:
            out.append(("output", _U32.unpack_from(buf, offset + 4)[0]))
        elif kind == 17:
            out.append(("push_vlan",))
        elif kind == 18:
            out.append(("pop_vlan",))
        elif kind == 22:
            out.append(("group", _U32.unpack_from(buf, offset + 4)[0]))
        elif kind == 25:  # one OXM TLV, then padding to 8 bytes
            oxm_end = offset + 8 + (_U32.unpack_from(buf, offset + 4)[0] & 0xFF)
            fields = _oxm_fields(buf, offset + 4, oxm_end)
            if len(fields) == 1 and fields[0][0] == "vlan_vid" and isinstance(fields[0][1], int):
                out.append(("set_vlan_vid", fields[0][1] & ~OFPVID_PRESENT))
            else:
                out.append(("unknown", "OFPActionSetField"))
        else:
            out.append(("unknown", kind))
        offset += size
    return tuple(out)


def group_value(desc: object) -> Group:
    """An `OFPGroupDescStats` entry (or a `GroupDescEntry`, decoded already) as a
    `Group` (metroshare only uses ALL groups: another type, or a bucket with a
    weight or a watch, reads back as unequal)."""
    if isinstance(desc, GroupDescEntry):
        return desc.group
    return _group(desc.type, desc.group_id,
                  [(tuple(action_value(a) for a in b.actions),
                    (b.weight, b.watch_port, b.watch_group)) for b in desc.buckets])


def _group(kind: int, group_id: int, buckets: list[tuple[tuple[Action, ...], tuple]]) -> Group:
    """A group from its type, id and (actions, (weight, watch port, watch group)) buckets."""
    odd = [options for _, options in buckets if options != _PLAIN_BUCKET]
    actions = tuple(bucket for bucket, _ in buckets)
    if kind != ofwire.OFPGT_ALL or odd:
        actions += ((("unknown-group", kind, tuple(odd)),),)
    return Group(group_id=group_id, buckets=actions)


class GroupDescEntry:
    """A group-desc reply entry decoded straight from the wire into a `Group`.

    Why: as for `FlowStatsEntry`, Ryu builds an object per bucket and action;
    thousands of groups per switch made every read-back hold the controller's
    one thread for a large part of a second. The launcher installs this as the
    body class of Ryu's group-desc reply; it gives the same `Group` as
    `group_value` of Ryu's own parse (a test checks both)."""

    __slots__ = ("group", "length")

    def __init__(self, group: Group, length: int) -> None:
        self.group, self.length = group, length

    @classmethod
    def parser(cls, buf: bytes, offset: int) -> GroupDescEntry:
        length, kind, group_id = _GROUP_DESC.unpack_from(buf, offset)
        end, offset = offset + length, offset + _GROUP_DESC.size
        buckets = []
        while offset < end:
            size, weight, watch_port, watch_group = _BUCKET.unpack_from(buf, offset)
            buckets.append((_actions(buf, offset + _BUCKET.size, offset + size),
                            (weight, watch_port, watch_group)))
            offset += size
        return cls(_group(kind, group_id, buckets), length)


_GROUP_DESC = struct.Struct("!HBxI")    # ofp_group_desc_stats before its buckets
_BUCKET = struct.Struct("!HHII4x")      # ofp_bucket before its actions


def meter_value(config: object) -> Meter:
    """An `OFPMeterConfigStats` entry as a `Meter` (one DROP band in kb/s with a
    burst, or in packets/s with a burst for the packet-in cap: other flags, another
    band type or more bands read back as unequal)."""
    band = config.bands[0] if config.bands else None
    pktps = config.flags == ofwire.OFPMF_PKTPS | ofwire.OFPMF_BURST
    plain = ((pktps or config.flags == ofwire.OFPMF_KBPS | ofwire.OFPMF_BURST)
             and len(config.bands) == 1 and band.type == _OFPMBT_DROP)
    if not plain:
        return Meter(meter_id=config.meter_id, rate_kbps=-1, burst_kb=-1)
    return Meter(meter_id=config.meter_id, rate_kbps=band.rate, burst_kb=band.burst_size,
                 pktps=pktps)
