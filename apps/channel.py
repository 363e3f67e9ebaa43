"""Request and reply over OpenFlow: batches confirmed by one barrier, readback.

Why its own module: OpenFlow answers asynchronously, while `apply` and
reconciliation want to block until a switch confirmed. Messages of a batch
go back to back (packed into large writes), then ONE barrier; OVS handles
messages in order, so every error of the batch arrives before the barrier
reply and is matched to its message by xid. Callers block on eventlet
events with a bounded timeout; the Ryu app feeds replies in through the
`on_*` methods from its event handlers. Must not be called from a Ryu event
handler itself (the handler thread delivers the replies).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ryu.controller import ofp_event
from ryu.controller.handler import CONFIG_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
from ryu.lib import hub
from ryu.ofproto import ofproto_v1_3

from apps import reconcile
from apps.ofwire import barrier_request
from flows.diff import Op

MAX_XID = 0xFFFFFFFF
WRITE_CHUNK = 256 * 1024  # bytes per socket write: few context switches, bounded memory


@dataclass
class _Waiter:
    """One outstanding request: done when its last reply (or an error) arrived."""

    event: hub.Event = field(default_factory=hub.Event)
    replies: list = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    refused: list[tuple[Op, str]] = field(default_factory=list)  # messages refused, and why


class ChannelError(Exception):
    """A switch refused a request or did not answer in time; the message names it."""


def _allocate_xids(datapath, count: int) -> int:
    """Reserve `count` consecutive xids on `datapath`; the same counter Ryu uses."""
    first = (datapath.xid + 1) & MAX_XID
    datapath.xid = (datapath.xid + count) & MAX_XID
    return first


class Channel:
    """Outstanding requests of every switch, keyed by (dpid, xid)."""

    def __init__(self) -> None:
        self._waiting: dict[tuple[int, int], _Waiter] = {}
        self._ops: dict[tuple[int, int], tuple[_Waiter, Op]] = {}

    # -- called by the app's event handlers ---------------------------------

    def on_reply(self, dpid: int, xid: int, body: list, more: bool) -> None:
        waiter = self._waiting.get((dpid, xid))
        if waiter is not None:
            waiter.replies.extend(body)
            if not more:
                waiter.event.set()

    def on_barrier_reply(self, dpid: int, xid: int) -> None:
        self.on_reply(dpid, xid, [], more=False)

    def on_error(self, dpid: int, xid: int, text: str) -> bool:
        """Records an error for the request or batch message `xid`; False if unknown."""
        if (dpid, xid) in self._ops:
            waiter, op = self._ops[(dpid, xid)]
            waiter.errors.append(f"{reconcile.describe(op)}: {text}")
            waiter.refused.append((op, waiter.errors[-1]))
            return True
        waiter = self._waiting.get((dpid, xid))
        if waiter is None:
            return False
        waiter.errors.append(text)
        waiter.event.set()
        return True

    def on_disconnect(self, dpid: int) -> None:
        """Wakes every caller waiting on a switch that went away."""
        for (d, _), waiter in list(self._waiting.items()):
            if d == dpid:
                waiter.errors.append("switch disconnected")
                waiter.event.set()

    # -- called by provisioning and reconciliation ---------------------------

    def send_batch(self, datapath, ops: list[Op]) -> tuple[int, _Waiter]:
        """Send `ops` then a barrier; returns the barrier's xid and its waiter."""
        dpid = datapath.id
        first = _allocate_xids(datapath, len(ops) + 1)
        waiter = _Waiter()
        chunk: list[bytes] = []
        size = 0
        for xid, op, buf in reconcile.iter_encoded(ops, first):
            self._ops[(dpid, xid)] = (waiter, op)
            chunk.append(buf)
            size += len(buf)
            if size >= WRITE_CHUNK:
                datapath.send(b"".join(chunk))
                chunk, size = [], 0
        barrier_xid = (first + len(ops)) & MAX_XID
        self._waiting[(dpid, barrier_xid)] = waiter
        chunk.append(barrier_request(barrier_xid))
        datapath.send(b"".join(chunk))
        return barrier_xid, waiter

    def wait_batch(self, dpid: int, barrier_xid: int, waiter: _Waiter, count: int,
                   timeout: float) -> tuple[list[str], list[tuple[Op, str]]]:
        """Block until the batch's barrier reply. Returns every error (empty: all
        applied) and, of those, the ones that name a refused message, with it."""
        try:
            if not waiter.event.wait(timeout):
                waiter.errors.append(f"no barrier reply within {timeout:g} s")
        finally:
            self._waiting.pop((dpid, barrier_xid), None)
            first = (barrier_xid - count) & MAX_XID
            for i in range(count):
                self._ops.pop((dpid, (first + i) & MAX_XID), None)
        return waiter.errors, waiter.refused

    def request(self, datapath, msg, timeout: float) -> list:
        """Send a multipart request (a Ryu message) and return every reply's body."""
        xid = _allocate_xids(datapath, 1)
        msg.set_xid(xid)
        waiter = _Waiter()
        self._waiting[(datapath.id, xid)] = waiter
        try:
            datapath.send_msg(msg)
            if not waiter.event.wait(timeout):
                raise ChannelError(f"no reply to {type(msg).__name__} within {timeout:g} s")
            if waiter.errors:
                raise ChannelError(f"{type(msg).__name__}: {'; '.join(waiter.errors)}")
            return waiter.replies
        finally:
            self._waiting.pop((datapath.id, xid), None)


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


class ChannelReplies:
    """Ryu app mixin: hands barrier replies, multipart replies and errors to `self.channel`.

    The app defines `self.channel` (a `Channel`) and `self.logger` (every RyuApp has one).
    """

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
