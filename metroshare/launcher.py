"""Runs Ryu in this process with metroshare's apps.

The one place for the Python 3.11 compatibility shims Ryu 4.34 needs; the
rest of the project imports Ryu only under `apps/`.
"""

from __future__ import annotations

import logging
import signal
import socket
import ssl
import sys
from typing import Any

from metroshare.settings import DatabaseInUseError, Settings, is_sqlite_path, lock_sqlite_database

# The Ryu applications `metroshare controller` loads, in start order.
APPS = [
    "apps.switches",
    "apps.provisioning", "apps.opstate", "apps.expiry", "apps.webhooks",
    "apps.rest",
]


def apply_shims() -> None:
    """Make Ryu 4.34 importable on Python 3.11 with eventlet 0.33.3.

    eventlet >= 0.30.3 dropped `eventlet.wsgi.ALREADY_HANDLED`, which
    `ryu.app.wsgi` reads in a class body at import time.
    """
    import eventlet.wsgi

    if not hasattr(eventlet.wsgi, "ALREADY_HANDLED"):
        eventlet.wsgi.ALREADY_HANDLED = object()


def _decode_read_back_fast() -> None:
    """Decode flow-stats and group-desc replies straight into rule values
    (`apps.readback.FlowStatsEntry`, `GroupDescEntry`), and let other green
    threads run after each multipart reply.

    Ryu parses every entry into an object tree (~70 µs a flow), and its receive
    loop yields only every 2,048 messages: a read-back of a switch with 10,000
    flows and 3,000 groups (tens of 64 KiB replies) held the controller's one
    thread for up to half a second at a time, at every restart, reconnect and
    30 s audit, stalling every request and barrier meanwhile. Only metroshare
    reads these tables in this process."""
    from ryu.lib import hub
    from ryu.ofproto import ofproto_v1_3, ofproto_v1_3_parser

    from apps.readback import FlowStatsEntry, GroupDescEntry

    ofproto_v1_3_parser.OFPFlowStatsReply.cls_stats_body_cls = FlowStatsEntry
    ofproto_v1_3_parser.OFPGroupDescStatsReply.cls_stats_body_cls = GroupDescEntry
    parsers = ofproto_v1_3_parser._MSG_PARSERS
    parse = parsers[ofproto_v1_3.OFPT_MULTIPART_REPLY]

    def parse_then_yield(*args: Any) -> Any:
        msg = parse(*args)
        hub.sleep(0)
        return msg

    parsers[ofproto_v1_3.OFPT_MULTIPART_REPLY] = parse_then_yield


FREEZE_EVERY_S = 30.0   # what survived this long is moved out of the collector's way
UNFREEZE_EVERY = 20     # freezes; then one full collection (every 10 minutes)


def _keep_long_lived_out_of_gc() -> None:
    """Every 30 s, collect what is new and freeze what survived (`gc.freeze`).

    With thousands of services the controller holds millions of long-lived
    objects (compiled rules, intents, read-back tables), and each full
    collection walked all of them: 90 ms at start, 250 ms at 4,000 services,
    every few seconds under load, with the one thread that answers switches
    and requests stopped meanwhile. Frozen objects are still freed when their
    last reference goes (reference counting); only a cycle among them that
    becomes garbage waits for the full collection every `UNFREEZE_EVERY`."""
    import gc

    from ryu.lib import hub

    def freeze() -> None:
        freezes = 0
        while True:
            hub.sleep(FREEZE_EVERY_S)
            freezes += 1
            if freezes % UNFREEZE_EVERY == 0:
                gc.unfreeze()
            gc.collect()
            gc.freeze()

    hub.spawn(freeze)


LAG_PROBE_S = 0.05


def _measure_hub_lag() -> None:
    """`metroshare_hub_lag_seconds`: how late a timer fires says how long the
    controller's one thread was held by something that did not yield (a large
    read-back, a collection, a long request), which every switch and request
    waited for."""
    import time

    from ryu.lib import hub

    from controller import metrics

    def probe() -> None:
        while True:
            started = time.monotonic()
            hub.sleep(LAG_PROBE_S)
            metrics.HUB_LAG.observe(max(0.0, time.monotonic() - started - LAG_PROBE_S))

    hub.spawn(probe)


TLS_HANDSHAKE_TIMEOUT_S = 10  # a peer that stalls its handshake is dropped after this
LOG = logging.getLogger("metroshare.launcher")
_main_greenlet = None  # the green thread that runs Ryu's manager: where a stop signal goes


def _fix_tls_listener() -> None:
    """Ryu 4.34's TLS listener serves only the first switch on Python 3.

    Its `hub.StreamServer` configures the SSLContext inside the per-connection
    handler by popping `ssl_ctx`, `certfile`, `keyfile`, `cert_reqs` and
    `ca_certs` out of the one `ssl_args` dict it shares with every later
    connection: the second switch falls through to `ssl.wrap_socket` with no
    certificate at all and is dropped. Ryu fixed it after 4.34 (faucetsdn/ryu
    906b3a3e, "Bugfix now multiple switches can connect with TLS") by building
    the context once in `__init__`; this does the same, and also refuses TLS
    older than 1.2, bounds the handshake, and logs a refused peer in one line.
    """
    from ryu.controller import controller
    from ryu.lib import hub

    class StreamServer(hub.StreamServer):
        def __init__(self, listen_info, handle=None, backlog=None, spawn="default",
                     **ssl_args) -> None:
            super().__init__(listen_info, handle, backlog, spawn)
            if ssl_args:
                self.handle = _tls_handler(_server_context(ssl_args), handle)

    controller.StreamServer = StreamServer


def _server_context(ssl_args: dict) -> ssl.SSLContext:
    """One server context for every connection, from the arguments Ryu passes."""
    context = ssl_args.get("ssl_ctx") or ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(ssl_args["certfile"], ssl_args["keyfile"])
    if ssl_args.get("ca_certs"):
        context.load_verify_locations(ssl_args["ca_certs"])
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _tls_handler(context: ssl.SSLContext, handle):
    def wrap_and_handle(sock, addr) -> None:
        sock.settimeout(TLS_HANDSHAKE_TIMEOUT_S)
        try:
            tls = context.wrap_socket(sock, server_side=True)
        except (ssl.SSLEOFError, ConnectionResetError):
            LOG.debug("OpenFlow TLS connection from %s closed before its handshake", addr[0])
            sock.close()
            return
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            LOG.warning("OpenFlow TLS connection from %s refused: %s", addr[0], exc)
            sock.close()
            return
        handle(tls, addr)

    return wrap_and_handle


def _port_in_use(host: str, port: int) -> OSError | None:
    """Ryu listens with SO_REUSEPORT, so a second controller on the same OpenFlow
    port would silently share the switches; a plain bind tells us first."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc
    return None


def _stop_on_sigterm(signum: int, frame: object) -> None:
    # Ryu's manager treats KeyboardInterrupt as "close every app and return"; a
    # second signal must not interrupt that closing half-way.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import greenlet
    from eventlet import hubs

    main = _main_greenlet or greenlet.getcurrent()
    if greenlet.getcurrent() is main:
        raise KeyboardInterrupt
    # The signal lands in whichever green thread runs now (a TLS handshake, say),
    # where Ryu's `hub.spawn` would log the KeyboardInterrupt and swallow it: throw
    # it into the main green thread, waiting in Ryu's manager, from the hub's loop.
    hubs.get_hub().schedule_call_global(0, main.throw, KeyboardInterrupt())


# The SQLite lock's descriptor: open until the process ends.
_hold_forever: list[int] = []


def run_controller(settings: Settings, apps: list[str] | None = None) -> int:
    """Run the controller in the foreground until SIGTERM or SIGINT."""
    in_use = _port_in_use(settings.ofp_host, settings.ofp_port)
    if in_use is not None:
        print(f"metroshare: cannot listen for OpenFlow on port {settings.ofp_port} of "
              f"{settings.ofp_host}: {in_use.strerror}", file=sys.stderr)
        return 1
    if is_sqlite_path(settings.db):
        try:
            _hold_forever.append(lock_sqlite_database(settings.db))
        except DatabaseInUseError as exc:
            print(f"metroshare: {exc}", file=sys.stderr)
            return 1
    apply_shims()
    from apps import context

    context.configure(settings)
    from ryu.cmd import manager  # monkey-patches for eventlet, then imports the controller

    _fix_tls_listener()
    _decode_read_back_fast()
    _keep_long_lived_out_of_gc()
    _measure_hub_lag()
    global _main_greenlet
    import greenlet

    _main_greenlet = greenlet.getcurrent()
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    signal.signal(signal.SIGINT, _stop_on_sigterm)
    args = ["--ofp-listen-host", settings.ofp_host]
    if settings.ofp_tls is None:
        args += ["--ofp-tcp-listen-port", str(settings.ofp_port)]
    else:  # TLS only: Ryu opens no plain listener when only the SSL port is given
        cert, key, ca_cert = settings.ofp_tls
        args += ["--ofp-ssl-listen-port", str(settings.ofp_port), "--ctl-cert", str(cert),
                 "--ctl-privkey", str(key), "--ca-certs", str(ca_cert)]
    args += apps or APPS
    manager.main(args=args, prog="metroshare controller")
    return 0


if __name__ == "__main__":
    sys.exit("run `metroshare controller` instead")
