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

from sqlalchemy import Connection, or_, select, update

from controller import capacity, cluster, vlans
from controller.cluster import NotLeader, applied_mark, fence, mark_applied
from controller.errors import provisioning_failed
from controller.model import (
    ACCEPTED,
    ACTIVE,
    DELETED,
    ETHERNET_KINDS,
    FAILED,
    LEAVING,
    LIVE_MEMBER_STATES,
    PENDING,
    PROVISIONED,
    REMOVAL_PENDING,
    REMOVED,
    SECURE_BANDWIDTH,
    SUSPENDED,
)
from controller.provisioning import INSTALLED, Pending, ProvisionResult, Settled
from controller.schema import interfaces, members, parties, services
from controller.workflow.context import Context, Row, record
from controller.workflow.views import MEMBERS, member_rows, service_state
from flows.intent import MemberIntent, ServiceIntent
from topology.model import PortRef

log = logging.getLogger(__name__)


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
                                   role=m["role"], ce_vlan=m["ce_vlan"] or None)
                       for m in rows))


def refresh(conn: Connection, ctx: Context, service_id: int, **also: Any) -> None:
    """After members left, failed or were fulfilled: shrink reservations, free the
    VLAN below two live members, and set the state from the provisioned count
    (with the columns in `also`, in the same statement).

    A leaving member (a switch has yet to confirm its rules are gone) keeps the
    VLAN and its link reservations; a torn-down service frees them once none is left."""
    service, everyone = service_state(conn, service_id)
    rows = [m for m in everyone if m["state"] in LIVE_MEMBER_STATES]
    # Off the switches, but still holding what they had: the VLAN and reservations stay.
    leaving = [m for m in everyone if m["state"] in (LEAVING, SUSPENDED)]
    if service["state"] == DELETED:
        if not leaving:
            capacity.reserve(conn, service_id, {})
            if service["vlan"] is not None:
                vlans.release(conn, service["vlan"], ctx.clock())
                conn.execute(update(services).where(services.c.id == service_id)
                             .values(vlan=None))
        if also:
            conn.execute(update(services).where(services.c.id == service_id).values(**also))
        return
    if service["kind"] == SECURE_BANDWIDTH:
        capacity.reserve(conn, service_id, capacity.hose(
            ctx.topology, edge_ports(rows + leaving), service["attributes"]["bandwidth_mbps"]))
    values: dict[str, Any] = {}
    if len(rows) < 2:
        if not leaving and service["vlan"] is not None:
            vlans.release(conn, service["vlan"], ctx.clock())
            values["vlan"] = None
        if service["kind"] in ETHERNET_KINDS:
            # A lone member has no rules: it waits, accepted, for the next one.
            ids = [m["id"] for m in rows if m["state"] == PROVISIONED]
            conn.execute(update(members).where(members.c.id.in_(ids)).values(state=ACCEPTED))
            rows = [{**m, "state": ACCEPTED} for m in rows]
    provisioned = sum(1 for m in rows if m["state"] == PROVISIONED)
    values["state"] = ACTIVE if provisioned >= 2 else PENDING
    conn.execute(update(services).where(services.c.id == service_id).values(**values, **also))


@dataclass
class Rollout:
    """A change handed to the provisioner: the service, the members asked for, the answer."""

    service: Row
    rows: list[Row]
    pending: Pending
    _result: ProvisionResult | None = None

    def result(self) -> ProvisionResult:
        """Wait for the switches (once); a crash in the provisioner counts as a failure."""
        if self._result is None:
            try:
                self._result = self.pending.wait()
            except Exception as exc:  # the provisioner is foreign code: contain it
                log.exception("provisioner failed for service %s", self.service["id"])
                self._result = ProvisionResult(ok=False, error=f"provisioner error: {exc}")
        return self._result


def _defer(ctx: Context, service_id: int) -> None:
    """This instance was deposed before it could record what the switches did:
    the new leader provisions the service again and records it; wait for that."""
    log.warning("service %d: deposed before recording the outcome; the leader records it",
                service_id)
    ctx.ethernet.defer(service_id)  # type: ignore[attr-defined]  # only a cluster fences


def state_of(conn: Connection, service: Row) -> tuple[Row, list[Row]]:
    """The service (its row as the change's transaction leaves it, which the change
    knows) and its live members, as `start` hands them over: read in the change's
    own transaction, it saves `start` a read of its own."""
    return service, live_rows(conn, service["id"])


def announce(conn: Connection, ctx: Context, service: Row) -> int | None:
    """On a standby, in the change's own transaction: the leader is told to provision
    the service when it commits (a transaction fewer than asking afterwards). The
    revision to wait for; None where this instance provisions (or nothing to do)."""
    if not (ctx.clustered and ctx.generation is None) or service["kind"] not in ETHERNET_KINDS:
        return None
    return cluster.announce(conn, service["id"])


def start(ctx: Context, service_id: int, vlan: int | None = None,
          read: tuple[Row, list[Row]] | None = None,
          announced: int | None = None) -> Rollout | None:
    """Hand the service's state now to the provisioner; None when it has no rules to change.

    Called with the global lock held, right after the change committed, so
    the switches get changes in the order they were decided; no switch I/O
    happens here. Every live member is asked for, those still being provisioned
    included: their own changes were handed over before this one. `vlan` is
    the tag the service held before a removal freed it; `read`, the service's
    state read at the end of the committed transaction (`state_of`);
    `announced`, the revision that transaction asked the leader for (`announce`).
    """
    if read is None:
        with ctx.store.read() as conn:
            service, everyone = service_state(conn, service_id)
        read = service, [m for m in everyone if m["state"] in LIVE_MEMBER_STATES]
    service, rows = read
    vlan = service["vlan"] or vlan
    if service["kind"] not in ETHERNET_KINDS or vlan is None:
        return None
    rows = rows if len(rows) >= 2 else []  # a lone member has no rules
    try:
        wanted = intent(service, vlan, rows)
        pending = (ctx.ethernet.submit(wanted) if announced is None
                   else ctx.ethernet.submit(wanted, announced=announced))
    except Exception as exc:  # the provisioner is foreign code: contain it
        log.exception("provisioner failed for service %s", service_id)
        pending = Settled(ProvisionResult(ok=False, error=f"provisioner error: {exc}"))
    return Rollout(service, rows, pending)


def finish_new_member(ctx: Context, actor: Any, rollout: Rollout | None, member_id: int) -> None:
    """Without the global lock: wait for the switches, then settle the members' states."""
    finish_members(ctx, actor, rollout, [member_id])


def finish_members(ctx: Context, actor: Any, rollout: Rollout | None,
                   member_ids: list[int], applied: int | None = None) -> bool:
    """Without the global lock: wait for the switches; accepted members become
    provisioned, or on a refusal the members `member_ids` (the ones this change
    brought) fail, and the switches are told the state without them.

    `applied`: the revision the leader drives, marked applied in the transaction
    that records the outcome; True if this recorded it."""
    if rollout is None:
        return False
    service_id, vlan = rollout.service["id"], rollout.service["vlan"]
    result = rollout.result()
    if result.elsewhere:
        return False
    error = None if result.ok else (result.error or "the switches refused the rules")
    if error is None:
        try:
            with ctx.lock, ctx.store.transaction() as conn:
                fence(conn, ctx.generation)
                accepted = [m for m in rollout.rows if m["state"] == ACCEPTED]
                conn.execute(update(members).where(
                    members.c.id.in_([m["id"] for m in accepted]), members.c.state == ACCEPTED)
                    .values(state=PROVISIONED))
                refresh(conn, ctx, service_id, provisioning=result.switches,
                        **applied_mark(applied))
                for m in accepted:
                    record(conn, ctx, actor, "member_provisioned", service_id, m["party"],
                           interface=m["interface"], vlan=vlan)
            return True
        except NotLeader:
            _defer(ctx, service_id)
            return False
        except Exception as exc:  # the switches confirmed, the database did not take it
            log.exception("service %s: the outcome could not be recorded", service_id)
            # Undone, not left installed and `accepted` for ever.
            error = f"the outcome could not be recorded ({exc}); the change is undone"
    try:
        with ctx.lock:
            with ctx.store.transaction() as conn:
                fence(conn, ctx.generation)
                conn.execute(update(members).where(members.c.id.in_(member_ids))
                             .values(state=FAILED, error=error[:500]))
                refresh(conn, ctx, service_id)
                for new in (m for m in rollout.rows if m["id"] in member_ids):
                    record(conn, ctx, actor, "member_failed", service_id, new["party"],
                           interface=new["interface"], error=error)
            withdrawal = start(ctx, service_id, vlan)
    except NotLeader:
        _defer(ctx, service_id)
        return False
    return finish_withdrawal(ctx, actor, withdrawal, service_id, applied=applied)


def finish_change(ctx: Context, actor: Any, rollout: Rollout | None, before: Row) -> None:
    """Without the global lock: a change of the service itself (its bandwidth) is on
    the switches, or it is undone: the service as it was (`before`, its row),
    its reservations too, back on the switches, and 503 naming the switch."""
    if rollout is None:
        return
    service_id = before["id"]
    result = rollout.result()
    if result.elsewhere:
        return
    try:
        if result.ok:
            with ctx.lock, ctx.store.transaction() as conn:
                fence(conn, ctx.generation)
                conn.execute(update(services).where(services.c.id == service_id)
                             .values(provisioning=result.switches))
            return
        refused = sorted(s for s, status in result.switches.items() if status != INSTALLED)
        error = result.error or "the switches refused the change"
        with ctx.lock:
            with ctx.store.transaction() as conn:
                fence(conn, ctx.generation)
                conn.execute(update(services).where(services.c.id == service_id)
                             .values(attributes=before["attributes"], name=before["name"]))
                refresh(conn, ctx, service_id)  # secure bandwidth: the old reservations
                record(conn, ctx, actor, "service_change_failed", service_id,
                       switches=refused, error=error)
            undo = start(ctx, service_id)
    except NotLeader:
        _defer(ctx, service_id)
        return
    if undo is not None:
        undo.result()
    raise provisioning_failed(f"switch {', '.join(refused) or '(unknown)'} did not take the "
                              f"change ({error}); service {service_id} is as it was")


def finish_withdrawal(ctx: Context, actor: Any, rollout: Rollout | None,
                      service_id: int | None = None, applied: int | None = None) -> bool:
    """Without the global lock: wait for the switches to drop what is gone; record it.

    Leaving members become `removed` (their interface, the VLAN and reservations
    free) once every switch confirmed; a switch that did not keeps them
    leaving, with `removal_pending` in the provisioning status, until it
    reconnects and is reconciled (`confirm_removals`). `applied` and the answer:
    as for `finish_members`."""
    if rollout is None:
        if service_id is None:
            return False
        with ctx.lock, ctx.store.transaction() as conn:  # nothing to tell the switches
            if applied is not None:
                fence(conn, ctx.generation)
            _settle_leaving(conn, ctx, service_id, **applied_mark(applied))
        return True
    result = rollout.result()
    if result.elsewhere:
        return False
    service_id = rollout.service["id"]
    waiting = sorted(s for s, status in result.switches.items() if status != INSTALLED)
    statuses = dict(result.switches) if rollout.rows else {}
    statuses.update(dict.fromkeys(waiting, REMOVAL_PENDING))
    try:
        with ctx.lock, ctx.store.transaction() as conn:
            fence(conn, ctx.generation)
            conn.execute(update(services).where(services.c.id == service_id)
                         .values(provisioning=statuses, **applied_mark(applied)))
            if waiting:
                record(conn, ctx, actor, "removal_pending", service_id, switches=waiting,
                       error=result.error or "not confirmed by the switches")
            else:
                _settle_leaving(conn, ctx, service_id)
        return True
    except NotLeader:
        _defer(ctx, service_id)
        return False


def _settle_leaving(conn: Connection, ctx: Context, service_id: int,
                    late_switch: str | None = None, **also: Any) -> None:
    """Every switch confirmed the removal: leaving members are gone, and what they
    held is free. `late_switch`: the one that confirmed after a wait (recorded);
    `also`: columns of the service to set in the same statement (`refresh`)."""
    gone = conn.execute(update(members).where(members.c.service_id == service_id,
                                              members.c.state == LEAVING)
                        .values(state=REMOVED)).rowcount
    refresh(conn, ctx, service_id, **also)
    if gone and late_switch:
        record(conn, ctx, "system", "removal_confirmed", service_id, switch=late_switch,
               members=gone)


def confirm_removals(ctx: Context, switch: str) -> None:
    """`switch` now holds exactly the desired state (a reconciliation succeeded):
    removals it had yet to confirm are done."""
    with ctx.lock, ctx.store.transaction() as conn:
        fence(conn, ctx.generation)
        waiting = conn.execute(select(services.c.id, services.c.provisioning).where(
            services.c.id.in_(select(members.c.service_id).where(
                members.c.state.in_((LEAVING, SUSPENDED)))))).all()
        for service_id, provisioning in waiting:
            if provisioning.get(switch) != REMOVAL_PENDING:
                continue
            statuses = {s: st for s, st in provisioning.items() if s != switch}
            conn.execute(update(services).where(services.c.id == service_id)
                         .values(provisioning=statuses))
            if REMOVAL_PENDING not in statuses.values():
                _settle_leaving(conn, ctx, service_id, late_switch=switch)


def desired_intents(ctx: Context) -> list[ServiceIntent]:
    """Every live ethernet service holding a VLAN, with its live members: what the
    switches must hold, as the provisioner was told it change by change.

    Read under the lock, so never between a change's commit and its hand-over
    to the provisioner. At start `fail_interrupted` has made every member whose
    provisioning was cut short `failed`, so then live means provisioned. Two
    queries whatever the number of services: a restart reads them all."""
    with ctx.lock, ctx.store.read() as conn:
        live = (services.c.state != DELETED, services.c.kind.in_(ETHERNET_KINDS),
                services.c.vlan.is_not(None))
        rows: dict[int, list[Row]] = {}
        query = (MEMBERS.join(services, services.c.id == members.c.service_id)
                 .where(members.c.state.in_(LIVE_MEMBER_STATES), *live))
        for m in conn.execute(query).mappings():
            rows.setdefault(m["service_id"], []).append(m)
        out = []
        for service in conn.execute(select(services).where(*live)
                                    .order_by(services.c.id)).mappings():
            found = rows.get(service["id"], [])
            out.append(intent(service, service["vlan"], found if len(found) >= 2 else []))
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


def fail_orphans(ctx: Context) -> None:
    """At start: a live member whose interface is no longer on an edge port of the
    topology (the file was edited: the port became a fiber port, or its switch is
    gone) cannot be provisioned; it becomes `failed`, naming why, and the other
    services are provisioned as usual."""
    with ctx.lock, ctx.store.transaction() as conn:
        live = conn.execute(
            select(members.c.id, members.c.service_id, interfaces.c.name, interfaces.c.switch,
                   interfaces.c.port, parties.c.name.label("party"))
            .join(services, services.c.id == members.c.service_id)
            .join(interfaces, interfaces.c.id == members.c.interface_id)
            .join(parties, parties.c.id == members.c.party_id)
            .where(members.c.state.in_(LIVE_MEMBER_STATES), services.c.state != DELETED,
                   services.c.kind.in_(ETHERNET_KINDS))).all()
        for m in live:
            if ctx.topology.is_edge_port(PortRef(m.switch, m.port)):
                continue
            error = (f"interface '{m.name}' is on {m.switch}:{m.port}, which the topology no "
                     f"longer has as an edge port")
            conn.execute(update(members).where(members.c.id == m.id).values(
                state=FAILED, error=error))
            refresh(conn, ctx, m.service_id)
            record(conn, ctx, "system", "member_failed", m.service_id, m.party,
                   interface=m.name, error=error)
            log.error("service %d: %s; member failed", m.service_id, error)


def suspend_party(ctx: Context, actor: Any, party_id: int) -> None:
    """The provider suspended the party: its live ethernet members come off the
    switches (`suspended`, holding their interface, the VLAN and reservations)."""
    with ctx.lock:
        with ctx.store.transaction() as conn:
            found = _members_of_party(conn, party_id, LIVE_MEMBER_STATES)
            conn.execute(update(members).where(members.c.id.in_([m.id for m in found]))
                         .values(state=SUSPENDED))
            for service_id in sorted({m.service_id for m in found}):
                refresh(conn, ctx, service_id)
                record(conn, ctx, actor, "member_suspended", service_id, found[0].party)
        rollouts = [start(ctx, s) for s in sorted({m.service_id for m in found})]
    for rollout in rollouts:  # no lock held while the switches answer
        finish_withdrawal(ctx, actor, rollout)


def resume_party(ctx: Context, actor: Any, party_id: int) -> None:
    """The provider resumed the party: its suspended members go back on the switches."""
    with ctx.lock:
        with ctx.store.transaction() as conn:
            found = _members_of_party(conn, party_id, (SUSPENDED,))
            conn.execute(update(members).where(members.c.id.in_([m.id for m in found]))
                         .values(state=ACCEPTED))
            for service_id in sorted({m.service_id for m in found}):
                refresh(conn, ctx, service_id)
                record(conn, ctx, actor, "member_resumed", service_id, found[0].party)
        rollouts = {s: start(ctx, s) for s in sorted({m.service_id for m in found})}
    for service_id, rollout in rollouts.items():  # no lock held while the switches answer
        finish_members(ctx, actor, rollout, [m.id for m in found if m.service_id == service_id])


def _members_of_party(conn: Connection, party_id: int, states: tuple[str, ...]) -> list[Any]:
    """The party's members in `states` of live ethernet services."""
    return conn.execute(
        select(members.c.id, members.c.service_id, parties.c.name.label("party"))
        .join(services, services.c.id == members.c.service_id)
        .join(parties, parties.c.id == members.c.party_id)
        .where(members.c.party_id == party_id, members.c.state.in_(states),
               services.c.state != DELETED, services.c.kind.in_(ETHERNET_KINDS))).all()


# -- several controllers: the leader provisions what the others committed ------

def drive(ctx: Context, service_id: int) -> None:
    """The leader makes the switches hold the service as the database has it (a
    change another instance committed, or one in flight when the previous leader
    died) and records the outcome as the instance that made the change would have:
    accepted members provisioned (or failed), leaving ones removed. Then the
    service's revision read here is applied, which wakes whoever waits for it."""
    with ctx.lock:
        with ctx.store.read() as conn:
            service, everyone = service_state(conn, service_id)
        rows = [m for m in everyone if m["state"] in LIVE_MEMBER_STATES]
        leaving = any(m["state"] == LEAVING for m in everyone)
        rollout = start(ctx, service_id, read=(service, rows))
    revision, recorded = service["revision"], False
    if rollout is not None and rollout.rows:
        # The members that joined: on a refusal they fail, as each acceptance's own
        # member would; the owner, accepted while alone, waits again for the next.
        accepted = [m for m in rollout.rows if m["state"] == ACCEPTED]
        joined = [m["id"] for m in accepted if m["party_id"] != service["owner_id"]]
        recorded = finish_members(ctx, "system", rollout, joined or [m["id"] for m in accepted],
                                  applied=None if leaving else revision)
        result = rollout.result()
        confirmed = result.ok and all(s == INSTALLED for s in result.switches.values())
        if leaving and confirmed and not result.elsewhere:
            with ctx.lock, ctx.store.transaction() as conn:
                fence(conn, ctx.generation)
                _settle_leaving(conn, ctx, service_id, **applied_mark(revision))
            return
    elif rollout is not None or leaving:
        recorded = finish_withdrawal(ctx, "system", rollout, service_id, applied=revision)
    if not recorded:
        with ctx.store.transaction() as conn:
            fence(conn, ctx.generation)
            mark_applied(conn, service_id, revision)


def unsettled(ctx: Context) -> list[int]:
    """The ethernet services whose last change has no recorded outcome: members
    still accepted or leaving, or a revision the leader has not applied. A new
    leader drives them (the previous one died, or was deposed, before it could)."""
    with ctx.store.read() as conn:
        busy = select(members.c.service_id).where(members.c.state.in_((ACCEPTED, LEAVING)))
        return list(conn.execute(select(services.c.id).where(
            services.c.kind.in_(ETHERNET_KINDS),
            or_(services.c.revision > services.c.applied_revision, services.c.id.in_(busy)))
            .order_by(services.c.id)).scalars())
