"""Ryu's parsed multipart replies back into the compiler's rule values.

Reconciliation compares what a switch holds with what the compiler wants as
sets of `Flow`/`Group`/`Meter`, so the switch's tables must read back in
exactly the canonical form the compiler writes (sorted match fields,
lower-case MACs, plain VLAN ids in set-field actions). Duck-typed on Ryu's
attribute names, so it stays importable and testable without a switch.
"""

from __future__ import annotations

from collections.abc import Iterable

from apps import ofwire
from flows.rules import Action, Flow, Group, Meter, SwitchTables

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
    """An `OFPFlowStats` entry as a `Flow`.

    Flags and timeouts are not part of a `Flow`: an entry whose flags or
    timeouts differ from what the installer sets reads back with a marker
    action, so it never equals the compiled flow and is replaced."""
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


def group_value(desc: object) -> Group:
    """An `OFPGroupDescStats` entry as a `Group` (metroshare only uses ALL groups:
    another type, or a bucket with a weight or a watch, reads back as unequal)."""
    buckets = tuple(tuple(action_value(a) for a in b.actions) for b in desc.buckets)
    odd = [(b.weight, b.watch_port, b.watch_group) for b in desc.buckets
           if (b.weight, b.watch_port, b.watch_group) != _PLAIN_BUCKET]
    if desc.type != ofwire.OFPGT_ALL or odd:
        buckets += ((("unknown-group", desc.type, tuple(odd)),),)
    return Group(group_id=desc.group_id, buckets=buckets)


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


def tables_value(flows: Iterable[object], groups: Iterable[object],
                 meters: Iterable[object]) -> SwitchTables:
    return SwitchTables(flows=frozenset(flow_value(f) for f in flows),
                        groups=frozenset(group_value(g) for g in groups),
                        meters=frozenset(meter_value(m) for m in meters))
