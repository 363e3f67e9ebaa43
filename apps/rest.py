"""Serves the northbound API and web UI from inside the Ryu process.

Ryu's own REST server (`ryu.app.wsgi.WSGIServer`) is eventlet's WSGI server
on a socket bound to `wsapi_host:wsapi_port`; in Ryu 4.34 its TLS branch
hands a socket wrapper to eventlet as if it were the WSGI app, so it cannot
serve HTTPS. This app therefore runs the same eventlet WSGI server itself,
on `--api-host:--api-port`, wrapped in TLS when `--tls-cert/--tls-key` are
given and plain HTTP otherwise (loopback, or `--insecure-http`). The server
is `northbound.http_server`'s (header deadline, bounded pool, HSTS); without
API workers this process also enforces the request rate (`--api-rate`).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile

import eventlet
from ryu.base import app_manager
from ryu.lib import hub

from apps.children import below_controller
from apps.context import MetroshareContext
from metroshare.settings import ADMIN_TOKEN_ENV, is_loopback
from northbound import http_server
from northbound.app import NorthboundApp
from northbound.ratelimit import RateLimited, RateLimiter

IDLE_TIMEOUT_S = 60  # drops clients that open a connection and say nothing
WORKER_CHECK_S = 1.0


class RestApi(app_manager.RyuApp):
    _CONTEXTS = {"metroshare": MetroshareContext}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.metroshare: MetroshareContext = kwargs["metroshare"]
        context = self.metroshare
        self.site = NorthboundApp(context.core, lambda: len(context.connected),
                                  lambda: {"role": context.role, "instance": context.instance})
        self.server_thread = None
        self.workers: ApiWorkers | None = None

    def start(self) -> None:
        super().start()
        settings = self.metroshare.settings
        host, port = settings.api_host, settings.api_port
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            # No SO_REUSEPORT (eventlet's default): a second controller must fail, not share.
            sock = public = eventlet.listen((host, port), family=family, reuse_port=False)
        except OSError as exc:
            self.logger.error("cannot serve the API on %s:%d: %s", host, port, exc.strerror)
            raise SystemExit(1) from None
        scheme, tls, app = "http", None, self.site
        if settings.tls_cert:
            scheme = "https"
            if not settings.api_workers:  # else each worker wraps its connections
                tls = http_server.tls_context(settings.tls_cert, settings.tls_key)
        elif not is_loopback(host):
            self.logger.warning("API on %s is plain HTTP (--insecure-http): tokens cross the "
                                "network in clear; give --tls-cert and --tls-key", host)
        shown = f"[{host}]" if ":" in host else host
        self.logger.info("northbound API and web UI at %s://%s:%d/", scheme, shown, port)
        if settings.api_workers:
            # The workers accept on the public socket; this process answers what
            # they forward, on a private one.
            self.workers = ApiWorkers(settings, public, self.logger, self.metroshare.admin_token)
            sock = eventlet.listen(self.workers.controller_socket, family=socket.AF_UNIX)
            self.workers.start()
        elif settings.api_rate:  # else the workers, which accept, enforce it
            app = RateLimited(self.site, RateLimiter(settings.api_rate, settings.api_burst),
                              self.site)
        self.server_thread = hub.spawn(
            http_server.serve, sock, app, _AccessLog(self.logger),
            None if settings.api_workers else IDLE_TIMEOUT_S, tls)

    def stop(self) -> None:
        if self.workers is not None:
            self.workers.stop()
        if self.server_thread is not None:
            hub.kill(self.server_thread)
        super().stop()


class ApiWorkers:
    """The API worker processes (`northbound.worker`): started on the public
    socket at a lower priority, restarted if one dies, stopped with the
    controller — and killed by the kernel if the controller dies first."""

    def __init__(self, settings, public: socket.socket, logger: logging.Logger,
                 admin_token: str) -> None:
        self.settings, self.public, self.logger = settings, public, logger
        self.admin_token = admin_token
        self.private_dir = tempfile.mkdtemp(prefix="metroshare-api-")  # mode 0700
        self.controller_socket = os.path.join(self.private_dir, "controller.sock")
        self.procs: list[subprocess.Popen] = []
        self.watcher = None

    def start(self) -> None:
        self.procs = [self._spawn() for _ in range(self.settings.api_workers)]
        self.watcher = hub.spawn(self._watch)
        self.logger.info("%d API worker process(es) serve reads: %s",
                         len(self.procs), " ".join(str(p.pid) for p in self.procs))

    def _spawn(self) -> subprocess.Popen:
        s = self.settings
        cmd = [sys.executable, "-m", "northbound.worker",
               "--listen-fd", str(self.public.fileno()),
               "--controller-socket", self.controller_socket,
               "--topology", str(s.topology_path), "--db", s.db,
               "--db-connections", str(s.db_connections),
               "--idle-timeout", str(IDLE_TIMEOUT_S)]
        if s.tls_cert:
            cmd += ["--tls-cert", str(s.tls_cert), "--tls-key", str(s.tls_key)]
        if s.api_rate:  # each worker enforces its share: the kernel spreads the connections
            cmd += ["--api-rate", str(s.api_rate / s.api_workers),
                    "--api-burst", str(max(1.0, s.api_burst / s.api_workers))]
        env = {**os.environ, ADMIN_TOKEN_ENV: self.admin_token}
        return subprocess.Popen(cmd, pass_fds=(self.public.fileno(),), env=env,
                                preexec_fn=below_controller)

    def _watch(self) -> None:
        while True:
            hub.sleep(WORKER_CHECK_S)
            for i, proc in enumerate(self.procs):
                if proc.poll() is not None:
                    self.logger.error("API worker %d exited %s; starting another",
                                      proc.pid, proc.returncode)
                    self.procs[i] = self._spawn()

    def stop(self) -> None:
        if self.watcher is not None:
            hub.kill(self.watcher)
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.private_dir, ignore_errors=True)


class _AccessLog:
    """eventlet writes one line per request; route it to the app's logger."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    def write(self, line: str) -> None:
        self.logger.debug(line.rstrip())
