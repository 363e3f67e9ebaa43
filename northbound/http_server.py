"""eventlet's WSGI server, as the controller and the API workers run it: a slow
client cannot hold it.

- A header deadline: a request's line and headers must arrive within
  `HEADER_DEADLINE_S` of its first byte — of the accept for a connection's
  first request, so the TLS handshake counts too; a kept-alive connection may
  idle up to the idle timeout between requests. Past it the connection is
  closed. (eventlet.wsgi has one socket timeout, per read; this is an
  eventlet.Timeout around reading the request line and headers, in the
  connection's own green thread.)
- A bounded connection pool (`MAX_CONNECTIONS` per process): past it the
  accept loop waits for a free slot, which the deadline keeps coming.
- TLS: eventlet's green TLS listener accepts without a handshake; the
  handshake happens on the connection's first read, in its own green
  thread, within the header deadline — never in the accept loop.
- HTTPS answers carry `Strict-Transport-Security`.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import eventlet
import eventlet.wsgi
from eventlet.green import ssl

HEADER_DEADLINE_S = 5.0
MAX_CONNECTIONS = 500
HSTS = "max-age=31536000"


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """Server side, TLS 1.2 or newer."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    return context


class DeadlineProtocol(eventlet.wsgi.HttpProtocol):
    """eventlet's HTTP/1.1 handler with a deadline on each request's line and headers."""

    header_deadline = HEADER_DEADLINE_S
    _deadline: eventlet.Timeout | None = None
    _requests = 0

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        finally:
            self._disarm()

    def _read_request_line(self) -> Any:
        if self._requests and not self.rfile.closed:
            try:
                self.rfile.peek(1)  # kept alive: idle until the next request's first byte
            except (OSError, ValueError):
                return ""
        self._requests += 1
        self._deadline = eventlet.Timeout(self.header_deadline, TimeoutError(
            f"request line not complete within {self.header_deadline} s"))
        try:
            return super()._read_request_line()
        except OSError:  # the deadline, a failed TLS handshake: close, no traceback
            return ""

    def parse_request(self) -> bool:
        try:
            return super().parse_request()
        except OSError:  # the deadline, or the connection failed mid-headers
            self.close_connection = True
            return False
        finally:
            self._disarm()

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None


class _Hsts:
    """WSGI: every answer over HTTPS tells the browser to use nothing else."""

    def __init__(self, app: Callable) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        def with_hsts(status: str, headers: list, exc_info: Any = None) -> Any:
            return start_response(status, [*headers, ("Strict-Transport-Security", HSTS)],
                                  exc_info)
        return self.app(environ, with_hsts)


def serve(sock: socket.socket, app: Callable, log: Any, idle_timeout: float | None,
          tls: ssl.SSLContext | None = None) -> None:
    """Serve `app` on the listening `sock` until killed (TLS when `tls` is given)."""
    if tls is not None:
        sock = tls.wrap_socket(sock, server_side=True)
        app = _Hsts(app)
    eventlet.wsgi.server(sock, app, log=log, socket_timeout=idle_timeout,
                         max_size=MAX_CONNECTIONS, protocol=DeadlineProtocol)
