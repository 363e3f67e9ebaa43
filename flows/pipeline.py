"""The OpenFlow pipeline, declared once: tables, their match fields, priority bands.

As in Faucet's valve_table, a flow can only be built through its table, which
refuses a match field or a goto it did not declare — a typo fails at compile
time instead of becoming a silent miss on the switch.
"""

from __future__ import annotations

from dataclasses import dataclass

from flows.rules import COOKIE_INFRA, Action, Flow, match_of

# Priority bands. Within a table the service bands never overlap in what they
# match, so one band per kind of rule is enough.
PRIORITY_MISS = 0        # table-miss: drop
PRIORITY_FLOOD = 1000    # forwarding by VLAN alone: the flood domain
PRIORITY_ACCEPT = 2000   # classification of an admitted frame
PRIORITY_UNICAST = 2000  # forwarding by VLAN + destination MAC
PRIORITY_GUARD = 2500    # a frame with two tags: dropped before classification
PRIORITY_PROBE = 3000    # an LLDP probe on a fiber port: to the controller (above all)

# The LLDP probes the controller sends out of every fiber port (apps/lldp.py)
# and the neighbour's rule hands back: untagged, to the nearest-bridge group.
LLDP_MAC = "01:80:c2:00:00:0e"
ETH_TYPE_LLDP = 0x88CC
# In OpenFlow 1.3 `eth_type` is the type after the outer tag, so a frame with
# a second tag (802.1Q or 802.1ad) shows one of these (OVS's default
# vlan-limit 1 parses only the outer tag).
ETH_TYPES_INNER_TAG = (0x8100, 0x88A8)
PROBE_INTERVAL_S = 5.0   # each switch probes every fiber port this often (apps/opstate.py)


@dataclass(frozen=True)
class Table:
    """One flow table: what it may match on and where it may go next."""

    table_id: int
    name: str
    match_fields: frozenset[str]
    next_tables: frozenset[int] = frozenset()

    def flow(
        self,
        priority: int,
        cookie: int,
        actions: tuple[Action, ...] = (),
        goto: Table | None = None,
        meter: int | None = None,
        **fields: object,
    ) -> Flow:
        """A flow of this table; raises ValueError on an undeclared field or goto."""
        if not fields.keys() <= self.match_fields:
            undeclared = sorted(fields.keys() - self.match_fields)
            raise ValueError(f"table {self.name} does not match on {undeclared}")
        if goto is not None and goto.table_id not in self.next_tables:
            raise ValueError(f"table {self.name} may not go to table {goto.name}")
        return Flow(
            table=self.table_id,
            priority=priority,
            match=match_of(fields),
            actions=actions,
            goto=None if goto is None else goto.table_id,
            meter=meter,
            cookie=cookie,
        )

    def miss(self) -> Flow:
        """The table-miss flow: drop, never send to the controller."""
        return self.flow(PRIORITY_MISS, COOKIE_INFRA)


# Frames from any port: drop double-tagged frames, admit member frames and
# service VLANs, hand untagged LLDP probes on fiber ports to the controller,
# drop the rest.
FORWARD_ID, TO_ROOT_ID = 1, 2
CLASSIFY = Table(
    0, "classify", frozenset({"in_port", "vlan_vid", "eth_src", "eth_type", "eth_dst"}),
    frozenset({FORWARD_ID, TO_ROOT_ID}),
)
# Admitted frames, by VLAN and destination: point-to-point, multipoint, and
# point-to-multipoint frames travelling away from the root.
FORWARD = Table(FORWARD_ID, "forward", frozenset({"vlan_vid", "eth_dst"}))
# Point-to-multipoint frames from leaves: they go towards the root only.
TO_ROOT = Table(TO_ROOT_ID, "to_root", frozenset({"vlan_vid"}))

TABLES = (CLASSIFY, FORWARD, TO_ROOT)
