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

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ryu.controller import ofp_event
from ryu.controller.handler import CONFIG_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
from ryu.lib import hub
from ryu.ofproto import ofproto_v1_3

from apps import reconcile
from apps.ofwire import barrier_request
from flows.diff import Op

MAX_XID = 0xFFFFFFFF
WRITE_CHUNK = 256 * 1024  # bytes per socket write: few context switches, bounded memory


def _same(entry: Any) -> Any:
    return entry


@dataclass
class _Waiter:
    """One outstanding request: done when its last reply (or an error) arrived."""

    event: hub.Event = field(default_factory=hub.Event)
    replies: list = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    refused: list[tuple[Op, str]] = field(default_factory=list)  # messages refused, and why
    convert: Callable[[Any], Any] = field(default=_same)


class ChannelError(Exception):
    """A switch refused a request or did not answer in time; the message names it."""


def _allocate_xids(datapath, count: int) -> int:
    """Reserve `count` consecutive xids on `datapath`; the same counter Ryu uses."""
    first = (datapath.xid + 1) & MAX_XID
    datapath.xid = (datapath.xid + count) & MAX_XID
    return first


class Channel:
    """Outstanding requests, keyed by (connection, xid).

    Keyed by the connection (Ryu's `Datapath`), not the dpid: a switch that
    reconnects while its old connection is being torn down gets its replies
    on the new one, and the old one's loss wakes only the old one's waiters."""

    def __init__(self) -> None:
        self._waiting: dict[tuple[int, int], _Waiter] = {}
        self._ops: dict[tuple[int, int], tuple[_Waiter, Op]] = {}

    # -- called by the app's event handlers ---------------------------------

    def on_reply(self, datapath, xid: int, body: list, more: bool) -> None:
        waiter = self._waiting.get((datapath, xid))
        if waiter is not None:
            # Converted as they arrive: a whole switch's parsed Ryu objects
            # (tens of thousands) are never alive at once.
            waiter.replies.extend(map(waiter.convert, body))
            if not more:
                waiter.event.set()

    def on_barrier_reply(self, datapath, xid: int) -> None:
        self.on_reply(datapath, xid, [], more=False)

    def on_error(self, datapath, xid: int, text: str) -> bool:
        """Records an error for the request or batch message `xid`; False if unknown."""
        if (datapath, xid) in self._ops:
            waiter, op = self._ops[(datapath, xid)]
            waiter.errors.append(f"{reconcile.describe(op)}: {text}")
            waiter.refused.append((op, waiter.errors[-1]))
            return True
        waiter = self._waiting.get((datapath, xid))
        if waiter is None:
            return False
        waiter.errors.append(text)
        waiter.event.set()
        return True

    def on_disconnect(self, datapath) -> None:
        """Wakes every caller waiting on a switch that went away."""
        for (d, _), waiter in list(self._waiting.items()):
            if d is datapath:
                waiter.errors.append("switch disconnected")
                waiter.event.set()

    # -- called by provisioning and reconciliation ---------------------------

    def send_batch(self, datapath, ops: list[Op]) -> tuple[int, _Waiter]:
        """Send `ops` then a barrier; returns the barrier's xid and its waiter."""
        first = _allocate_xids(datapath, len(ops) + 1)
        waiter = _Waiter()
        chunk: list[bytes] = []
        size = 0
        for xid, op, buf in reconcile.iter_encoded(ops, first):
            self._ops[(datapath, xid)] = (waiter, op)
            chunk.append(buf)
            size += len(buf)
            if size >= WRITE_CHUNK:
                datapath.send(b"".join(chunk))
                chunk, size = [], 0
        barrier_xid = (first + len(ops)) & MAX_XID
        self._waiting[(datapath, barrier_xid)] = waiter
        chunk.append(barrier_request(barrier_xid))
        datapath.send(b"".join(chunk))
        return barrier_xid, waiter

    def wait_batch(self, datapath, barrier_xid: int, waiter: _Waiter, count: int,
                   timeout: float) -> tuple[list[str], list[tuple[Op, str]]]:
        """Block until the batch's barrier reply. Returns every error (empty: all
        applied) and, of those, the ones that name a refused message, with it."""
        try:
            if not waiter.event.wait(timeout):
                waiter.errors.append(f"no barrier reply within {timeout:g} s")
        finally:
            self._waiting.pop((datapath, barrier_xid), None)
            first = (barrier_xid - count) & MAX_XID
            for i in range(count):
                self._ops.pop((datapath, (first + i) & MAX_XID), None)
        return waiter.errors, waiter.refused

    def request(self, datapath, msg, timeout: float,
                convert: Callable[[Any], Any] = _same) -> list:
        """Send a multipart request (a Ryu message); every reply's body, each entry
        passed through `convert` as it arrives."""
        xid = _allocate_xids(datapath, 1)
        msg.set_xid(xid)
        waiter = _Waiter(convert=convert)
        self._waiting[(datapath, xid)] = waiter
        try:
            datapath.send_msg(msg)
            if not waiter.event.wait(timeout):
                raise ChannelError(f"no reply to {type(msg).__name__} within {timeout:g} s")
            if waiter.errors:
                raise ChannelError(f"{type(msg).__name__}: {'; '.join(waiter.errors)}")
            return waiter.replies
        finally:
            self._waiting.pop((datapath, xid), None)


# Error codes per OFPET_* type, named by their prefix in ofproto_v1_3.
_CODE_PREFIX = {
    "OFPET_HELLO_FAILED": "OFPHFC_", "OFPET_BAD_REQUEST": "OFPBRC_",
    "OFPET_BAD_ACTION": "OFPBAC_", "OFPET_BAD_INSTRUCTION": "OFPBIC_",
    "OFPET_BAD_MATCH": "OFPBMC_", "OFPET_FLOW_MOD_FAILED": "OFPFMFC_",
    "OFPET_GROUP_MOD_FAILED": "OFPGMFC_", "OFPET_PORT_MOD_FAILED": "OFPPMFC_",
    "OFPET_TABLE_MOD_FAILED": "OFPTMFC_", "OFPET_SWITCH_CONFIG_FAILED": "OFPSCFC_",
    "OFPET_METER_MOD_FAILED": "OFPMMFC_", "OFPET_TABLE_FEATURES_FAILED": "OFPTFFC_",
    "OFPET_ROLE_REQUEST_FAILED": "OFPRRFC_",
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
        self.channel.on_barrier_reply(ev.msg.datapath, ev.msg.xid)

    @set_ev_cls([ofp_event.EventOFPFlowStatsReply, ofp_event.EventOFPGroupDescStatsReply,
                 ofp_event.EventOFPMeterConfigStatsReply], MAIN_DISPATCHER)
    def multipart_reply_handler(self, ev) -> None:
        msg = ev.msg
        more = bool(msg.flags & msg.datapath.ofproto.OFPMPF_REPLY_MORE)
        self.channel.on_reply(msg.datapath, msg.xid, msg.body, more)

    @set_ev_cls(ofp_event.EventOFPRoleReply, MAIN_DISPATCHER)
    def role_reply_handler(self, ev) -> None:
        self.channel.on_reply(ev.msg.datapath, ev.msg.xid, [ev.msg], more=False)

    @set_ev_cls(ofp_event.EventOFPErrorMsg, [CONFIG_DISPATCHER, MAIN_DISPATCHER])
    def error_msg_handler(self, ev) -> None:
        msg = ev.msg
        text = error_text(msg.type, msg.code)
        if not self.channel.on_error(msg.datapath, msg.xid, text):
            self.logger.warning("switch dpid %#x sent an error for xid %#x: %s",
                                msg.datapath.id or 0, msg.xid, text)
