"""Several controllers on one PostgreSQL database, without switches: the election,
the fence, and a change committed on a standby provisioned by the leader.

Real PostgreSQL (the `pg_url` fixture), real threads; the switches are the
recording provisioner of the core's tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from select import select as wait_readable

import pytest
from sqlalchemy import create_engine, select, text, update

from controller.cluster import (
    CHANNEL,
    LEASE_S,
    Cluster,
    ClusterProvisioner,
    NotLeader,
    applied_mark,
    fence,
    mark_applied,
)
from controller.core import ServiceCore
from controller.errors import ServiceError
from controller.model import ADMIN
from controller.schema import services
from controller.store import MIN_CONNECTIONS, dedicated_connection, open_store
from tests.unit.test_core_fixtures import (
    ADMIN_TOKEN,
    RecordingProvisioner,
    ethernet_body,
    metro_topology,
    party_body,
)


def wait_for(check, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@contextmanager
def member(pg_url: str, name: str) -> Iterator[tuple[Cluster, ServiceCore, RecordingProvisioner]]:
    """One instance: its cluster part, its core (on the same database) and its switches.
    Its store has the fewest connections a process may be given (one for transactions,
    one for reads): no step may wait for a second one from a pool while it holds one."""
    store = open_store(pg_url, connections=MIN_CONNECTIONS)
    cluster = Cluster(store, name)
    core = ServiceCore(metro_topology(), store, admin_token=ADMIN_TOKEN, clustered=True)
    switches = RecordingProvisioner()
    core.set_provisioner("ethernet", ClusterProvisioner(cluster, switches))

    def role(leader: bool, generation: int | None) -> None:
        core.set_generation(generation)

    def changed(service_id: int) -> None:
        threading.Thread(target=core.drive, args=(service_id,), daemon=True).start()

    cluster.on_role, cluster.on_changed = role, changed
    cluster.start()
    try:
        yield cluster, core, switches
    finally:
        cluster.stop()
        store.close()


def test_one_leads_and_the_other_takes_over_when_it_goes(pg_url: str) -> None:
    with member(pg_url, "a") as (a, _, _):
        wait_for(lambda: a.leader)
        with member(pg_url, "b") as (b, _, _):
            time.sleep(1.0)
            assert (a.role, b.role) == ("leader", "standby")
            first = a.generation
            a.stop()  # its lock connection closes, as when the process dies
            wait_for(lambda: b.leader, timeout=2.0)
            assert b.generation == first + 1


def test_a_leader_that_stops_answering_loses_the_lock(pg_url: str) -> None:
    """The server ends the leader's session once it is silent for the lease
    (here: its backend is terminated, as `idle_session_timeout` does)."""
    with member(pg_url, "a") as (a, _, _), member(pg_url, "b") as (b, _, _):
        wait_for(lambda: a.leader or b.leader)
        leader, standby = (a, b) if a.leader else (b, a)
        engine = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg2://"))
        with engine.connect() as conn:
            timeout = conn.execute(text(
                "SELECT setting FROM pg_settings WHERE name = 'idle_session_timeout'")).scalar()
            assert timeout == "0"  # the lease is set on the lock's own session only
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_locks "
                              "WHERE locktype = 'advisory' AND granted AND database = "
                              "(SELECT oid FROM pg_database WHERE datname = current_database())"))
        engine.dispose()
        wait_for(lambda: standby.leader, timeout=LEASE_S)
        wait_for(lambda: not leader.leader or leader.generation != standby.generation)
        assert standby.generation > 0


def test_the_fence_refuses_a_deposed_generation(pg_url: str) -> None:
    with member(pg_url, "a") as (a, core, _):
        wait_for(lambda: a.leader)
        store = open_store(pg_url)
        with store.transaction() as conn:
            fence(conn, a.generation)  # the current one passes
        with pytest.raises(NotLeader), store.transaction() as conn:
            fence(conn, a.generation - 1)
        store.close()


def test_the_database_tells_when_an_applied_revision_advances(pg_url: str) -> None:
    """Whatever statement records an outcome also marks it applied; the notice
    comes from the database, once the transaction commits, and only on advance."""
    store = open_store(pg_url)
    core = ServiceCore(metro_topology(), store, admin_token=ADMIN_TOKEN)
    owner = core.create_party(ADMIN, party_body("own", [("acc1", 2)]))
    sid = core.create_service(core.authenticate(owner["token"]),
                              ethernet_body("s", "own-if0"))["id"]
    listener = dedicated_connection(pg_url)
    listener.cursor().execute(f"LISTEN {CHANNEL}")

    def heard(wanted: int = 0, within: float = 0.3) -> list[str]:
        """The notices delivered: `wanted` of them, or whatever came within
        `within` seconds (a notice reaches the listener shortly after its commit)."""
        deadline = time.monotonic() + (5.0 if wanted else within)
        while len(listener.notifies) < (wanted or 1) and time.monotonic() < deadline:
            wait_readable([listener], [], [], max(0.0, deadline - time.monotonic()))
            listener.poll()
        payloads = [n.payload for n in listener.notifies]
        listener.notifies.clear()
        return payloads

    with store.transaction() as conn:
        conn.execute(update(services).where(services.c.id == sid)
                     .values(state="active", **applied_mark(3)))
        assert heard() == []  # not before the commit
    assert heard(1) == [f"applied:{sid}:3"]
    with store.transaction() as conn:
        mark_applied(conn, sid, 2)  # behind: nothing to tell
        mark_applied(conn, sid, None)
    assert heard() == []
    with store.transaction() as conn:
        conn.execute(update(services).where(services.c.id == sid).values(name="t"))
    assert heard() == []
    with store.read() as conn:
        assert conn.execute(select(services.c.applied_revision)
                            .where(services.c.id == sid)).scalar_one() == 3
    listener.close()
    store.close()


def test_an_acceptance_on_the_standby_is_provisioned_by_the_leader(pg_url: str) -> None:
    with member(pg_url, "a") as (a, core_a, switches_a), \
            member(pg_url, "b") as (b, core_b, switches_b):
        wait_for(lambda: a.leader or b.leader)
        (leader_core, leader_switches), (standby_core, standby_switches) = (
            ((core_a, switches_a), (core_b, switches_b)) if a.leader
            else ((core_b, switches_b), (core_a, switches_a)))
        owner = standby_core.create_party(ADMIN, party_body("own", [("acc1", 2)]))
        joiner = standby_core.create_party(ADMIN, party_body("join", [("acc3", 2)],
                                                             first_mac=9))
        owner_actor = standby_core.authenticate(owner["token"])
        joiner_actor = standby_core.authenticate(joiner["token"])
        service = standby_core.create_service(owner_actor, ethernet_body("s", "own-if0"))
        offer = standby_core.create_offer(owner_actor, service["id"], {"party": "join"})
        answer = standby_core.accept_offer(joiner_actor, offer["id"], {"interface": "join-if0"})
        assert {m["state"] for m in answer["service"]["members"]} == {"provisioned"}
        assert answer["service"]["state"] == "active"
        assert standby_switches.intents == []  # the standby never touched a switch
        assert [len(i.members) for i in leader_switches.intents] == [2]
        # A leave on the standby: the leader takes the rules off, the member is removed.
        standby_core.remove_member(joiner_actor, service["id"], "join")
        view = leader_core.get_service(ADMIN, service["id"])
        assert [m["party"] for m in view["members"] if m["state"] != "removed"] == ["own"]
        assert [len(i.members) for i in leader_switches.intents] == [2, 0]


def test_a_refusal_on_the_leader_answers_the_standby_503_and_reopens_the_offer(
        pg_url: str) -> None:
    with member(pg_url, "a") as (a, core_a, switches_a), \
            member(pg_url, "b") as (b, core_b, switches_b):
        wait_for(lambda: a.leader or b.leader)
        leader_switches, standby_core = (switches_a, core_b) if a.leader else (switches_b, core_a)
        leader_switches.fail_for = {"join"}
        owner = standby_core.create_party(ADMIN, party_body("own", [("acc1", 2)]))
        joiner = standby_core.create_party(ADMIN, party_body("join", [("acc3", 2)],
                                                             first_mac=9))
        owner_actor = standby_core.authenticate(owner["token"])
        service = standby_core.create_service(owner_actor, ethernet_body("s", "own-if0"))
        offer = standby_core.create_offer(owner_actor, service["id"], {"party": "join"})
        joining = standby_core.authenticate(joiner["token"])
        with pytest.raises(ServiceError) as info:
            standby_core.accept_offer(joining, offer["id"], {"interface": "join-if0"})
        assert (info.value.status, info.value.code) == (503, "provisioning_failed")
        assert "switch refused rules for join" in info.value.message
        view = standby_core.get_service(owner_actor, service["id"])
        assert [m["party"] for m in view["members"]] == ["own"] and view["vlan"] is None
        assert standby_core.list_offers(joining)[0]["state"] == "pending"
