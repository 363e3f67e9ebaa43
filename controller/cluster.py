"""Several controllers on one PostgreSQL database: who leads, and word between them.

The leader is whoever holds a session-level advisory lock. The server frees
it when the holder's connection drops (kill -9 included), and that
connection has an `idle_session_timeout`: a leader that stops pinging it (a
paused or wedged process) loses the lock after `LEASE_S`. Each new leader
takes the next generation id from the `leadership` row; it asks the switches
for the MASTER role with it, so a deposed leader's writes are refused by the
switches, and every transaction that records what the switches did checks it
(`fence`), so a deposed leader's outcomes are refused by the database.

Changes are decided and committed by whichever instance the client asked.
A standby bumps the service's `revision` and notifies the leader
(`LISTEN/NOTIFY` on one channel) in the change's own transaction (`announce`)
or, when it finds out later that it does not lead, in one of its own
(`Cluster.request`); the leader provisions the service's state as the
database holds it and records the outcome, its `applied_revision` in the
same update of the service (`applied_mark`). The database notifies back
when that advances (a trigger, migration 0010). The waiting request returns
when the notice of its revision (or a later one) arrives, without reading
the database.
"""

from __future__ import annotations

import logging
import select
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, bindparam, func, update
from sqlalchemy import select as sql_select

from controller import metrics
from controller.provisioning import Pending, ProvisionResult
from controller.schema import leadership, services
from controller.store import Store, dedicated_connection, generation_at_gate
from flows.intent import ServiceIntent

LOG = logging.getLogger("metroshare.cluster")
LOCK_KEY = 0x6D657472_73686172  # "metrshar": the one advisory lock of leadership
CHANNEL = "metroshare"
LEASE_S = 5.0       # a leader silent this long loses the lock (paused, wedged)
PING_S = 0.5        # how often the leader proves it is alive; a standby asks for the lock
RECHECK_S = 1.0     # a waiter re-reads the database this often, in case a notice was lost
RECONNECT_S = 0.5


class NotLeader(Exception):
    """This instance no longer leads: what it would record belongs to the new leader."""


def fence(conn: Connection, generation: int | None) -> None:
    """Inside a transaction (after its write gate): refuse unless `generation` is
    still the database's. None: a lone controller on SQLite, nothing to fence."""
    if generation is None:
        return
    current = generation_at_gate(conn)
    if current is None:
        current = conn.execute(_GENERATION).scalar_one()
    if current != generation:
        raise NotLeader(f"generation {generation} was superseded by {current}")


_GENERATION = sql_select(leadership.c.generation).where(leadership.c.id == 1)
# A notice is sent when its transaction commits (PostgreSQL delivers NOTIFY on
# commit); it rides on the statement that records the change, a round trip fewer.
_NOTICE = func.pg_notify(CHANNEL, bindparam("notice"))
_BUMP = (update(services).where(services.c.id == bindparam("sid"))
         .values(revision=services.c.revision + 1).returning(services.c.revision, _NOTICE))
_APPLIED = sql_select(services.c.applied_revision).where(services.c.id == bindparam("sid"))


def announce(conn: Connection, service_id: int) -> int:
    """In a change's transaction: the leader is to provision the service as this
    transaction leaves it (told when it commits); the revision to wait for."""
    return conn.execute(_BUMP, {"sid": service_id,
                                "notice": f"changed:{service_id}"}).scalar_one()


class Cluster:
    """This instance's part in the cluster: its role, its generation, its notices.

    `on_role(leader, generation)` is called (in its own green thread) when this
    instance becomes the leader or stops being it; `on_changed(service_id)`
    when another instance committed a change the leader must provision.
    `spawn` runs a function concurrently (the controller passes Ryu's hub.spawn).
    """

    def __init__(self, store: Store, instance: str,
                 spawn: Callable[..., Any] = lambda f, *a: threading.Thread(
                     target=f, args=a, daemon=True).start()) -> None:
        self.store, self.instance, self.spawn = store, instance, spawn
        self.leader = False
        self.generation: int | None = None
        self.changes = 0  # times this instance became or stopped being the leader
        metrics.LEADER.set(0)
        self.on_role: Callable[[bool, int | None], None] = lambda leader, generation: None
        self.on_changed: Callable[[int], None] = lambda service_id: None
        self._stopping = threading.Event()
        self._waiters: dict[int, list[threading.Event]] = {}
        self._applied: dict[int, int] = {}  # service -> highest applied revision noticed
        self._lock_conn: Any = None

    @property
    def role(self) -> str:
        return "leader" if self.leader else "standby"

    def start(self) -> None:
        self.spawn(self._elect)
        self.spawn(self._listen)

    def stop(self) -> None:
        self._stopping.set()
        self._close_lock_conn()

    def leads(self, generation: int | None) -> bool:
        """Still the leader of `generation` (as far as this instance knows)."""
        return self.leader and self.generation == generation

    def current_generation(self) -> int:
        """The generation of the leader now (what a standby's SLAVE request carries)."""
        with self.store.read() as conn:
            return conn.execute(_GENERATION).scalar_one()

    # -- leadership -------------------------------------------------------------

    def _elect(self) -> None:
        while not self._stopping.is_set():
            try:
                self._lock_conn = dedicated_connection(self.store.engine.url)
                cur = self._lock_conn.cursor()
                cur.execute("SET idle_session_timeout = %s", (f"{int(LEASE_S * 1000)}ms",))
                while not self._stopping.is_set():
                    if not self.leader:
                        cur.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,))
                        if cur.fetchone()[0]:
                            self._become(True, self._take_generation())
                            continue
                    else:
                        cur.execute("SELECT 1")
                        cur.fetchone()
                    self._stopping.wait(PING_S)
            except Exception as exc:  # the connection dropped, or the server went away
                if not self._stopping.is_set():
                    LOG.error("instance %s: leadership connection lost: %s", self.instance,
                              str(exc).strip().splitlines()[0] if str(exc).strip() else exc)
            self._close_lock_conn()
            if self.leader:
                self._become(False, None)
            self._stopping.wait(RECONNECT_S)

    def _close_lock_conn(self) -> None:
        conn, self._lock_conn = self._lock_conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def _take_generation(self) -> int:
        """The next generation id, in a transaction behind the write gate, so no
        fenced transaction of the previous leader can commit after it."""
        with self.store.transaction() as conn:
            return conn.execute(update(leadership).where(leadership.c.id == 1).values(
                generation=leadership.c.generation + 1, leader=self.instance,
                since=time.time()).returning(leadership.c.generation)).scalar_one()

    def _become(self, leader: bool, generation: int | None) -> None:
        self.leader, self.generation = leader, generation
        self.changes += 1
        metrics.LEADER.set(1 if leader else 0)
        metrics.GENERATION.set(generation or 0)
        metrics.LEADERSHIP_CHANGES.inc()
        if leader:
            LOG.warning("instance %s is the leader (generation %d)", self.instance, generation)
        else:
            LOG.warning("instance %s is no longer the leader; standing by", self.instance)
        self.on_role(leader, generation)

    # -- notices ----------------------------------------------------------------

    def _listen(self) -> None:
        while not self._stopping.is_set():
            conn = None
            try:
                conn = dedicated_connection(self.store.engine.url)
                conn.cursor().execute(f"LISTEN {CHANNEL}")
                self._wake_all()  # notices may have been missed while disconnected
                while not self._stopping.is_set():
                    select.select([conn], [], [], RECHECK_S)
                    conn.poll()
                    while conn.notifies:
                        self._dispatch(conn.notifies.pop(0).payload)
            except Exception as exc:
                if not self._stopping.is_set():
                    LOG.error("instance %s: notice connection lost: %s", self.instance, exc)
            finally:
                if conn is not None:
                    try:
                        conn.close()
                    except Exception:
                        pass
            self._stopping.wait(RECONNECT_S)

    def _dispatch(self, payload: str) -> None:
        kind, _, rest = payload.partition(":")
        if kind == "changed" and self.leader:
            self.on_changed(int(rest.split(":")[0]))
        elif kind == "applied":
            service_id, revision = (int(part) for part in rest.split(":")[:2])
            if revision > self._applied.get(service_id, 0):
                self._applied[service_id] = revision
            for event in self._waiters.get(service_id, ()):
                event.set()

    def _wake_all(self) -> None:
        for events in self._waiters.values():
            for event in events:
                event.set()

    def request(self, service_id: int) -> int:
        """Ask the leader to provision the service as committed; the revision to wait for."""
        with self.store.transaction() as conn:
            return announce(conn, service_id)

    def await_applied(self, service_id: int, revision: int) -> None:
        """Block until the leader recorded the outcome of `revision` (or a later one):
        its notice says so; the database is read only if none came for a while
        (a notice is lost while the listening connection is re-established)."""
        event = threading.Event()
        self._waiters.setdefault(service_id, []).append(event)
        try:
            while not self._stopping.is_set():
                if self._applied.get(service_id, 0) >= revision:
                    return
                event.wait(RECHECK_S)
                event.clear()
                if self._applied.get(service_id, 0) >= revision:
                    return
                with self.store.read() as conn:
                    if conn.execute(_APPLIED, {"sid": service_id}).scalar_one() >= revision:
                        return
        finally:
            events = self._waiters[service_id]
            events.remove(event)
            if not events:
                del self._waiters[service_id]


def applied_mark(revision: int | None) -> dict[str, Any]:
    """The columns that mark the service's state at `revision` applied, for the
    update of the service that records the outcome: the database tells the
    waiters when it commits, if the mark advanced (a later revision applied
    already answered every waiter of an earlier one). None: the change was this
    instance's own, nobody waits for a revision."""
    if revision is None:
        return {}
    return {"applied_revision": func.greatest(services.c.applied_revision, revision)}


def mark_applied(conn: Connection, service_id: int, revision: int | None) -> None:
    """`applied_mark`, where recording the outcome updates nothing else of the service."""
    if revision is not None:
        conn.execute(update(services).where(services.c.id == service_id)
                     .values(**applied_mark(revision)))


class _Remote:
    """The leader is another instance: ask it (unless the change's transaction
    did, `announced`), and wait until it recorded the outcome."""

    def __init__(self, cluster: Cluster, service_id: int, announced: int | None = None
                 ) -> None:
        self.cluster, self.service_id, self.announced = cluster, service_id, announced

    def wait(self) -> ProvisionResult:
        revision = self.announced
        if revision is None:
            revision = self.cluster.request(self.service_id)
        self.cluster.await_applied(self.service_id, revision)
        return ProvisionResult(ok=True, elsewhere=True)


class _Local:
    """This instance leads: its own installer's answer, unless it was deposed meanwhile."""

    def __init__(self, cluster: Cluster, service_id: int, pending: Pending,
                 generation: int | None) -> None:
        self.cluster, self.service_id = cluster, service_id
        self.pending, self.generation = pending, generation

    def wait(self) -> ProvisionResult:
        result = self.pending.wait()
        if self.cluster.leads(self.generation) and "IS_SLAVE" not in (result.error or ""):
            return result
        LOG.warning("service %d: this instance was deposed while provisioning it; the new "
                    "leader provisions it", self.service_id)
        return _Remote(self.cluster, self.service_id).wait()


class ClusterProvisioner:
    """The ethernet provisioner of one instance of several: its own installer while
    it leads, else the leader (another instance) through the database."""

    def __init__(self, cluster: Cluster, local: Any) -> None:
        self.cluster, self.local = cluster, local

    def submit(self, intent: ServiceIntent, announced: int | None = None) -> Pending:
        """`announced`: the revision the change's own transaction asked the leader for."""
        generation = self.cluster.generation
        if self.cluster.leads(generation):
            return _Local(self.cluster, intent.service_id, self.local.submit(intent), generation)
        return _Remote(self.cluster, intent.service_id, announced)

    def defer(self, service_id: int) -> None:
        """A fenced outcome was refused (deposed): wait for the new leader's."""
        _Remote(self.cluster, service_id).wait()
