"""`ServiceCore`: the one object the REST layer and the Ryu apps call.

Each method is a thin door to the module that holds its rule; see
docs/core-api.md for the agreement with the callers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Any

from controller import vlans
from controller.model import DEFAULT_VLAN_POOL, ETHERNET_KINDS, Actor
from controller.provisioning import EthernetProvisioner, NullProvisioner
from controller.store import Store
from controller.workflow import (
    audit,
    health,
    offers,
    orders,
    paging,
    parties,
    rollout,
    services,
    webhooks,
)
from controller.workflow.context import Context
from flows.intent import ServiceIntent
from topology.model import PortRef, Topology


class ServiceCore:
    """Parties, services, offers, verification, VLANs and capacity, kept in `store`."""

    def __init__(self, topology: Topology, store: Store, admin_token: str,
                 vlan_pool: Iterable[int] = DEFAULT_VLAN_POOL,
                 clock: Callable[[], float] = time.time,
                 lock: AbstractContextManager[Any] | None = None,
                 replica: bool = False, clustered: bool = False) -> None:
        """`lock` guards every mutation; the default RLock is green only if it is
        made after eventlet patched `threading` (Ryu's manager does so before
        it builds the apps' contexts). A `replica` serves reads beside the
        controller (an API worker process): it takes the state of switches and
        links from the database and leaves the controller's start-up work alone.
        `clustered`: one of several controllers on the database; the start-up
        work is done by whichever becomes the leader (`take_over`)."""
        if not admin_token:
            raise ValueError("the admin token must not be empty")
        self._ctx = Context(topology=topology, store=store, clock=clock,
                            lock=lock if lock is not None else threading.RLock(),
                            vlan_pool=vlans.check_pool(vlan_pool), admin_token=admin_token,
                            ethernet=NullProvisioner(topology), replica=replica,
                            clustered=clustered)
        if not (replica or clustered):
            rollout.fail_interrupted(self._ctx)
            rollout.fail_orphans(self._ctx)
            health.reset_network_status(self._ctx)

    @property
    def topology(self) -> Topology:
        return self._ctx.topology

    def set_provisioner(self, kind: str, provisioner: EthernetProvisioner) -> None:
        """Only "ethernet" (both ethernet kinds); utility kinds use work orders."""
        if kind != "ethernet" and kind not in ETHERNET_KINDS:
            raise ValueError(f"no provisioner slot for kind {kind!r}; use 'ethernet'")
        self._ctx.ethernet = provisioner

    # -- parties ---------------------------------------------------------------

    def authenticate(self, token: str | None) -> Actor:
        return parties.authenticate(self._ctx, token)

    def create_party(self, actor: Actor, body: Any) -> dict[str, Any]:
        return parties.create_party(self._ctx, actor, body)

    def update_party(self, actor: Actor, party_id: int, body: Any) -> dict[str, Any]:
        return parties.update_party(self._ctx, actor, party_id, body)

    def issue_token(self, actor: Actor, party_id: int) -> dict[str, str]:
        return parties.issue_token(self._ctx, actor, party_id)

    def list_parties(self, actor: Actor, limit: int = paging.DEFAULT_LIMIT,
                     after: int | None = None) -> paging.Page:
        return parties.list_parties(self._ctx, actor, limit, after)

    def get_party(self, actor: Actor, party_id: int) -> dict[str, Any]:
        return parties.get_party(self._ctx, actor, party_id)

    def me(self, actor: Actor) -> dict[str, Any]:
        return parties.me(self._ctx, actor)

    # -- services --------------------------------------------------------------

    def create_service(self, actor: Actor, body: Any) -> dict[str, Any]:
        return services.create_service(self._ctx, actor, body)

    def list_services(self, actor: Actor, limit: int = paging.DEFAULT_LIMIT,
                      after: int | None = None) -> paging.Page:
        return services.list_services(self._ctx, actor, limit, after)

    def get_service(self, actor: Actor, service_id: int) -> dict[str, Any]:
        return services.get_service(self._ctx, actor, service_id)

    def update_service(self, actor: Actor, service_id: int, body: Any) -> dict[str, Any]:
        return services.update_service(self._ctx, actor, service_id, body)

    def remove_member(self, actor: Actor, service_id: int, party_name: str) -> dict[str, Any]:
        return services.remove_member(self._ctx, actor, service_id, party_name)

    def teardown_service(self, actor: Actor, service_id: int) -> dict[str, Any]:
        return services.teardown_service(self._ctx, actor, service_id)

    # -- offers ----------------------------------------------------------------

    def create_offer(self, actor: Actor, service_id: int, body: Any) -> dict[str, Any]:
        return offers.create_offer(self._ctx, actor, service_id, body)

    def list_offers(self, actor: Actor, limit: int = paging.DEFAULT_LIMIT,
                    after: int | None = None) -> paging.Page:
        return offers.list_offers(self._ctx, actor, limit, after)

    def accept_offer(self, actor: Actor, offer_id: int, body: Any) -> dict[str, Any]:
        return offers.accept_offer(self._ctx, actor, offer_id, body)

    def accept_invitation(self, actor: Actor, body: Any) -> dict[str, Any]:
        return offers.accept_invitation(self._ctx, actor, body)

    def preview_invitation(self, actor: Actor, body: Any) -> dict[str, Any]:
        """What a code would join, seen before redeeming it; changes nothing."""
        return offers.preview_invitation(self._ctx, actor, body)

    def decline_offer(self, actor: Actor, offer_id: int) -> dict[str, Any]:
        return offers.decline_offer(self._ctx, actor, offer_id)

    def withdraw_offer(self, actor: Actor, offer_id: int) -> dict[str, Any]:
        return offers.withdraw_offer(self._ctx, actor, offer_id)

    def expire_offers(self) -> int:
        """Sweep: expire every pending offer past its time (also done lazily)."""
        return offers.expire_offers(self._ctx)

    # -- work orders, audit, metrics -------------------------------------------

    def list_orders(self, actor: Actor, limit: int = paging.DEFAULT_LIMIT,
                    after: int | None = None) -> paging.Page:
        return orders.list_orders(self._ctx, actor, limit, after)

    def update_order(self, actor: Actor, order_id: int, body: Any) -> dict[str, Any]:
        return orders.update_order(self._ctx, actor, order_id, body)

    def list_events(self, actor: Actor, since: int | None = None,
                    limit: int = paging.DEFAULT_LIMIT, after: int | None = None,
                    party: str | None = None, service: int | None = None,
                    action: str | None = None) -> paging.Page:
        return audit.list_events(self._ctx, actor, since, limit, after, party, service, action)

    def events_after(self, actor: Actor, after: int, limit: int) -> list[dict[str, Any]]:
        return audit.events_after(self._ctx, actor, after, limit)

    def latest_event_id(self) -> int:
        return audit.latest_event_id(self._ctx)

    # -- webhooks --------------------------------------------------------------

    def create_webhook(self, actor: Actor, body: Any) -> dict[str, Any]:
        return webhooks.create_webhook(self._ctx, actor, body)

    def list_webhooks(self, actor: Actor, limit: int = paging.DEFAULT_LIMIT,
                      after: int | None = None) -> paging.Page:
        return webhooks.list_webhooks(self._ctx, actor, limit, after)

    def delete_webhook(self, actor: Actor, webhook_id: int) -> dict[str, Any]:
        return webhooks.delete_webhook(self._ctx, actor, webhook_id)

    def webhook_backlog(self) -> int:
        return webhooks.backlog(self._ctx)

    def topology_view(self, actor: Actor) -> dict[str, Any]:
        return health.topology_view(self._ctx, actor)

    def stats(self) -> dict[str, Any]:
        return health.stats(self._ctx)

    # -- operational state (Ryu apps) ------------------------------------------

    def desired_intents(self) -> list[ServiceIntent]:
        return rollout.desired_intents(self._ctx)

    def set_switch_connected(self, name: str, connected: bool) -> None:
        health.set_switch_connected(self._ctx, name, connected)

    def confirm_removals(self, switch: str) -> None:
        """`switch` was reconciled: the removals it had yet to confirm are done."""
        rollout.confirm_removals(self._ctx, switch)

    def set_link_up(self, a: PortRef, up: bool) -> None:
        health.set_link_up(self._ctx, a, up)

    # -- several controllers ---------------------------------------------------

    def set_generation(self, generation: int | None) -> None:
        """This instance leads with `generation`, or (None) stands by."""
        self._ctx.generation = generation

    def take_over(self) -> list[int]:
        """A new leader's start-up work; returns the services it must drive: their
        last change has no recorded outcome (the previous leader died with it)."""
        rollout.fail_orphans(self._ctx)
        return rollout.unsettled(self._ctx)

    def reset_network_status(self) -> None:
        """A new leader: switches and links are down once it sees them go down."""
        health.reset_network_status(self._ctx)

    def drive(self, service_id: int) -> None:
        """Leader: provision the service as committed (by any instance); record it."""
        rollout.drive(self._ctx, service_id)
