"""Operational state from the Ryu apps (switches, links) and what is built on it:
the topology view, degraded services, and the counts for /metrics."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, insert, select

from controller.capacity import link_id, reserved_by_link
from controller.model import ACTIVE, DEGRADED, REMOVED, Actor
from controller.schema import interfaces, members, network_down, offers, parties, services
from controller.workflow.context import Context, record
from controller.workflow.views import is_degraded, members_of
from topology.model import PortRef


def reset_network_status(ctx: Context) -> None:
    """At start (or taking over as leader): nothing is known to be down; the
    switches have yet to connect, or to be seen disconnecting by this instance."""
    with ctx.lock, ctx.store.transaction() as conn:
        conn.execute(delete(network_down))
        ctx.reset_down()


def set_switch_connected(ctx: Context, name: str, connected: bool) -> None:
    """A switch is down only once it was seen to disconnect, so a fresh start
    does not mark every service degraded before the switches reconnect."""
    if name not in ctx.topology.switches:
        return
    (ctx.connected.add if connected else ctx.connected.discard)(name)
    _set_down(ctx, "switch", name, not connected, "switch_up" if connected else "switch_down",
              switch=name)


def set_link_up(ctx: Context, end: PortRef, up: bool) -> None:
    link = ctx.topology.link_at(end)
    if link is None:
        return
    _set_down(ctx, "link", link_id(link), not up, "link_up" if up else "link_down",
              link=f"{link.a}-{link.b}")


def _set_down(ctx: Context, kind: str, name: str, down: bool, action: str,
              **detail: str) -> None:
    """Record a change of a switch or link, in memory and for the API workers
    (and the standby instances: only the leader records them)."""
    if ctx.follows_network:
        return
    known = ctx.network_down()[0 if kind == "switch" else 1]
    if (name in known) == down:
        return
    (known.add if down else known.discard)(name)
    with ctx.lock, ctx.store.transaction() as conn:
        if down:
            conn.execute(insert(network_down).values(kind=kind, name=name))
        else:
            conn.execute(delete(network_down).where(network_down.c.kind == kind,
                                                    network_down.c.name == name))
        record(conn, ctx, "system", action, **detail)


def topology_view(ctx: Context, actor: Actor) -> dict[str, Any]:
    topo = ctx.topology
    with ctx.store.read() as conn:
        reserved = reserved_by_link(conn)
        rows = conn.execute(select(interfaces, parties.c.name.label("party")).join(
            parties, parties.c.id == interfaces.c.party_id)).mappings().all()
        down_links = ctx.network_down(conn)[1]
    on_port = {PortRef(r["switch"], r["port"]): r for r in rows}
    edge = sorted(set(on_port) | {h.edge_port for h in topo.hosts.values()})
    return {
        "switches": [{"name": s.name, "dpid": s.dpid, "role": s.role,
                      "connected": s.name in ctx.connected}
                     for s in topo.switches.values()],
        "links": [{"ends": [str(link.a), str(link.b)], "capacity_mbps": link.capacity_mbps,
                   "reserved_mbps": reserved.get(link_id(link), 0),
                   "up": link_id(link) not in down_links}
                  for link in topo.links],
        "edge_ports": [{"switch": p.switch, "port": p.port,
                        "interface": _interface_on(on_port.get(p), actor)} for p in edge],
    }


def _interface_on(row: Any, actor: Actor) -> dict[str, str] | None:
    """A party sees its own interfaces on the map; the provider sees all."""
    if row is None or not (actor.is_admin or row["party_id"] == actor.party_id):
        return None
    return {"party": row["party"], "name": row["name"], "mac": row["mac"]}


def stats(ctx: Context) -> dict[str, Any]:
    with ctx.store.read() as conn:
        by_state = dict(conn.execute(select(services.c.state, func.count())
                                     .group_by(services.c.state)).all())
        down = ctx.network_down(conn)
        if down[0] or down[1]:  # only then can an active one be degraded
            active = conn.execute(select(services).where(
                services.c.state == ACTIVE)).mappings().all()
            found = members_of(conn, [s["id"] for s in active])
            degraded = sum(1 for s in active if is_degraded(ctx, found[s["id"]], down))
            by_state[ACTIVE] = by_state.get(ACTIVE, 0) - degraded
            by_state[DEGRADED] = degraded
            by_state = {state: n for state, n in by_state.items() if n}
        offer_states = dict(conn.execute(select(offers.c.state, func.count())
                                         .group_by(offers.c.state)).all())
        member_states = dict(conn.execute(select(members.c.state, func.count())
                                          .where(members.c.state != REMOVED)
                                          .group_by(members.c.state)).all())
        party_count = conn.execute(select(func.count()).select_from(parties)).scalar_one()
    return {"services": by_state, "offers": offer_states, "members": member_states,
            "parties": party_count, "switches_connected": len(ctx.connected)}
