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
from apps.channel import Channel, ChannelReplies
from apps.context import MetroshareContext
from apps.events import EventSwitchDown, EventSwitchUp
from apps.installer import AUDIT_INTERVAL_S, Installer

RETRY_FIRST_S = 1.0  # a failed reconciliation is tried again after this, then twice as long


class Provisioning(ChannelReplies, app_manager.RyuApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]
    _CONTEXTS = {"metroshare": MetroshareContext}

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
        context.core.set_provisioner("ethernet", self.installer)
        self.reconcile_due: set[str] = set()  # switches with a reconciliation queued
        self.stopping = hub.Event()
        self.threads.append(hub.spawn(self._audit_loop))

    def stop(self) -> None:
        self.stopping.set()  # wakes the audit loop now: Ryu joins it before exiting
        super().stop()

    @set_ev_cls(EventSwitchUp)
    def switch_up_handler(self, ev: EventSwitchUp) -> None:
        self.installer.switch_connected(ev.switch.name, ev.datapath)
        self._queue_reconcile(ev.switch.name)

    @set_ev_cls(EventSwitchDown)
    def switch_down_handler(self, ev: EventSwitchDown) -> None:
        self.channel.on_disconnect(ev.datapath)
        self.installer.switch_disconnected(ev.switch.name, ev.datapath)

    @set_ev_cls(ofp_event.EventOFPFlowRemoved, MAIN_DISPATCHER)
    def flow_removed_handler(self, ev) -> None:
        """Someone deleted a flow the switch should hold (e.g. `ovs-ofctl del-flows`)."""
        msg = ev.msg
        switch = self.switch_of(msg.datapath)
        if switch and self.installer.lost(switch.name, msg.table_id, msg.priority,
                                          readback.match_value(msg.match), msg.cookie):
            self._queue_reconcile(switch.name)

    def _audit_loop(self) -> None:
        while not self.stopping.wait(AUDIT_INTERVAL_S):
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
        while True:
            error = self.installer.reconcile(name)
            if not error:
                self.core.confirm_removals(name)
                if not audit or backoff > RETRY_FIRST_S:  # an audit logs what it sends
                    self.logger.info("switch %s reconciled with the desired state", name)
                return
            self.logger.error("switch %s not reconciled: %s; trying again in %g s",
                              name, error, backoff)
            if self.stopping.wait(backoff) or name not in self.installer.datapaths \
                    or name in self.reconcile_due:  # gone, or a newer request took over
                return
            backoff = min(backoff * 2, AUDIT_INTERVAL_S)
