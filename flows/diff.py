"""What to change on a switch to turn its actual tables into the desired ones.

One function, `plan`, used both for provisioning (actual = what we last
confirmed on the switch) and for reconciliation (actual = what the switch
reports), and the one normaliser of every batch: each change once, in one
fixed order. Entries that are already right are never touched, so correct
rules do not flap. Make before break: meters and groups first (flows point
at them), new flows before stale ones go (a changed path never has a gap),
groups and meters deleted last (deleting one in OVS also deletes the flows
that use it). Pure: `apps/reconcile.py` turns each `Op` into OpenFlow bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from flows.rules import Flow, Group, Meter, SwitchTables

EMPTY = SwitchTables(frozenset(), frozenset(), frozenset())


@dataclass(frozen=True)
class Op:
    """One change: `kind` names the OpenFlow message, `value` is the rule it carries.

    A changed flow comes as `flow_add`, which replaces the entry of its
    identity whole (cookie included, which MODIFY cannot change); a stale one
    goes by `flow_delete` (strict), or with its whole service by
    `flows_delete_cookie` (value: the cookie). Groups and meters are named
    by id and changed in place with `*_modify`.
    """

    kind: str  # meter_add meter_modify group_add group_modify flow_add flow_delete
    #            flows_delete_cookie group_delete meter_delete
    value: Flow | Group | Meter | int


def flow_identity(flow: Flow) -> tuple:
    """What names a flow on a switch: OpenFlow's strict (table, priority, match).

    An ADD with the same identity replaces the entry.
    """
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
    wanted_keys = {flow_identity(f) for f in desired.flows}
    stale = [f for f in actual.flows if flow_identity(f) not in wanted_keys]
    # A service gone entirely from this switch leaves with one delete-by-cookie.
    kept_cookies = {f.cookie for f in desired.flows} | {f.cookie for f in actual.flows
                                                        if flow_identity(f) in wanted_keys}
    gone = {f.cookie for f in stale} - kept_cookies
    ops.extend(Op("flows_delete_cookie", c) for c in sorted(gone))
    ops.extend(Op("flow_delete", f) for f in sorted(stale) if f.cookie not in gone)
    ops.extend(Op("group_delete", have_g[g]) for g in sorted(have_g.keys() - want_g.keys()))
    ops.extend(Op("meter_delete", have_m[m]) for m in sorted(have_m.keys() - want_m.keys()))
    return ops
