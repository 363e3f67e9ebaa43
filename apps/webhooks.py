"""Runs the webhook delivery process (`controller.delivery`) while this controller
leads: a lone controller always, one of several only while it is the leader
(with its generation, so that it stops sending as soon as another leads,
even before it is stopped here). Restarted within a second if it dies;
killed by the kernel if the controller dies first."""

from __future__ import annotations

import subprocess
import sys

from ryu.base import app_manager
from ryu.lib import hub

from apps.children import below_controller
from apps.context import MetroshareContext

CHECK_S = 1.0
STOP_WAIT_S = 1.0
# The first start waits: a restarting controller's cores go to reading back and
# reconciling its switches first (a 4,000-service restart was 1-2 s slower with
# the delivery process starting beside it). Queued deliveries just wait.
START_DELAY_S = 5.0


class WebhookDelivery(app_manager.RyuApp):
    _CONTEXTS = {"metroshare": MetroshareContext}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.metroshare: MetroshareContext = kwargs["metroshare"]
        self.proc: subprocess.Popen | None = None
        self.generation: int | None = None  # the one the running process was given
        self.stopping = hub.Event()
        self.threads.append(hub.spawn(self._supervise))

    def stop(self) -> None:
        self.stopping.set()
        self._end()
        super().stop()

    def _supervise(self) -> None:
        if self.stopping.wait(START_DELAY_S):
            return
        while True:
            cluster = self.metroshare.cluster
            generation = cluster.generation if cluster is not None else None
            if not self.metroshare.leads or generation != self.generation:
                self._end()
            if self.metroshare.leads and (self.proc is None or self.proc.poll() is not None):
                if self.proc is not None:
                    self.logger.error("webhook delivery %d exited %s; starting another",
                                      self.proc.pid, self.proc.returncode)
                self.proc, self.generation = self._spawn(generation), generation
            if self.stopping.wait(CHECK_S):
                return

    def _spawn(self, generation: int | None) -> subprocess.Popen:
        settings = self.metroshare.settings
        cmd = [sys.executable, "-m", "controller.delivery", "--db", settings.db,
               "--db-connections", str(settings.db_connections),
               "--retry-base", str(settings.webhook_retry_base)]
        if generation is not None:
            cmd += ["--generation", str(generation)]
        proc = subprocess.Popen(cmd, preexec_fn=below_controller)
        self.logger.info("webhook delivery process %d started", proc.pid)
        return proc

    def _end(self) -> None:
        """Stopped at once: an attempt cut short is retried by whoever delivers next."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
