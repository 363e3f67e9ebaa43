"""Serves the northbound API and web UI from inside the Ryu process.

Ryu's own REST server (`ryu.app.wsgi.WSGIServer`) is eventlet's WSGI server
on a socket bound to `wsapi_host:wsapi_port`; in Ryu 4.34 its TLS branch
hands a socket wrapper to eventlet as if it were the WSGI app, so it cannot
serve HTTPS. This app therefore runs the same eventlet WSGI server itself,
on `--api-host:--api-port`, wrapped in TLS when `--tls-cert/--tls-key` are
given and plain HTTP otherwise (meant for loopback development).
"""

from __future__ import annotations

import ipaddress
import logging
import socket

import eventlet
import eventlet.wsgi
from eventlet.green import ssl
from ryu.base import app_manager
from ryu.lib import hub

from apps.context import MetroshareContext
from northbound.app import NorthboundApp

IDLE_TIMEOUT_S = 60  # drops clients that open a connection and say nothing


class RestApi(app_manager.RyuApp):
    _CONTEXTS = {"metroshare": MetroshareContext}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.metroshare: MetroshareContext = kwargs["metroshare"]
        self.site = NorthboundApp(self.metroshare.core, lambda: len(self.metroshare.connected))
        self.server_thread = None

    def start(self) -> None:
        super().start()
        settings = self.metroshare.settings
        host, port = settings.api_host, settings.api_port
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            # No SO_REUSEPORT (eventlet's default): a second controller must fail, not share.
            sock = eventlet.listen((host, port), family=family, reuse_port=False)
        except OSError as exc:
            self.logger.error("cannot serve the API on %s:%d: %s", host, port, exc.strerror)
            raise SystemExit(1) from None
        scheme = "http"
        if settings.tls_cert:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.load_cert_chain(str(settings.tls_cert), str(settings.tls_key))
            sock = context.wrap_socket(sock, server_side=True)
            scheme = "https"
        elif not _is_loopback(host):
            self.logger.warning("API on %s is plain HTTP: tokens cross the network in clear; "
                                "give --tls-cert and --tls-key", host)
        shown = f"[{host}]" if ":" in host else host
        self.logger.info("northbound API and web UI at %s://%s:%d/", scheme, shown, port)
        self.server_thread = hub.spawn(
            eventlet.wsgi.server, sock, self.site, log=_AccessLog(self.logger),
            socket_timeout=IDLE_TIMEOUT_S)

    def stop(self) -> None:
        if self.server_thread is not None:
            hub.kill(self.server_thread)
        super().stop()


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class _AccessLog:
    """eventlet writes one line per request; route it to the app's logger."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    def write(self, line: str) -> None:
        self.logger.debug(line.rstrip())
