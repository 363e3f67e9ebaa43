"""Ryu's parsed multipart replies back into the compiler's rule values.

Reconciliation compares what a switch holds with what the compiler wants as
sets of `Flow`/`Group`/`Meter`, so the switch's tables must read back in
exactly the canonical form the compiler writes (sorted match fields,
lower-case MACs, plain VLAN ids in set-field actions). Duck-typed on Ryu's
attribute names, so it stays importable and testable without a switch.
"""

from __future__ import annotations

from collections.abc import Iterable

from flows.rules import Action, Flow, Group, Meter, SwitchTables

OFPVID_PRESENT = 0x1000
_OFPIT_GOTO_TABLE, _OFPIT_APPLY_ACTIONS, _OFPIT_METER = 1, 4, 6


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
    """An `OFPFlowStats` entry as a `Flow`."""
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
    return Flow(table=stats.table_id, priority=stats.priority,
                match=match_value(stats.match), actions=actions,
                goto=goto, meter=meter, cookie=stats.cookie)


def group_value(desc: object) -> Group:
    """An `OFPGroupDescStats` entry as a `Group` (metroshare only uses ALL groups)."""
    buckets = tuple(tuple(action_value(a) for a in b.actions) for b in desc.buckets)
    return Group(group_id=desc.group_id, buckets=buckets)


def meter_value(config: object) -> Meter:
    """An `OFPMeterConfigStats` entry as a `Meter` (one DROP band)."""
    band = config.bands[0] if config.bands else None
    return Meter(meter_id=config.meter_id, rate_kbps=band.rate if band else 0,
                 burst_kb=band.burst_size if band else 0)


def tables_value(flows: Iterable[object], groups: Iterable[object],
                 meters: Iterable[object]) -> SwitchTables:
    return SwitchTables(flows=frozenset(flow_value(f) for f in flows),
                        groups=frozenset(group_value(g) for g in groups),
                        meters=frozenset(meter_value(m) for m in meters))
