"""The ethernet provisioner: compiled tables onto the switches, confirmed.

`Installer.submit` is what the service core calls (`EthernetProvisioner`);
`Installer.reconcile` is what a switch connection triggers. The desired
state is kept per service and switch (`flows.desired.NetworkState`), so a
change compiles and diffs its own service only. Each switch has a queue and
at most one round in flight: changes that arrive while a round waits for its
barrier join the next round — one diff, one send and one barrier per switch
for the whole batch (group commit) — and each caller returns when every
switch it touched confirmed. A refused message fails only the service it
belongs to. What a switch confirmed is remembered per service, so rounds
send only the diff; after an error or a reconnect the switch's tables are
read back first and reconciled whole.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from ryu.lib import hub

from apps import readback
from apps.channel import Channel, ChannelError
from controller import metrics
from controller.provisioning import INSTALLED, ProvisionResult, Settled
from flows.desired import NetworkState, union
from flows.diff import Op, plan
from flows.intent import ServiceIntent
from flows.rules import Flow, SwitchTables, service_of_cookie
from topology.model import Topology

LOG = logging.getLogger("metroshare.provisioning")
BARRIER_TIMEOUT_S = 3.0   # a connected switch that answers nothing in this time has failed
READBACK_TIMEOUT_S = 3.0
# Changes by others that remove nothing (an added flow, an altered action) send
# no event; the provisioning app reads back and reconciles every switch this often.
AUDIT_INTERVAL_S = 30.0
NOT_CONNECTED = "failed: switch not connected"
SEED_PAUSE_EVERY = 100  # services compiled at start between two yields to the hub


@dataclass(eq=False)
class _Ticket:
    """One service's change waiting for a switch; `service_id` None: reconcile it whole."""

    service_id: int | None
    adds: bool = False
    done: hub.Event = field(default_factory=hub.Event)
    status: str = ""
    error: str | None = None

    def settle(self, status: str, error: str | None = None) -> None:
        self.status, self.error = status, error
        self.done.set()


@dataclass(eq=False)
class _Switch:
    """A switch's queue, and what it confirmed per service (None: read it back first)."""

    confirmed: dict[int, SwitchTables] | None = None
    waiting: list[_Ticket] = field(default_factory=list)
    busy: bool = False
    epoch: int = 0  # bumped on (dis)connection: a round of an older connection proves nothing


class Pending:
    """A submitted change: `wait` blocks until every switch it touched answered."""

    def __init__(self, installer: Installer, tickets: dict[str, _Ticket],
                 span: list[str]) -> None:
        self.installer, self.tickets, self.span = installer, tickets, span
        self.started = time.monotonic()

    def wait(self) -> ProvisionResult:
        statuses: dict[str, str] = {}
        errors: list[str] = []
        for switch in self.span:
            ticket = self.tickets.get(switch)
            if ticket is None:  # its rules there did not change: as installed as before
                statuses[switch] = INSTALLED
                continue
            ticket.done.wait()
            statuses[switch] = ticket.status
            if ticket.error:
                errors.append(ticket.error)
        metrics.PROVISIONING_SECONDS.observe(time.monotonic() - self.started)
        ok = not errors
        return ProvisionResult(ok=ok, switches=statuses, error=None if ok else "; ".join(errors))


class Installer:
    """Keeps the switches equal to the compiled state of the live services."""

    def __init__(self, topology: Topology, channel: Channel,
                 desired_intents: Callable[[], Iterable[ServiceIntent]]) -> None:
        self.topology = topology
        self.channel = channel
        self.datapaths: dict[str, object] = {}          # connected switches by name
        self._desired_intents = desired_intents
        self._state: NetworkState | None = None
        self._seeding: hub.Event | None = None  # set once the state is compiled
        self._switches = {name: _Switch() for name in topology.switches}

    @property
    def state(self) -> NetworkState:
        """What is installed, as this provisioner made it; seeded once from the core.

        The database is read before the first change (`start_seeding`, at start):
        read inside a change, it would take that change, already committed, as
        installed. The audit re-derives it later (`resync`).
        """
        if self._state is None:
            if self._seeding is None:
                self._seed(list(self._desired_intents()), pause_every=0)
            else:
                self._seeding.wait()
        return self._state

    def start_seeding(self) -> None:
        """Read the desired state now, compile it in the background: the API and
        the switches' connections start meanwhile; a change or a round waits for it."""
        intents = list(self._desired_intents())
        self._seeding = hub.Event()
        hub.spawn(self._seed, intents, SEED_PAUSE_EVERY)

    def _seed(self, intents: list[ServiceIntent], pause_every: int) -> None:
        state = NetworkState(self.topology)
        for n, intent in enumerate(intents, 1):
            _set_stored(state, intent)
            if pause_every and n % pause_every == 0:
                hub.sleep(0)  # let the hub answer switches and requests meanwhile
        self._state = state
        if self._seeding is not None:
            self._seeding.set()

    def resync(self) -> None:
        """The database is the only desired state: re-derive it and correct this
        provisioner's own state where it differs (the audit's reconciliation then
        makes the switches agree). Run by the audit, never during a change."""
        if self._state is None:
            return  # not seeded yet: it will be from the database
        wanted = {i.service_id: i for i in self._desired_intents() if i.members}
        for sid in sorted(wanted.keys() | self._state.intents.keys()):
            have = self._state.intents.get(sid)
            want = wanted.get(sid) or replace(have, members=())
            if want == have:
                continue
            changed = _set_stored(self._state, want)
            if changed:
                LOG.warning("service %d: the provisioner's state differed from the database "
                            "on %s; corrected", sid, ", ".join(s for s, _ in changed))

    # -- the core's EthernetProvisioner ---------------------------------------

    def submit(self, intent: ServiceIntent) -> Pending | Settled:
        """Make `intent` the desired state of its service and queue it for its switches.

        Returns at once (no switch I/O): the core calls it under its lock."""
        try:
            changes = self.state.set(intent)
        except ValueError as exc:  # the compiler refused it, or it clashes: nothing changed
            return Settled(ProvisionResult(ok=False, error=str(exc)))
        tickets = {s: self._submit(s, _Ticket(intent.service_id, c.adds)) for s, c in changes}
        span = tickets.keys() | self.state.switches_of(intent.service_id)
        return Pending(self, tickets, sorted(span))

    def apply(self, intent: ServiceIntent) -> ProvisionResult:
        """`submit` and wait: for callers that hold no lock (tests, benchmarks)."""
        return self.submit(intent).wait()

    # -- switch connections ----------------------------------------------------

    def switch_connected(self, name: str, datapath) -> None:
        self.datapaths[name] = datapath
        self._forget(name)  # what it holds now is unknown: read it back

    def switch_disconnected(self, name: str, datapath) -> None:
        if self.datapaths.get(name) is datapath:
            del self.datapaths[name]
            self._forget(name)

    def _forget(self, name: str) -> None:
        queue = self._switches[name]
        queue.confirmed = None
        queue.epoch += 1

    def lost(self, name: str, table: int, priority: int, match: tuple, cookie: int) -> bool:
        """True when someone else removed a flow the switch should hold: read it back.

        The cookie tells a removal of ours (the flow of a service that is gone,
        whose match a newer service may hold by now) from a loss."""
        return self._state is not None and self._state.holds(name, (table, priority, match),
                                                             cookie)

    def reconcile(self, name: str) -> str | None:
        """Make one switch equal to the compiled state; None on success, else the error."""
        ticket = self._submit(name, _Ticket(None))
        ticket.done.wait()
        return ticket.error

    # -- the rounds ---------------------------------------------------------------

    def _submit(self, switch: str, ticket: _Ticket) -> _Ticket:
        """Queue a change for the switch's next round; start the round if none runs."""
        queue = self._switches[switch]
        queue.waiting.append(ticket)
        metrics.QUEUE_DEPTH.inc()
        if not queue.busy:
            queue.busy = True
            hub.spawn(self._drain, switch)
        return ticket

    def _drain(self, switch: str) -> None:
        """Rounds until the queue is empty; every ticket is settled, whatever happens."""
        queue = self._switches[switch]
        try:
            while queue.waiting:
                batch, queue.waiting = queue.waiting, []
                metrics.QUEUE_DEPTH.dec(len(batch))
                metrics.BATCH_SIZE.observe(len(batch))
                try:
                    self._round(switch, batch)
                except Exception:  # a bug: fail the batch, keep serving the switch
                    LOG.exception("switch %s: provisioning round failed", switch)
                    queue.confirmed = None
                finally:
                    for ticket in batch:
                        if not ticket.done.is_set():
                            ticket.settle("failed: internal error", f"{switch}: internal error")
        finally:
            queue.busy = False

    def _round(self, switch: str, batch: list[_Ticket]) -> None:
        """One diff, one send and one barrier for every change waiting for `switch`."""
        queue = self._switches[switch]
        datapath = self.datapaths.get(switch)
        if datapath is None:
            for ticket in batch:
                ticket.settle(NOT_CONNECTED,
                              f"switch {switch} is not connected" if ticket.adds else None)
            return
        epoch = queue.epoch
        whole = queue.confirmed is None or any(t.service_id is None for t in batch)
        if whole:
            try:
                actual = self._read(datapath)
            except ChannelError as exc:
                for ticket in batch:
                    ticket.settle(f"failed: {exc}", f"{switch}: {exc}")
                return
            wanted = self.state.parts(switch)
            ops = plan(actual, self.state.tables(switch, wanted))
            before: dict[int, SwitchTables] = {}
        else:
            before = {t.service_id: queue.confirmed.get(t.service_id) for t in batch}
            wanted = {sid: self.state.part(switch, sid) for sid in before}
            ops = plan(union(before.values()), union(wanted.values()))
        errors, refused = self._send(switch, datapath, ops, whole) if ops else ([], [])
        if queue.epoch == epoch and not errors:
            if whole:
                queue.confirmed = {sid: part for sid, part in wanted.items()}
            else:
                for sid, part in wanted.items():
                    if part is None:
                        queue.confirmed.pop(sid, None)
                    else:
                        queue.confirmed[sid] = part
        elif errors:
            queue.confirmed = None
        blame = _blame(refused, before, wanted) if len(refused) == len(errors) else None
        for ticket in batch:
            error = None
            if errors:
                whole_batch = ticket.service_id is None or blame is None
                error = errors[0] if whole_batch else blame.get(ticket.service_id)
            if error:
                ticket.settle(f"failed: {error}", f"{switch}: {error}")
            else:
                ticket.settle(INSTALLED)

    def _send(self, switch: str, datapath, ops: list[Op],
              whole: bool) -> tuple[list[str], list[tuple[Op, str]]]:
        """Send the batch and its barrier; the errors, and which messages were refused."""
        (LOG.info if whole else LOG.debug)("switch %s: sending %s", switch, _summary(ops))
        started = time.monotonic()
        barrier_xid, waiter = self.channel.send_batch(datapath, ops)
        metrics.FLOW_MODS_SENT.inc(sum(op.kind.startswith("flow") for op in ops))
        errors, refused = self.channel.wait_batch(datapath, barrier_xid, waiter, len(ops),
                                                  BARRIER_TIMEOUT_S)
        metrics.BARRIER_SECONDS.labels(switch=switch).observe(time.monotonic() - started)
        if errors:
            LOG.error("switch %s refused changes: %s", switch, "; ".join(errors))
        return errors, refused

    def _read(self, datapath) -> SwitchTables:
        """The flow, group and meter tables the switch reports."""
        ofp, parser = datapath.ofproto, datapath.ofproto_parser
        flows = self.channel.request(datapath, parser.OFPFlowStatsRequest(
            datapath, table_id=ofp.OFPTT_ALL, out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY),
            READBACK_TIMEOUT_S, readback.flow_value)
        groups = self.channel.request(datapath, parser.OFPGroupDescStatsRequest(datapath),
                                      READBACK_TIMEOUT_S, readback.group_value)
        meters = self.channel.request(datapath, parser.OFPMeterConfigStatsRequest(
            datapath, meter_id=ofp.OFPM_ALL), READBACK_TIMEOUT_S, readback.meter_value)
        return SwitchTables(frozenset(flows), frozenset(groups), frozenset(meters))


def _set_stored(state: NetworkState, intent: ServiceIntent) -> list:
    """`state.set` for a service read from the database: one that does not compile
    or clashes is logged and left out, so it cannot stop the others."""
    try:
        return state.set(intent)
    except ValueError as exc:
        LOG.error("service %d not installed: %s", intent.service_id, exc)
        return []


def _blame(refused: list[tuple[Op, str]], before: dict[int, SwitchTables],
           wanted: dict[int, SwitchTables | None]) -> dict[int, str] | None:
    """Service id -> the first error of a message of its own; None when some refused
    message belongs to no single service (then the whole batch failed)."""
    out: dict[int, str] = {}
    for op, error in refused:
        value = op.value
        if isinstance(value, int):
            sid = service_of_cookie(value)
        elif isinstance(value, Flow):
            sid = service_of_cookie(value.cookie)
        else:
            sid = next((s for parts in (before, wanted) for s, p in parts.items()
                        if p is not None and (value in p.groups or value in p.meters)), None)
        if sid is None:
            return None
        out.setdefault(sid, error)
    return out


def _summary(ops: list) -> str:
    counts: dict[str, int] = {}
    for op in ops:
        counts[op.kind] = counts.get(op.kind, 0) + 1
    return ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
