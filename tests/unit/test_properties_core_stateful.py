"""Random sequences of create / offer / invite / accept / decline / withdraw /
leave / teardown / expire / failing switches / restarts across four parties
keep the invariants of issue 3, and every refusal leaves the store unchanged."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from controller.errors import ServiceError
from controller.model import ADMIN
from controller.store import open_store
from tests.unit.test_core_fixtures import (
    build_world,
    check_invariants,
    ethernet_body,
    make_core,
    snapshot,
)

NAMES = ("alice", "bob", "carol", "dave")
POOL = range(100, 102)  # two VLANs, so that the pool runs out now and then
parties = st.sampled_from(NAMES)
interfaces = st.sampled_from(("if0", "if1"))
# Untagged twice as often as each customer VLAN: several services share an interface.
ce_vlans = st.sampled_from((None, None, 100, 200))


def on(interface: str, ce_vlan: int | None) -> dict:
    """The interface part of a body: the name, and the customer VLAN if any."""
    return {"interface": interface} | ({} if ce_vlan is None else {"ce_vlan": ce_vlan})
def held(rows: dict) -> tuple:
    """What memberships hold: holding members, services' VLANs and states, reservations."""
    holding = {repr(state) for state in ("accepted", "provisioned", "leaving", "suspended")}
    return (sorted(m for m in rows["members"] if m[5] in holding),
            sorted((s[0], s[5], s[6]) for s in rows["services"]), rows["reservations"])


# None: the party the step is meant for (owner, addressee, member); else anyone.
maybe_party = st.one_of(st.none(), st.none(), parties)


class CoreMachine(RuleBasedStateMachine):
    """On SQLite; `PgMachine` runs the same steps on PostgreSQL."""

    def database(self) -> str:
        return str(self.dir / "core.db")

    def drop_database(self) -> None:
        pass

    @initialize()
    def start(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="core-props-"))
        self.url = self.database()
        self.world = build_world(self.dir, pool=POOL, url=self.url)
        self.core = self.world.core
        self.actors = {n: getattr(self.world, n) for n in NAMES}
        self.services: list[tuple[int, str]] = []        # (id, owner)
        self.offers: list[tuple[int, str | None]] = []   # (id, addressee)
        self.codes: list[str] = []
        self.created = 0

    def teardown(self) -> None:
        if hasattr(self, "world"):
            self.world.store.close()
            self.drop_database()
            shutil.rmtree(self.dir, ignore_errors=True)

    def attempt(self, call) -> object:
        """Run one step; a refusal must leave every row as it was, and an acceptance
        the switches did not take (503) must keep nothing: no membership holds
        anything more, no VLAN or reservation is taken (the log records it)."""
        before = snapshot(self.world.store)
        try:
            return call()
        except ServiceError as err:
            if err.status == 503:
                assert err.code == "provisioning_failed", err
                assert held(snapshot(self.world.store)) == held(before), "a 503 kept something"
                return None
            assert err.status in (400, 403, 404, 409), err
            assert snapshot(self.world.store) == before, f"{err.code} changed the store"
            return None

    @rule(owner=parties, interface=interfaces,
          kind=st.sampled_from(("ethernet-channel", "secure-bandwidth", "fuel")),
          type_=st.sampled_from(("point-to-point", "point-to-multipoint",
                                 "multipoint-to-multipoint")),
          bandwidth=st.sampled_from((300, 600, 900)), ce_vlan=ce_vlans)
    def create(self, owner: str, interface: str, kind: str, type_: str, bandwidth: int,
               ce_vlan: int | None = None) -> None:
        self.created += 1
        body = ethernet_body(f"s{self.created}", f"{owner}-{interface}", type_, bandwidth, kind)
        body |= on(body["interface"], ce_vlan)
        if kind == "fuel":
            body["attributes"] = {"quantity": 10, "unit": "l", "location": "depot"}
        view = self.attempt(lambda: self.core.create_service(self.actors[owner], body))
        if view:
            self.services.append((view["id"], owner))

    @rule(owner=parties, to=parties, secure=st.booleans(),
          bandwidth=st.sampled_from((300, 600, 900)))
    def create_and_fill(self, owner: str, to: str, secure: bool, bandwidth: int) -> None:
        """A service with two members at once: fills the VLAN pool and the links."""
        self.create(owner, "if1", "secure-bandwidth" if secure else "ethernet-channel",
                    "point-to-point", bandwidth)
        if self.services and self.services[-1][1] == owner:
            service = self.services[-1][0]
            view = self.attempt(lambda: self.core.create_offer(self.actors[owner], service,
                                                               {"party": to}))
            if view:
                self.attempt(lambda: self.core.accept_offer(self.actors[to], view["id"],
                                                            {"interface": f"{to}-if0"}))

    @precondition(lambda self: self.services)
    @rule(data=st.data(), to=parties, by=maybe_party, invite=st.booleans())
    def offer(self, data, to: str, by: str | None, invite: bool) -> None:
        service, owner = data.draw(st.sampled_from(self.services))
        body = {} if invite else {"party": to, "expires_in_s": 3600}
        view = self.attempt(lambda: self.core.create_offer(self.actors[by or owner], service,
                                                           body))
        if view:
            self.offers.append((view["id"], None if invite else to))
            if invite:
                self.codes.append(view["code"])

    @precondition(lambda self: self.offers)
    @rule(data=st.data(), by=maybe_party, interface=interfaces, ce_vlan=ce_vlans)
    def accept(self, data, by: str | None, interface: str, ce_vlan: int | None) -> None:
        offer, addressee = data.draw(st.sampled_from(self.offers))
        by = by or addressee or "alice"
        self.attempt(lambda: self.core.accept_offer(self.actors[by], offer,
                                                    on(f"{by}-{interface}", ce_vlan)))

    @precondition(lambda self: self.services)
    @rule(data=st.data(), to=parties, interface=interfaces, ce_vlan=ce_vlans)
    def offer_then_accept(self, data, to: str, interface: str, ce_vlan: int | None) -> None:
        """The common path, drawn often enough to fill services up."""
        service, owner = data.draw(st.sampled_from(self.services))
        view = self.attempt(lambda: self.core.create_offer(self.actors[owner], service,
                                                           {"party": to}))
        if view:
            self.offers.append((view["id"], to))
            self.attempt(lambda: self.core.accept_offer(self.actors[to], view["id"],
                                                        on(f"{to}-{interface}", ce_vlan)))

    @precondition(lambda self: self.codes)
    @rule(data=st.data(), by=parties, interface=interfaces, ce_vlan=ce_vlans)
    def redeem(self, data, by: str, interface: str, ce_vlan: int | None) -> None:
        code = data.draw(st.sampled_from(self.codes))
        self.attempt(lambda: self.core.accept_invitation(
            self.actors[by], {"code": code} | on(f"{by}-{interface}", ce_vlan)))

    @precondition(lambda self: self.offers)
    @rule(data=st.data(), by=parties, withdraw=st.booleans())
    def decline_or_withdraw(self, data, by: str, withdraw: bool) -> None:
        offer, _ = data.draw(st.sampled_from(self.offers))
        step = self.core.withdraw_offer if withdraw else self.core.decline_offer
        self.attempt(lambda: step(self.actors[by], offer))

    @precondition(lambda self: self.services)
    @rule(data=st.data(), by=maybe_party, member=parties)
    def leave(self, data, by: str | None, member: str) -> None:
        service, owner = data.draw(st.sampled_from(self.services))
        self.attempt(lambda: self.core.remove_member(self.actors[by or member], service, member))

    @precondition(lambda self: self.services)
    @rule(data=st.data(), by=maybe_party)
    def teardown_service(self, data, by: str | None) -> None:
        service, owner = data.draw(st.sampled_from(self.services))
        self.attempt(lambda: self.core.teardown_service(self.actors[by or owner], service))

    @rule(party=parties, failing=st.booleans())
    def switches_refuse(self, party: str, failing: bool) -> None:
        (self.world.net.fail_for.add if failing else self.world.net.fail_for.discard)(party)

    @rule(seconds=st.sampled_from((60, 4000)))
    def time_passes(self, seconds: int) -> None:
        self.world.clock.now += seconds
        self.core.expire_offers()

    @rule()
    def fulfil_orders(self) -> None:
        for order in self.core.list_orders(ADMIN):
            if order["state"] == "open":
                self.core.update_order(ADMIN, order["id"], {"state": "fulfilled"})

    @rule()
    def restart(self) -> None:
        before = snapshot(self.world.store)
        views = self.core.list_services(ADMIN), self.core.desired_intents()
        self.world.store.close()
        store = open_store(self.url)
        self.core = make_core(self.dir, clock=self.world.clock, store=store, pool=POOL)
        self.core.set_provisioner("ethernet", self.world.net)
        self.world.core, self.world.store = self.core, store
        assert snapshot(store) == before
        assert (self.core.list_services(ADMIN), self.core.desired_intents()) == views

    @invariant()
    def invariants_hold(self) -> None:
        if hasattr(self, "world"):
            check_invariants(self.core, self.world.store)
            for intent in self.core.desired_intents():
                assert len(intent.members) != 1


SETTINGS = settings(max_examples=30, stateful_step_count=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
CoreMachine.TestCase.settings = SETTINGS
TestCoreMachine = CoreMachine.TestCase


class PgMachine(CoreMachine):
    """The same steps on a fresh PostgreSQL database per example."""

    databases: Any = None  # the session's PgDatabases (tests/conftest.py)

    def database(self) -> str:
        return self.databases.create()

    def drop_database(self) -> None:
        self.databases.drop(self.url)


def test_core_machine_on_postgresql(pg_databases: Any) -> None:
    PgMachine.databases = pg_databases
    # Half the examples: each costs a database, and the steps are the SQLite run's.
    run_state_machine_as_test(PgMachine, settings=settings(SETTINGS, max_examples=15))
