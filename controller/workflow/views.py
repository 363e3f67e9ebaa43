"""JSON-ready views of the stored rows (the shapes of docs/core-api.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, select

from controller.capacity import link_id
from controller.errors import not_found
from controller.model import (
    ACTIVE,
    DEGRADED,
    HOLDING_MEMBER_STATES,
    LIVE_MEMBER_STATES,
    LIVE_SERVICE_STATES,
    REMOVED,
    SUSPENDED,
)
from controller.schema import interfaces, members, offers, orders, parties, services
from controller.workflow.context import Context, Row
from topology.model import PortRef


def iso(at: float | None) -> str | None:
    if at is None:
        return None
    return datetime.fromtimestamp(at, tz=UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def party_views(conn: Connection, rows: list[Row]) -> list[dict[str, Any]]:
    """Views of `rows`: one query for all their interfaces and the services using them."""
    if not rows:
        return []
    query = (select(interfaces, members.c.service_id, members.c.ce_vlan)
             .outerjoin(members, and_(members.c.interface_id == interfaces.c.id,
                                      members.c.state.in_(HOLDING_MEMBER_STATES)))
             .where(interfaces.c.party_id.in_([p["id"] for p in rows]))
             .order_by(interfaces.c.id, members.c.ce_vlan))
    owned: dict[int, list[dict[str, Any]]] = {p["id"]: [] for p in rows}
    seen: dict[int, dict[str, Any]] = {}
    for i in conn.execute(query).mappings():
        # One row per service holding the interface (untagged first), or one without.
        view = seen.get(i["id"])
        if view is None:
            view = seen[i["id"]] = {"name": i["name"], "switch": i["switch"], "port": i["port"],
                                    "mac": i["mac"], "location": i["location"],
                                    "service": None, "services": []}
            owned[i["party_id"]].append(view)
        if i["service_id"] is not None:
            view["services"].append({"id": i["service_id"], "ce_vlan": i["ce_vlan"] or None})
            if not i["ce_vlan"]:
                view["service"] = i["service_id"]
    return [{
        "id": party["id"],
        "name": party["name"],
        "account": {"status": party["status"], "service_kinds": list(party["service_kinds"]),
                    "max_bandwidth_mbps": party["max_bandwidth_mbps"],
                    "max_channels": party["max_channels"]},
        "interfaces": owned[party["id"]],
        "created_at": iso(party["created_at"]),
    } for party in rows]


def party_view(conn: Connection, party: Row) -> dict[str, Any]:
    return party_views(conn, [party])[0]


# Built once: the hottest statements are executed with parameters, not rebuilt
# (building and keying a statement costs more than SQLite running it).
# A member with its party's name and its interface (gone from a removed member
# whose party deleted it), oldest first: the rows of every member view and intent.
MEMBERS = (select(members, parties.c.name.label("party"),
                  interfaces.c.name.label("interface"), interfaces.c.switch,
                  interfaces.c.port, interfaces.c.mac)
           .join(parties, parties.c.id == members.c.party_id)
           .outerjoin(interfaces, interfaces.c.id == members.c.interface_id)
           .order_by(members.c.id))
_MEMBERS_OF = MEMBERS.where(members.c.service_id.in_(bindparam("ids", expanding=True)),
                            members.c.state != REMOVED)


def members_of(conn: Connection, service_ids: list[int]) -> dict[int, list[Row]]:
    """Each service's members not removed, oldest first, with party name and
    interface: one query however many services."""
    found: dict[int, list[Row]] = {service_id: [] for service_id in service_ids}
    if not service_ids:
        return found
    for row in conn.execute(_MEMBERS_OF, {"ids": list(service_ids)}).mappings():
        found[row["service_id"]].append(row)
    return found


def member_rows(conn: Connection, service_id: int) -> list[Row]:
    """Members not removed, oldest first, with party name and interface."""
    return members_of(conn, [service_id])[service_id]


# The service and its `member_rows` in one statement: a row per member (the
# service's columns repeated), or one without a member; member columns prefixed.
_MEMBER_COLUMNS = {f"m_{column.name}": column.name for column in MEMBERS.selected_columns}
_STATE = (select(services, *(column.label(f"m_{column.name}")
                             for column in MEMBERS.selected_columns))
          .select_from(services
                       .outerjoin(members, and_(members.c.service_id == services.c.id,
                                                members.c.state != REMOVED))
                       .outerjoin(parties, parties.c.id == members.c.party_id)
                       .outerjoin(interfaces, interfaces.c.id == members.c.interface_id))
          .where(services.c.id == bindparam("id"))
          .order_by(members.c.id))


def service_state(conn: Connection, service_id: int) -> tuple[Row, list[Row]]:
    """The service's row and its `member_rows`, read together (a round trip fewer
    wherever both are needed); 404 if there is no such service."""
    found = conn.execute(_STATE, {"id": service_id}).mappings().all()
    if not found:
        raise not_found("service", service_id)
    service = {column.name: found[0][column.name] for column in services.c}
    rows = [{name: row[key] for key, name in _MEMBER_COLUMNS.items()}
            for row in found if row["m_id"] is not None]
    return service, rows


def is_degraded(ctx: Context, rows: list[Row], down: tuple[set[str], set[str]]) -> bool:
    """True while a switch or link the service's live members span is down
    (`down`: `Context.network_down`)."""
    down_switches, down_links = down
    if not (down_switches or down_links):
        return False
    ports = [PortRef(m["switch"], m["port"]) for m in rows if m["state"] in LIVE_MEMBER_STATES]
    # A topology edited since the interface was registered must not break a view.
    ports = [p for p in ports if ctx.topology.is_edge_port(p)]
    if not ports:
        return False
    subtree = ctx.topology.subtree(ports)
    return bool(subtree.switches & down_switches
                or {link_id(link) for link in subtree.links} & down_links)


def shown_state(ctx: Context, service: Row, rows: list[Row],
                down: tuple[set[str], set[str]]) -> str:
    """`degraded` while a switch or link on the path is down, or a member's party is
    suspended (its rules are off the switches until it is resumed)."""
    if service["state"] == ACTIVE and is_degraded(ctx, rows, down):
        return DEGRADED
    if service["state"] in LIVE_SERVICE_STATES and any(m["state"] == SUSPENDED for m in rows):
        return DEGRADED
    return service["state"]


def party_names(conn: Connection, party_ids: set[int]) -> dict[int, str]:
    return dict(conn.execute(select(parties.c.id, parties.c.name).where(
        parties.c.id.in_(party_ids))).all())


def service_views(conn: Connection, ctx: Context, rows: list[Row],
                  found: dict[int, list[Row]] | None = None) -> list[dict[str, Any]]:
    """Views of `rows` in one query for all their members (none if the caller read
    them, `found`: `members_of` of the same services), and one more for the names
    of owners that are no longer members (torn-down services), if any."""
    if not rows:
        return []
    if found is None:
        found = members_of(conn, [s["id"] for s in rows])
    owners = {m["party_id"]: m["party"] for members_of_one in found.values()
              for m in members_of_one}
    missing = {s["owner_id"] for s in rows} - owners.keys()
    if missing:
        owners |= party_names(conn, missing)
    down = ctx.network_down(conn)
    return [{
        "id": service["id"],
        "name": service["name"],
        "kind": service["kind"],
        "attributes": dict(service["attributes"]),
        "owner": owners[service["owner_id"]],
        "state": shown_state(ctx, service, found[service["id"]], down),
        "vlan": service["vlan"],
        "members": [{"party": m["party"], "interface": m["interface"],
                     "ce_vlan": m["ce_vlan"] or None, "role": m["role"],
                     "state": m["state"], "error": m["error"]} for m in found[service["id"]]],
        "provisioning": dict(service["provisioning"]),
        "created_at": iso(service["created_at"]),
    } for service in rows]


def service_view(conn: Connection, ctx: Context, service: Row,
                 rows: list[Row] | None = None) -> dict[str, Any]:
    """`rows`: the service's `member_rows`, if the caller read them."""
    found = None if rows is None else {service["id"]: rows}
    return service_views(conn, ctx, [service], found)[0]


def preview_view(conn: Connection, ctx: Context, service: Row, rows: list[Row]
                 ) -> dict[str, Any]:
    """The service as its members see it, for the addressee of a pending offer of it:
    without where the others attach (interface, customer VLAN, an error that may
    name a port, the switches on the path), which a non-member has no need of.
    `rows`: its `member_rows`."""
    view = service_view(conn, ctx, service, rows)
    members_seen = [{**m, "interface": None, "ce_vlan": None, "error": None}
                    for m in view["members"]]
    return {**view, "members": members_seen, "provisioning": {}}


_OWNER, _ADDRESSEE = parties.alias("owner"), parties.alias("addressee")
# How many live members the offer's service has now (an index range per offer).
_LIVE_MEMBERS = (select(func.count()).select_from(members)
                 .where(members.c.service_id == offers.c.service_id,
                        members.c.state.in_(LIVE_MEMBER_STATES))
                 .correlate(offers).scalar_subquery())
# Offers with the names and the service their views show: a page of them is one query.
OFFER_ROWS = (select(offers, services.c.name.label("service_name"),
                     services.c.kind.label("service_kind"),
                     services.c.attributes.label("service_attributes"),
                     _LIVE_MEMBERS.label("service_members"),
                     _OWNER.c.name.label("owner"), _ADDRESSEE.c.name.label("party"))
              .join(services, services.c.id == offers.c.service_id)
              .join(_OWNER, _OWNER.c.id == services.c.owner_id)
              .outerjoin(_ADDRESSEE, _ADDRESSEE.c.id == offers.c.party_id))


def offer_fields(offer: Row) -> dict[str, Any]:
    """The view of a row of `OFFER_ROWS`."""
    return {
        "id": offer["id"],
        "service_id": offer["service_id"],
        "service_name": offer["service_name"],
        "owner": offer["owner"],
        "party": offer["party"],
        "invitation": offer["code_hash"] is not None,
        "state": offer["state"],
        "expires_at": iso(offer["expires_at"]),
        "created_at": iso(offer["created_at"]),
        "service": offered_service(offer),
    }


def offered_service(offer: Row) -> dict[str, Any]:
    """What an offer's addressee needs to judge it: the service in brief, its
    members as a count of the live ones (not who or where they are)."""
    return {"id": offer["service_id"], "name": offer["service_name"],
            "kind": offer["service_kind"], "attributes": dict(offer["service_attributes"]),
            "owner": offer["owner"], "members": offer["service_members"]}


def offer_view(conn: Connection, offer_id: int) -> dict[str, Any]:
    return offer_fields(conn.execute(OFFER_ROWS.where(
        offers.c.id == offer_id)).mappings().one())


# Work orders with their service's kind and attributes and their member's party.
ORDER_ROWS = (select(orders, services.c.kind, services.c.attributes,
                     parties.c.name.label("party"))
              .join(members, members.c.id == orders.c.member_id)
              .join(services, services.c.id == members.c.service_id)
              .join(parties, parties.c.id == members.c.party_id))


def order_fields(order: Row) -> dict[str, Any]:
    """The view of a row of `ORDER_ROWS`."""
    return {"id": order["id"], "service_id": order["service_id"], "party": order["party"],
            "kind": order["kind"], "attributes": dict(order["attributes"]),
            "state": order["state"], "created_at": iso(order["created_at"]),
            "fulfilled_at": iso(order["fulfilled_at"])}


def order_view(conn: Connection, order: Row) -> dict[str, Any]:
    return order_fields(conn.execute(ORDER_ROWS.where(
        orders.c.id == order["id"])).mappings().one())


def event_view(event: Row) -> dict[str, Any]:
    return {"id": event["id"], "at": iso(event["at"]), "actor": event["actor"],
            "action": event["action"], "service_id": event["service_id"],
            "party": event["party"], "detail": dict(event["detail"])}


def offer_row(conn: Connection, offer_id: int) -> Row | None:
    return conn.execute(select(offers).where(offers.c.id == offer_id)).mappings().first()


def order_row(conn: Connection, order_id: int) -> Row | None:
    return conn.execute(select(orders).where(orders.c.id == order_id)).mappings().first()
