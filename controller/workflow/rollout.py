"""Bringing an ethernet service's members onto the switches, and back off.

The decision (a member is accepted, removed, or the service torn down) is
committed first; still under the global lock the change is handed to the
provisioner (`start`), so the switches see changes in the order they were
decided; the wait for the switches happens without any lock
(`finish_*`), so changes of many services are confirmed together; then a
second transaction records what happened. A member whose rules could
not be installed becomes `failed`, with its error and without reservations,
and the switches are told again the state without it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
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
from controller.provisioning import Pending, ProvisionResult, Settled
from controller.schema import interfaces, members, parties, services
from controller.workflow.context import SERVICE, Context, Row, record
from controller.workflow.views import member_rows
from flows.intent import MemberIntent, ServiceIntent
from topology.model import PortRef

log = logging.getLogger(__name__)


def service_row(conn: Connection, service_id: int) -> Row:
    return conn.execute(SERVICE, {"id": service_id}).mappings().one()


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


@dataclass(frozen=True)
class Rollout:
    """A change handed to the provisioner: the service, the members asked for, the answer."""

    service: Row
    rows: list[Row]
    pending: Pending

    def result(self) -> ProvisionResult:
        """Wait for the switches; a crash in the provisioner counts as a failure."""
        try:
            return self.pending.wait()
        except Exception as exc:  # the provisioner is foreign code: contain it
            log.exception("provisioner failed for service %s", self.service["id"])
            return ProvisionResult(ok=False, error=f"provisioner error: {exc}")


def start(ctx: Context, service_id: int, vlan: int | None = None) -> Rollout | None:
    """Hand the service's state now to the provisioner; None when it has no rules to change.

    Called with the global lock held, right after the change committed, so
    the switches get changes in the order they were decided; no switch I/O
    happens here. Every live member is asked for, those still being provisioned
included: their own changes were handed over before this one. `vlan` is
the tag the service held before a removal freed it.
    """
    with ctx.store.read() as conn:
        service = service_row(conn, service_id)
        rows = live_rows(conn, service_id)
    vlan = service["vlan"] or vlan
    if service["kind"] not in ETHERNET_KINDS or vlan is None:
        return None
    rows = rows if len(rows) >= 2 else []  # a lone member has no rules
    try:
        pending = ctx.ethernet.submit(intent(service, vlan, rows))
    except Exception as exc:  # the provisioner is foreign code: contain it
        log.exception("provisioner failed for service %s", service_id)
        pending = Settled(ProvisionResult(ok=False, error=f"provisioner error: {exc}"))
    return Rollout(service, rows, pending)


def finish_new_member(ctx: Context, actor: Any, rollout: Rollout | None, member_id: int) -> None:
    """Without the global lock: wait for the switches, then settle the members' states."""
    if rollout is None:
        return
    service_id, vlan = rollout.service["id"], rollout.service["vlan"]
    result = rollout.result()
    with ctx.lock:
        with ctx.store.transaction() as conn:
            if result.ok:
                accepted = [m for m in rollout.rows if m["state"] == ACCEPTED]
                conn.execute(update(members).where(
                    members.c.id.in_([m["id"] for m in accepted]), members.c.state == ACCEPTED)
                    .values(state=PROVISIONED))
                conn.execute(update(services).where(services.c.id == service_id)
                             .values(provisioning=result.switches))
                refresh(conn, ctx, service_id)
                for m in accepted:
                    record(conn, ctx, actor, "member_provisioned", service_id, m["party"],
                           interface=m["interface"], vlan=vlan)
                return
            new = next(m for m in rollout.rows if m["id"] == member_id)
            error = result.error or "the switches refused the rules"
            conn.execute(update(members).where(members.c.id == member_id)
                         .values(state=FAILED, error=error[:500]))
            refresh(conn, ctx, service_id)
            record(conn, ctx, actor, "member_failed", service_id, new["party"],
                   interface=new["interface"], error=error)
        withdrawal = start(ctx, service_id, vlan)
    finish_withdrawal(ctx, actor, withdrawal)


def finish_withdrawal(ctx: Context, actor: Any, rollout: Rollout | None) -> None:
    """Without the global lock: wait for the switches to drop what is gone; record it."""
    if rollout is None:
        return
    result = rollout.result()
    service_id = rollout.service["id"]
    with ctx.lock, ctx.store.transaction() as conn:
        conn.execute(update(services).where(services.c.id == service_id)
                     .values(provisioning=result.switches if rollout.rows else {}))
        if not result.ok:
            record(conn, ctx, actor, "rules_not_removed", service_id,
                   error=result.error or "the switches refused the change")


def desired_intents(ctx: Context) -> list[ServiceIntent]:
    """Every live ethernet service holding a VLAN, with its provisioned members.

    Two queries whatever the number of services: a restart reads them all."""
    with ctx.store.read() as conn:
        live = (services.c.state != DELETED, services.c.kind.in_(ETHERNET_KINDS),
                services.c.vlan.is_not(None))
        rows: dict[int, list[Row]] = {}
        query = (select(members, parties.c.name.label("party"),
                        interfaces.c.name.label("interface"), interfaces.c.switch,
                        interfaces.c.port, interfaces.c.mac)
                 .join(services, services.c.id == members.c.service_id)
                 .join(parties, parties.c.id == members.c.party_id)
                 .join(interfaces, interfaces.c.id == members.c.interface_id)
                 .where(members.c.state == PROVISIONED, *live).order_by(members.c.id))
        for m in conn.execute(query).mappings():
            rows.setdefault(m["service_id"], []).append(m)
        out = []
        for service in conn.execute(select(services).where(*live)
                                    .order_by(services.c.id)).mappings():
            provisioned = rows.get(service["id"], [])
            out.append(intent(service, service["vlan"],
                              provisioned if len(provisioned) >= 2 else []))
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
