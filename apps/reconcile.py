"""The messages that turn a switch's actual tables into its desired tables.

One function, `plan`, used both for provisioning (actual = what we last
confirmed on the switch) and for reconciliation (actual = what the switch
reports). Entries that are already right are never touched, so correct
rules do not flap. Order matters and is fixed here, once: meters and groups
first (flows point at them), new flows before stale ones go (a changed path
never has a gap), groups and meters deleted last (deleting one in OVS also
deletes the flows that use it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from apps import ofwire
from flows.rules import Flow, Group, Meter, SwitchTables

EMPTY = SwitchTables(frozenset(), frozenset(), frozenset())


@dataclass(frozen=True)
class Op:
    """One change: `kind` names the OpenFlow message, `value` is the rule it carries."""

    kind: str  # meter_add meter_modify group_add group_modify flow_add flow_delete
    #            flows_delete_cookie group_delete meter_delete
    value: Flow | Group | Meter | int


def _key(flow: Flow) -> tuple:
    """What identifies a flow entry on a switch: an ADD with the same key replaces it."""
    return (flow.table, flow.priority, flow.match)


def _by_id(items: frozenset, attr: str) -> dict:
    return {getattr(i, attr): i for i in items}


def plan(actual: SwitchTables, desired: SwitchTables) -> list[Op]:
    """Ordered changes from `actual` to `desired`; empty when they are equal."""
    ops: list[Op] = []
    have_m, want_m = _by_id(actual.meters, "meter_id"), _by_id(desired.meters, "meter_id")
    have_g, want_g = _by_id(actual.groups, "group_id"), _by_id(desired.groups, "group_id")
    for mid, meter in sorted(want_m.items()):
        if mid not in have_m:
            ops.append(Op("meter_add", meter))
        elif have_m[mid] != meter:
            ops.append(Op("meter_modify", meter))
    for gid, group in sorted(want_g.items()):
        if gid not in have_g:
            ops.append(Op("group_add", group))
        elif have_g[gid] != group:
            ops.append(Op("group_modify", group))
    ops.extend(Op("flow_add", f) for f in sorted(desired.flows - actual.flows))
    wanted_keys = {_key(f) for f in desired.flows}
    stale = [f for f in actual.flows if _key(f) not in wanted_keys]
    # A service gone entirely from this switch leaves with one delete-by-cookie.
    kept_cookies = {f.cookie for f in desired.flows} | {f.cookie for f in actual.flows
                                                        if _key(f) in wanted_keys}
    gone = {f.cookie for f in stale} - kept_cookies
    ops.extend(Op("flows_delete_cookie", c) for c in sorted(gone))
    ops.extend(Op("flow_delete", f) for f in sorted(stale) if f.cookie not in gone)
    ops.extend(Op("group_delete", have_g[g]) for g in sorted(have_g.keys() - want_g.keys()))
    ops.extend(Op("meter_delete", have_m[m]) for m in sorted(have_m.keys() - want_m.keys()))
    return ops


def encode(op: Op, xid: int) -> bytes:
    """The OpenFlow message for one change."""
    kind, value = op.kind, op.value
    if kind == "flow_add":
        return ofwire.flow_add(value, xid)
    if kind == "flow_delete":
        return ofwire.flow_delete_strict(value, xid)
    if kind == "flows_delete_cookie":
        return ofwire.flows_delete_by_cookie(value, xid)
    if kind.startswith("group_"):
        command = {"group_add": ofwire.OFPGC_ADD, "group_modify": ofwire.OFPGC_MODIFY,
                   "group_delete": ofwire.OFPGC_DELETE}[kind]
        return ofwire.group_mod(value, command, xid)
    command = {"meter_add": ofwire.OFPMC_ADD, "meter_modify": ofwire.OFPMC_MODIFY,
               "meter_delete": ofwire.OFPMC_DELETE}[kind]
    return ofwire.meter_mod(value, command, xid)


def describe(op: Op) -> str:
    """A short human form of a change, for error messages and logs."""
    value = op.value
    if isinstance(value, Flow):
        return f"{op.kind} table={value.table} priority={value.priority} cookie={value.cookie:#x}"
    if isinstance(value, Group):
        return f"{op.kind} group_id={value.group_id}"
    if isinstance(value, Meter):
        return f"{op.kind} meter_id={value.meter_id}"
    return f"{op.kind} cookie={value:#x}"


def iter_encoded(ops: list[Op], first_xid: int) -> Iterator[tuple[int, Op, bytes]]:
    for i, op in enumerate(ops):
        xid = (first_xid + i) & 0xFFFFFFFF
        yield xid, op, encode(op, xid)
