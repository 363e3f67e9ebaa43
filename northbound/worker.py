"""An API worker process: answers reads from the database beside the controller
and hands everything else to the controller process, unchanged.

The controller process owns the switches and every change, in one thread
(eventlet's hub). Reads need neither: `metroshare controller --api-workers N`
starts N of these processes on the controller's own listening socket
(inherited), so reads use the other cores and never queue behind a change's
work, or a change behind them. A request that changes something, or that
needs the switches' live state (`Route.live`: /healthz, /metrics, the
topology), is forwarded over a private Unix socket to the controller.
The worker dies with the controller (PR_SET_PDEATHSIG, set by its parent).
"""

from __future__ import annotations

import argparse
import http.client
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from webob import Request, Response

from northbound import render
from northbound.envelope import raw_body

LOG = logging.getLogger("metroshare.api-worker")
PARENT = os.getppid()  # the controller that started this worker
DEATH_GRACE_S = 0.5
# Hop-by-hop headers (RFC 9110 §7.6.1) stay with their own connection.
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer",
                         "transfer-encoding", "upgrade", "host", "content-length"})
FORWARD_TIMEOUT_S = 60.0  # an acceptance waits for barriers, bounded far below this


class _UnixConnection(http.client.HTTPConnection):
    """HTTP/1.1 to the controller's private Unix socket."""

    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=FORWARD_TIMEOUT_S)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


class Forwarder:
    """Sends a request to the controller and its answer back, over kept-alive connections."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._idle: list[_UnixConnection] = []

    def __call__(self, req: Request) -> Response:
        body = raw_body(req)  # the controller refuses one past the limit (413)
        headers = {k: v for k, v in req.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers["Host"] = req.host
        reused = bool(self._idle)
        conn = self._idle.pop() if reused else _UnixConnection(self.path)
        try:
            conn.request(req.method, req.path_qs, body=body, headers=headers)
            answer = conn.getresponse()
        except (ConnectionError, http.client.RemoteDisconnected):
            conn.close()
            if not reused:
                raise
            # The controller closed an idle connection before reading this request:
            # nothing was done, so sending it once more on a new one is safe.
            conn = _UnixConnection(self.path)
            conn.request(req.method, req.path_qs, body=body, headers=headers)
            answer = conn.getresponse()
        content = answer.read()
        response = Response(status=answer.status, body=content)
        response.headerlist = [(k, v) for k, v in answer.getheaders()
                               if k.lower() not in _HOP_BY_HOP]
        response.content_length = len(content)
        if answer.will_close:
            conn.close()
        else:
            self._idle.append(conn)
        return response


class WorkerApp:
    """WSGI: reads the database can answer are answered here; the rest is forwarded."""

    def __init__(self, site: Any, forward: Callable[[Request], Response],
                 serves_here: Callable[[str, str], bool]) -> None:
        self.site, self.forward, self.serves_here = site, forward, serves_here

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        req = Request(environ)
        if self.serves_here(req.method, req.path_info):
            return self.site(environ, start_response)
        try:
            response = self.forward(req)
        except OSError as exc:
            if _controller_died():
                # The controller died with the request: its outcome is unknown here, so
                # no answer at all (the connection drops) rather than an error that
                # would claim nothing was done. The kernel is killing us anyway.
                os._exit(1)
            LOG.error("controller unreachable for %s %s: %s", req.method, req.path_info, exc)
            response = self.site.error(503, "controller_unavailable",
                                       "the controller process does not answer; retry",
                                       render.negotiate(req.accept))
        return response(environ, start_response)


def _controller_died() -> bool:
    """Whether the controller that started us is gone. Its sockets close before the
    kernel reparents us (and sends PR_SET_PDEATHSIG), so give that a moment."""
    deadline = time.monotonic() + DEATH_GRACE_S
    while os.getppid() == PARENT:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def main(argv: list[str] | None = None) -> None:
    """`python -m northbound.worker`: started by the controller, never by hand."""
    import eventlet

    eventlet.monkey_patch()

    from controller.core import ServiceCore
    from controller.store import DB_CONNECTIONS, open_store
    from metroshare.settings import ADMIN_TOKEN_ENV
    from northbound import http_server
    from northbound.app import NorthboundApp
    from northbound.ratelimit import RateLimited, RateLimiter
    from northbound.routes import serves_without_controller
    from topology import load_topology

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen-fd", type=int, required=True)
    parser.add_argument("--controller-socket", required=True)
    parser.add_argument("--topology", type=Path, required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--db-connections", type=int, default=DB_CONNECTIONS)
    parser.add_argument("--tls-cert", type=Path)
    parser.add_argument("--tls-key", type=Path)
    parser.add_argument("--idle-timeout", type=float, default=60.0)
    parser.add_argument("--api-rate", type=float, default=0.0, help="this worker's share")
    parser.add_argument("--api-burst", type=float, default=1.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=f"api-worker {os.getpid()}: %(message)s")

    topology = load_topology(args.topology)
    core = ServiceCore(topology, open_store(args.db, connections=args.db_connections),
                       admin_token=os.environ[ADMIN_TOKEN_ENV],
                       replica=True)
    site = NorthboundApp(core)
    sock = socket.socket(fileno=args.listen_fd)  # green: socket is patched by now
    tls = http_server.tls_context(args.tls_cert, args.tls_key) if args.tls_cert else None
    app = WorkerApp(site, Forwarder(args.controller_socket), serves_without_controller)
    if args.api_rate:  # before forwarding: the controller process never counts again
        app = RateLimited(app, RateLimiter(args.api_rate, args.api_burst), site)
    http_server.serve(sock, app, _Quiet(), args.idle_timeout, tls)


class _Quiet:
    """eventlet writes one line per request: not in a worker's log."""

    def write(self, line: str) -> None:
        LOG.debug(line.rstrip())


if __name__ == "__main__":
    main()
