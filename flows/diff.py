"""What to change on a switch to turn its actual tables into the desired ones.

Reconciliation reads a switch back, compiles the desired state and sends
`diff(actual, desired)`: rules that are already right are not touched, so a
reconnect never makes correct traffic flap. Every batch goes through
`normalise`, the one place that orders changes so a switch accepts them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flows.rules import Flow, Group, Meter, SwitchTables

ADD, MODIFY, DELETE = "add", "modify", "delete"


@dataclass(frozen=True)
class Change:
    """One message to send: add, modify (same id, new content) or delete.

    A flow is identified by (table, priority, match): delete it strictly; a
    changed flow comes as an ADD, which replaces the entry of that identity.
    Groups and meters are identified by id and changed with MODIFY.
    """

    op: str
    item: Flow | Group | Meter


def flow_identity(flow: Flow) -> tuple:
    """What names a flow on a switch: OpenFlow's strict (table, priority, match)."""
    return (flow.table, flow.priority, flow.match)


def diff(actual: SwitchTables, desired: SwitchTables) -> tuple[Change, ...]:
    """The normalised changes that make `actual` equal to `desired`."""
    changes: list[Change] = []
    have = {flow_identity(f): f for f in actual.flows}
    want = {flow_identity(f): f for f in desired.flows}
    changes += [Change(DELETE, f) for key, f in have.items() if key not in want]
    # An ADD whose identity is already on the switch replaces that entry whole
    # (cookie included, which MODIFY cannot change), with no gap in between.
    changes += [Change(ADD, f) for key, f in want.items() if have.get(key) != f]
    changes += _diff_by_id({g.group_id: g for g in actual.groups},
                           {g.group_id: g for g in desired.groups})
    changes += _diff_by_id({m.meter_id: m for m in actual.meters},
                           {m.meter_id: m for m in desired.meters})
    return normalise(changes)


def _diff_by_id(have: dict[int, Group | Meter], want: dict[int, Group | Meter]) -> list[Change]:
    changes = [Change(DELETE, item) for key, item in have.items() if key not in want]
    for key, item in want.items():
        if key not in have:
            changes.append(Change(ADD, item))
        elif have[key] != item:
            changes.append(Change(MODIFY, item))
    return changes


def _phase(change: Change) -> int:
    """Deletes first (flows before what they use), then meters and groups, then flows."""
    kind = type(change.item)
    if change.op == DELETE:
        return 0 if kind is Flow else 1
    return {Meter: 2, Group: 3, Flow: 4}[kind]


def normalise(changes: Iterable[Change]) -> tuple[Change, ...]:
    """Drop duplicates and order a batch: deletes before adds, referents before users."""
    return tuple(sorted(set(changes), key=lambda c: (_phase(c), c.op, repr(c.item))))
