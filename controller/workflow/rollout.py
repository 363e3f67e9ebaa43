"""Bringing an ethernet service's members onto the switches, and back off.

The decision (a member is accepted, removed, or the service torn down) is
committed first; then the provisioner is called outside any transaction;
then a second transaction records what happened. A member whose rules could
not be installed becomes `failed`, with its error and without reservations,
and the switches are told again the state without it.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Connection, select, update

from controller import capacity
from controller.model import (
    ACCEPTED,
    ACTIVE,
    DELETED,
    ETHERNET_KINDS,
    FAILED,
    LIVE_MEMBER_STATES,
    PENDING,
    PROVISIONED,
    SECURE_BANDWIDTH,
)
from controller.provisioning import ProvisionResult
from controller.schema import members, services
from controller.workflow.context import Context, Row, record
from controller.workflow.views import member_rows
from flows.intent import MemberIntent, ServiceIntent
from topology.model import PortRef

log = logging.getLogger(__name__)


def service_row(conn: Connection, service_id: int) -> Row:
    return conn.execute(select(services).where(services.c.id == service_id)).mappings().one()


def live_rows(conn: Connection, service_id: int) -> list[Row]:
    return [m for m in member_rows(conn, service_id) if m["state"] in LIVE_MEMBER_STATES]


def edge_ports(rows: list[Row]) -> list[PortRef]:
    return [PortRef(m["switch"], m["port"]) for m in rows]


def intent(service: Row, vlan: int, rows: list[Row]) -> ServiceIntent:
    attributes = service["attributes"]
    return ServiceIntent(
        service_id=service["id"], vlan=vlan, type=attributes["type"],
        bandwidth_mbps=attributes["bandwidth_mbps"],
        members=tuple(MemberIntent(member_id=m["id"], party=m["party"], interface=m["interface"],
                                   edge_port=PortRef(m["switch"], m["port"]), mac=m["mac"],
                                   role=m["role"]) for m in rows))


def refresh(conn: Connection, ctx: Context, service_id: int) -> None:
    """After members left, failed or were fulfilled: shrink reservations, free the
    VLAN below two live members, and set the state from the provisioned count."""
    service = service_row(conn, service_id)
    if service["state"] == DELETED:
        return
    rows = live_rows(conn, service_id)
    if service["kind"] == SECURE_BANDWIDTH:
        capacity.reserve(conn, service_id, capacity.hose(
            ctx.topology, edge_ports(rows), service["attributes"]["bandwidth_mbps"]))
    values: dict[str, Any] = {}
    if len(rows) < 2:
        values["vlan"] = None
        if service["kind"] in ETHERNET_KINDS:
            # A lone member has no rules: it waits, accepted, for the next one.
            ids = [m["id"] for m in rows if m["state"] == PROVISIONED]
            conn.execute(update(members).where(members.c.id.in_(ids)).values(state=ACCEPTED))
            rows = [{**m, "state": ACCEPTED} for m in rows]
    provisioned = sum(1 for m in rows if m["state"] == PROVISIONED)
    values["state"] = ACTIVE if provisioned >= 2 else PENDING
    conn.execute(update(services).where(services.c.id == service_id).values(**values))


def _apply(ctx: Context, service: Row, vlan: int, rows: list[Row]) -> ProvisionResult:
    """Call the provisioner; a crash in it counts as a failure, never a success."""
    try:
        return ctx.ethernet.apply(intent(service, vlan, rows))
    except Exception as exc:  # the provisioner is foreign code: contain it
        log.exception("provisioner failed for service %s", service["id"])
        return ProvisionResult(ok=False, error=f"provisioner error: {exc}")


def provision_new_member(ctx: Context, actor: Any, service_id: int, member_id: int) -> None:
    """Install the service with the newly accepted member; settle its state."""
    with ctx.store.read() as conn:
        service = service_row(conn, service_id)
        rows = live_rows(conn, service_id)
    if service["kind"] not in ETHERNET_KINDS:
        return
    result = _apply(ctx, service, service["vlan"], rows)
    with ctx.store.transaction() as conn:
        if result.ok:
            accepted = [m for m in rows if m["state"] == ACCEPTED]
            conn.execute(update(members).where(members.c.id.in_([m["id"] for m in accepted]),
                                               members.c.state == ACCEPTED)
                         .values(state=PROVISIONED))
            conn.execute(update(services).where(services.c.id == service_id)
                         .values(provisioning=result.switches))
            refresh(conn, ctx, service_id)
            for m in accepted:
                record(conn, ctx, actor, "member_provisioned", service_id, m["party"],
                       interface=m["interface"], vlan=service["vlan"])
            return
        new = next(m for m in rows if m["id"] == member_id)
        error = result.error or "the switches refused the rules"
        conn.execute(update(members).where(members.c.id == member_id)
                     .values(state=FAILED, error=error[:500]))
        refresh(conn, ctx, service_id)
        record(conn, ctx, actor, "member_failed", service_id, new["party"],
               interface=new["interface"], error=error)
    withdraw_rules(ctx, actor, service_id, service["vlan"])


def withdraw_rules(ctx: Context, actor: Any, service_id: int, vlan: int | None) -> None:
    """Tell the switches the service's state now that members are gone; record it."""
    with ctx.store.read() as conn:
        service = service_row(conn, service_id)
        rows = [m for m in live_rows(conn, service_id) if m["state"] == PROVISIONED]
    if service["kind"] not in ETHERNET_KINDS or vlan is None:
        return
    if len(rows) < 2:
        rows = []
    result = _apply(ctx, service, service["vlan"] or vlan, rows)
    with ctx.store.transaction() as conn:
        conn.execute(update(services).where(services.c.id == service_id)
                     .values(provisioning=result.switches if rows else {}))
        if not result.ok:
            record(conn, ctx, actor, "rules_not_removed", service_id,
                   error=result.error or "the switches refused the change")


def desired_intents(ctx: Context) -> list[ServiceIntent]:
    """Every live ethernet service holding a VLAN, with its provisioned members."""
    out = []
    with ctx.store.read() as conn:
        query = select(services).where(services.c.state != DELETED,
                                       services.c.kind.in_(ETHERNET_KINDS),
                                       services.c.vlan.is_not(None)).order_by(services.c.id)
        for service in conn.execute(query).mappings().all():
            rows = [m for m in member_rows(conn, service["id"]) if m["state"] == PROVISIONED]
            out.append(intent(service, service["vlan"], rows if len(rows) >= 2 else []))
    return out


def fail_interrupted(ctx: Context) -> None:
    """At start: a non-owner ethernet member still `accepted` was being provisioned
    when the controller stopped; it never got confirmed, so it is `failed`."""
    with ctx.lock, ctx.store.transaction() as conn:
        stuck = conn.execute(
            select(members.c.id, members.c.service_id)
            .join(services, services.c.id == members.c.service_id)
            .where(members.c.state == ACCEPTED, members.c.party_id != services.c.owner_id,
                   services.c.kind.in_(ETHERNET_KINDS), services.c.state != DELETED)).all()
        for member in stuck:
            conn.execute(update(members).where(members.c.id == member.id).values(
                state=FAILED, error="the controller stopped before the rules were confirmed"))
            refresh(conn, ctx, member.service_id)
            record(conn, ctx, "system", "member_failed", member.service_id,
                   member=member.id, error="interrupted")
