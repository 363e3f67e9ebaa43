"""The OpenFlow messages of a plan: each `flows.diff.Op` as bytes.

What to change and in which order is decided once, in `flows.diff.plan`;
this module only encodes (`apps/ofwire.py`) and names the changes.
"""

from __future__ import annotations

from collections.abc import Iterator

from apps import ofwire
from flows.diff import Op
from flows.rules import Flow, Group, Meter


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
