"""Ryu shell of the ethernet provisioner: switch connections and OpenFlow replies.

The work happens in `apps.installer.Installer`; this app registers it with
the service core, reconciles each switch as it connects (never wiping it:
fail-mode secure switches keep forwarding while the controller is away),
and feeds barrier replies, multipart replies and errors to the channel.
"""

from __future__ import annotations

from ryu.base import app_manager
from ryu.controller import ofp_event
from ryu.controller.handler import (
    CONFIG_DISPATCHER,
    DEAD_DISPATCHER,
    MAIN_DISPATCHER,
    set_ev_cls,
)
from ryu.lib import hub
from ryu.ofproto import ofproto_v1_3

from apps import readback
from apps.channel import Channel
from apps.context import MetroshareContext
from apps.installer import Installer

# Error codes per OFPET_* type, named by their prefix in ofproto_v1_3.
_CODE_PREFIX = {
    "OFPET_HELLO_FAILED": "OFPHFC_", "OFPET_BAD_REQUEST": "OFPBRC_",
    "OFPET_BAD_ACTION": "OFPBAC_", "OFPET_BAD_INSTRUCTION": "OFPBIC_",
    "OFPET_BAD_MATCH": "OFPBMC_", "OFPET_FLOW_MOD_FAILED": "OFPFMFC_",
    "OFPET_GROUP_MOD_FAILED": "OFPGMFC_", "OFPET_PORT_MOD_FAILED": "OFPPMFC_",
    "OFPET_TABLE_MOD_FAILED": "OFPTMFC_", "OFPET_SWITCH_CONFIG_FAILED": "OFPSCFC_",
    "OFPET_METER_MOD_FAILED": "OFPMMFC_", "OFPET_TABLE_FEATURES_FAILED": "OFPTFFC_",
}


def error_text(err_type: int, code: int) -> str:
    """'OFPET_FLOW_MOD_FAILED/OFPFMFC_TABLE_FULL' from the numbers of an OFPT_ERROR."""
    names = vars(ofproto_v1_3)
    type_name = next((n for n, v in names.items() if n.startswith("OFPET_") and v == err_type),
                     f"type {err_type}")
    prefix = _CODE_PREFIX.get(type_name)
    code_name = next((n for n, v in names.items()
                      if prefix and n.startswith(prefix) and v == code), f"code {code}")
    return f"{type_name}/{code_name}"


class Provisioning(app_manager.RyuApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]
    _CONTEXTS = {"metroshare": MetroshareContext}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        context: MetroshareContext = kwargs["metroshare"]
        self.topology = context.topology
        self.channel = Channel()
        self.installer = Installer(context.topology, self.channel, context.core.desired_intents)
        context.core.set_provisioner("ethernet", self.installer)
        self.reconcile_due: set[str] = set()  # switches with a reconciliation queued

    @set_ev_cls(ofp_event.EventOFPStateChange, [MAIN_DISPATCHER, DEAD_DISPATCHER])
    def state_change_handler(self, ev) -> None:
        datapath = ev.datapath
        switch = self.topology.switch_by_dpid(datapath.id) if datapath.id else None
        if switch is None:
            return
        if ev.state == MAIN_DISPATCHER:
            self.installer.switch_connected(switch.name, datapath)
            self._queue_reconcile(switch.name)
        else:
            self.channel.on_disconnect(datapath.id)
            self.installer.switch_disconnected(switch.name, datapath)

    @set_ev_cls(ofp_event.EventOFPFlowRemoved, MAIN_DISPATCHER)
    def flow_removed_handler(self, ev) -> None:
        """Someone deleted a flow the switch should hold (e.g. `ovs-ofctl del-flows`)."""
        msg = ev.msg
        switch = self.topology.switch_by_dpid(msg.datapath.id)
        if switch and self.installer.lost(switch.name, msg.table_id, msg.priority,
                                          readback.match_value(msg.match)):
            self._queue_reconcile(switch.name)

    def _queue_reconcile(self, name: str) -> None:
        """One reconciliation at a time per switch, however many events asked for it."""
        if name not in self.reconcile_due:
            self.reconcile_due.add(name)
            hub.spawn(self._reconcile, name)

    def _reconcile(self, name: str) -> None:
        self.reconcile_due.discard(name)
        error = self.installer.reconcile(name)
        if error:
            self.logger.error("switch %s not reconciled: %s", name, error)
        else:
            self.logger.info("switch %s reconciled with the desired state", name)

    @set_ev_cls(ofp_event.EventOFPBarrierReply, MAIN_DISPATCHER)
    def barrier_reply_handler(self, ev) -> None:
        self.channel.on_barrier_reply(ev.msg.datapath.id, ev.msg.xid)

    @set_ev_cls([ofp_event.EventOFPFlowStatsReply, ofp_event.EventOFPGroupDescStatsReply,
                 ofp_event.EventOFPMeterConfigStatsReply], MAIN_DISPATCHER)
    def multipart_reply_handler(self, ev) -> None:
        msg = ev.msg
        more = bool(msg.flags & msg.datapath.ofproto.OFPMPF_REPLY_MORE)
        self.channel.on_reply(msg.datapath.id, msg.xid, msg.body, more)

    @set_ev_cls(ofp_event.EventOFPErrorMsg, [CONFIG_DISPATCHER, MAIN_DISPATCHER])
    def error_msg_handler(self, ev) -> None:
        msg = ev.msg
        text = error_text(msg.type, msg.code)
        if not self.channel.on_error(msg.datapath.id, msg.xid, text):
            self.logger.warning("switch dpid %#x sent an error for xid %#x: %s",
                                msg.datapath.id or 0, msg.xid, text)
