"""Ryu shell of the ethernet provisioner: switch connections and OpenFlow replies.

The work happens in `apps.installer.Installer`; this app registers it with
the service core, reconciles each switch as it connects (never wiping it:
fail-mode secure switches keep forwarding while the controller is away),
and feeds barrier replies, multipart replies and errors to the channel
(`ChannelReplies`).
"""

from __future__ import annotations

from ryu.base import app_manager
from ryu.controller import ofp_event
from ryu.controller.handler import MAIN_DISPATCHER, set_ev_cls
from ryu.lib import hub
from ryu.ofproto import ofproto_v1_3

from apps import readback
from apps.channel import Channel, ChannelError, ChannelReplies
from apps.context import MetroshareContext
from apps.events import EventLeadership, EventSwitchDown, EventSwitchUp
from apps.installer import AUDIT_INTERVAL_S, Installer
from controller.cluster import ClusterProvisioner, NotLeader

RETRY_FIRST_S = 1.0  # a failed reconciliation is tried again after this, then twice as long
ROLE_TIMEOUT_S = 3.0


class Provisioning(ChannelReplies, app_manager.RyuApp):
    """With several controllers (`context.cluster`), only the leader writes: it
    holds the MASTER role on every switch with its generation id, reconciles
    them, and provisions what the other instances commit (`core.drive`); a
    standby holds the SLAVE role and sends nothing else."""

    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]
    _CONTEXTS = {"metroshare": MetroshareContext}
    _EVENTS = [EventLeadership]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        context: MetroshareContext = kwargs["metroshare"]
        self.topology = context.topology
        self.switch_of = context.switch_of  # None for a connection that is not the switch's
        self.channel = Channel()
        self.core = context.core
        self.installer = Installer(context.topology, self.channel, context.core.desired_intents)
        # The database is read now, before the API serves anything (read at the first
        # change, it would take that change as already installed); compiled meanwhile.
        self.installer.start_seeding()
        self.metroshare = context
        self.cluster = context.cluster
        if self.cluster is None:
            context.core.set_provisioner("ethernet", self.installer)
        else:
            context.core.set_provisioner("ethernet",
                                         ClusterProvisioner(self.cluster, self.installer))
            self.cluster.on_role = self._role_changed
            self.cluster.on_changed = self._drive_soon
        self.driving: set[int] = set()  # services being driven (leader) ...
        self.dirty: set[int] = set()    # ... and changed again meanwhile
        self.reconcile_due: set[str] = set()  # switches with a reconciliation queued
        self.stopping = hub.Event()
        self.threads.append(hub.spawn(self._audit_loop))

    def start(self):
        thread = super().start()
        if self.cluster is not None:
            self.cluster.start()
        return thread

    def stop(self) -> None:
        self.stopping.set()  # wakes the audit loop now: Ryu joins it before exiting
        if self.cluster is not None:
            self.cluster.stop()
        super().stop()

    @property
    def leads(self) -> bool:
        return self.metroshare.leads

    @set_ev_cls(EventSwitchUp)
    def switch_up_handler(self, ev: EventSwitchUp) -> None:
        self.installer.switch_connected(ev.switch.name, ev.datapath)
        if self.cluster is None:
            self._queue_reconcile(ev.switch.name)
        else:
            hub.spawn(self._claim, ev.switch.name, ev.datapath)

    # -- several controllers ---------------------------------------------------

    def _role_changed(self, leader: bool, generation: int | None) -> None:
        """From the election: the core fences with the generation at once; the
        switches and the other apps are told in their own threads."""
        self.core.set_generation(generation)
        self.send_event_to_observers(EventLeadership(leader, generation))
        if leader:
            hub.spawn(self._take_over, generation)

    def _take_over(self, generation: int) -> None:
        """The new leader: the desired state from the database, the MASTER role and a
        reconciliation (read back, never wiped) on every switch, then every change
        whose outcome the previous leader did not record."""
        self.installer.state  # noqa: B018 -- waits for the start-up compile
        self.installer.resync()
        for name, datapath in list(self.installer.datapaths.items()):
            hub.spawn(self._claim, name, datapath)
        try:
            unsettled = self.core.take_over()
        except NotLeader:
            return
        if unsettled:
            self.logger.warning("generation %d: %d service(s) changed without a recorded "
                                "outcome; provisioning them", generation, len(unsettled))
        for service_id in unsettled:
            self._drive_soon(service_id)

    def _claim(self, name: str, datapath) -> None:
        """Ask the switch for this instance's role; the leader then reconciles it."""
        leader, generation = self.cluster.leader, self.cluster.generation
        if not leader:
            generation = self.cluster.current_generation()
        ofp, parser = datapath.ofproto, datapath.ofproto_parser
        role = ofp.OFPCR_ROLE_MASTER if leader else ofp.OFPCR_ROLE_SLAVE
        try:
            self.channel.request(datapath, parser.OFPRoleRequest(datapath, role, generation),
                                 ROLE_TIMEOUT_S)
        except ChannelError as exc:
            self.logger.error("switch %s refused the %s role (generation %d): %s", name,
                              "MASTER" if leader else "SLAVE", generation, exc)
            return
        self.logger.info("switch %s: %s role, generation %d", name,
                         "MASTER" if leader else "SLAVE", generation)
        if leader and self.cluster.leads(generation):
            self._queue_reconcile(name)

    def _drive_soon(self, service_id: int) -> None:
        """Provision a change another instance committed; one drive per service at a
        time, again if it changed meanwhile."""
        if service_id in self.driving:
            self.dirty.add(service_id)
            return
        self.driving.add(service_id)
        hub.spawn(self._drive, service_id)

    def _drive(self, service_id: int) -> None:
        try:
            while self.leads:
                self.dirty.discard(service_id)
                try:
                    self.core.drive(service_id)
                except NotLeader:
                    return  # the new leader drives it
                except Exception:
                    self.logger.exception("service %d: provisioning for another instance "
                                          "failed", service_id)
                    return
                if service_id not in self.dirty:
                    return
        finally:
            self.driving.discard(service_id)

    @set_ev_cls(EventSwitchDown)
    def switch_down_handler(self, ev: EventSwitchDown) -> None:
        self.channel.on_disconnect(ev.datapath)
        self.installer.switch_disconnected(ev.switch.name, ev.datapath)

    @set_ev_cls(ofp_event.EventOFPFlowRemoved, MAIN_DISPATCHER)
    def flow_removed_handler(self, ev) -> None:
        """Someone deleted a flow the switch should hold (e.g. `ovs-ofctl del-flows`)."""
        msg = ev.msg
        switch = self.switch_of(msg.datapath)
        if switch and self.leads and self.installer.lost(switch.name, msg.table_id, msg.priority,
                                          readback.match_value(msg.match), msg.cookie):
            self._queue_reconcile(switch.name)

    def _audit_loop(self) -> None:
        while not self.stopping.wait(AUDIT_INTERVAL_S):
            if not self.leads:
                continue
            self.installer.resync()
            for name in list(self.installer.datapaths):
                self._queue_reconcile(name, audit=True)

    def _queue_reconcile(self, name: str, audit: bool = False) -> None:
        """One reconciliation at a time per switch, however many events asked for it."""
        if name not in self.reconcile_due:
            self.reconcile_due.add(name)
            hub.spawn(self._reconcile, name, audit)

    def _reconcile(self, name: str, audit: bool) -> None:
        """Reconcile; a failure is tried again at once with backoff (1 s, 2 s, ... up
        to the audit interval) for as long as the switch stays connected."""
        self.reconcile_due.discard(name)
        backoff = RETRY_FIRST_S
        while self.leads:
            error = self.installer.reconcile(name)
            if not error:
                try:
                    self.core.confirm_removals(name)
                except NotLeader:
                    return  # deposed meanwhile: the new leader reconciles it
                if not audit or backoff > RETRY_FIRST_S:  # an audit logs what it sends
                    self.logger.info("switch %s reconciled with the desired state", name)
                return
            self.logger.error("switch %s not reconciled: %s; trying again in %g s",
                              name, error, backoff)
            if self.stopping.wait(backoff) or name not in self.installer.datapaths \
                    or name in self.reconcile_due or not self.leads:  # gone, or superseded
                return
            backoff = min(backoff * 2, AUDIT_INTERVAL_S)
