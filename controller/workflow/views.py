"""JSON-ready views of the stored rows (the shapes of docs/core-api.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from controller.capacity import link_id
from controller.model import ACTIVE, DEGRADED, LIVE_MEMBER_STATES, REMOVED
from controller.schema import interfaces, members, offers, orders, parties, services
from controller.workflow.context import Context, Row
from topology.model import PortRef


def iso(at: float | None) -> str | None:
    if at is None:
        return None
    return datetime.fromtimestamp(at, tz=UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def interface_services(conn: Connection) -> dict[int, int]:
    """Interface id -> id of the live service it is used by."""
    query = select(members.c.interface_id, members.c.service_id).where(
        members.c.state.in_(LIVE_MEMBER_STATES))
    return dict(conn.execute(query).all())


def party_view(conn: Connection, party: Row) -> dict[str, Any]:
    in_use = interface_services(conn)
    ifaces = conn.execute(select(interfaces).where(interfaces.c.party_id == party["id"])
                          .order_by(interfaces.c.id)).mappings()
    return {
        "id": party["id"],
        "name": party["name"],
        "account": {"status": party["status"], "service_kinds": list(party["service_kinds"]),
                    "max_bandwidth_mbps": party["max_bandwidth_mbps"],
                    "max_channels": party["max_channels"]},
        "interfaces": [{"name": i["name"], "switch": i["switch"], "port": i["port"],
                        "mac": i["mac"], "location": i["location"],
                        "service": in_use.get(i["id"])} for i in ifaces],
        "created_at": iso(party["created_at"]),
    }


def member_rows(conn: Connection, service_id: int) -> list[Row]:
    """Members not removed, oldest first, with party name and interface."""
    query = (select(members, parties.c.name.label("party"),
                    interfaces.c.name.label("interface"), interfaces.c.switch,
                    interfaces.c.port, interfaces.c.mac)
             .join(parties, parties.c.id == members.c.party_id)
             .outerjoin(interfaces, interfaces.c.id == members.c.interface_id)
             .where(members.c.service_id == service_id, members.c.state != REMOVED)
             .order_by(members.c.id))
    return list(conn.execute(query).mappings())


def is_degraded(ctx: Context, rows: list[Row]) -> bool:
    """True while a switch or link the service's live members span is down."""
    ports = [PortRef(m["switch"], m["port"]) for m in rows if m["state"] in LIVE_MEMBER_STATES]
    # A topology edited since the interface was registered must not break a view.
    ports = [p for p in ports if ctx.topology.is_edge_port(p)]
    if not ports or not (ctx.down_switches or ctx.down_links):
        return False
    subtree = ctx.topology.subtree(ports)
    return bool(subtree.switches & ctx.down_switches
                or {link_id(link) for link in subtree.links} & ctx.down_links)


def shown_state(ctx: Context, service: Row, rows: list[Row]) -> str:
    if service["state"] == ACTIVE and is_degraded(ctx, rows):
        return DEGRADED
    return service["state"]


def owner_name(conn: Connection, owner_id: int) -> str:
    return conn.execute(select(parties.c.name).where(parties.c.id == owner_id)).scalar_one()


def service_view(conn: Connection, ctx: Context, service: Row) -> dict[str, Any]:
    rows = member_rows(conn, service["id"])
    return {
        "id": service["id"],
        "name": service["name"],
        "kind": service["kind"],
        "attributes": dict(service["attributes"]),
        "owner": owner_name(conn, service["owner_id"]),
        "state": shown_state(ctx, service, rows),
        "vlan": service["vlan"],
        "members": [{"party": m["party"], "interface": m["interface"], "role": m["role"],
                     "state": m["state"], "error": m["error"]} for m in rows],
        "provisioning": dict(service["provisioning"]),
        "created_at": iso(service["created_at"]),
    }


def offer_view(conn: Connection, offer: Row) -> dict[str, Any]:
    service = conn.execute(select(services.c.name, services.c.owner_id).where(
        services.c.id == offer["service_id"])).one()
    party = None
    if offer["party_id"] is not None:
        party = conn.execute(select(parties.c.name).where(
            parties.c.id == offer["party_id"])).scalar_one()
    return {
        "id": offer["id"],
        "service_id": offer["service_id"],
        "service_name": service.name,
        "owner": owner_name(conn, service.owner_id),
        "party": party,
        "invitation": offer["code_hash"] is not None,
        "state": offer["state"],
        "expires_at": iso(offer["expires_at"]),
        "created_at": iso(offer["created_at"]),
    }


def order_view(conn: Connection, order: Row) -> dict[str, Any]:
    query = (select(services.c.kind, services.c.attributes, parties.c.name)
             .join(members, members.c.service_id == services.c.id)
             .join(parties, parties.c.id == members.c.party_id)
             .where(members.c.id == order["member_id"]))
    kind, attributes, party = conn.execute(query).one()
    return {"id": order["id"], "service_id": order["service_id"], "party": party,
            "kind": kind, "attributes": dict(attributes), "state": order["state"],
            "created_at": iso(order["created_at"]), "fulfilled_at": iso(order["fulfilled_at"])}


def event_view(event: Row) -> dict[str, Any]:
    return {"id": event["id"], "at": iso(event["at"]), "actor": event["actor"],
            "action": event["action"], "service_id": event["service_id"],
            "party": event["party"], "detail": dict(event["detail"])}


def offer_row(conn: Connection, offer_id: int) -> Row | None:
    return conn.execute(select(offers).where(offers.c.id == offer_id)).mappings().first()


def order_row(conn: Connection, order_id: int) -> Row | None:
    return conn.execute(select(orders).where(orders.c.id == order_id)).mappings().first()
