"""Offers expire on time, whether or not anyone looks at them.

The core also treats an offer past its time as expired when it is touched;
this loop records the `offer_expired` events as they fall due, so clients
and the audit log see them without reading the offers first.
"""

from __future__ import annotations

from ryu.base import app_manager
from ryu.lib import hub

from apps.context import MetroshareContext

SWEEP_INTERVAL_S = 1.0


class OfferExpiry(app_manager.RyuApp):
    _CONTEXTS = {"metroshare": MetroshareContext}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.core = kwargs["metroshare"].core
        self.metroshare = kwargs["metroshare"]  # several controllers: the leader sweeps
        self.stopping = hub.Event()
        self.threads.append(hub.spawn(self._sweep_loop))

    def stop(self) -> None:
        self.stopping.set()  # wakes the loop now: Ryu joins it before exiting
        super().stop()

    def _sweep_loop(self) -> None:
        while not self.stopping.wait(SWEEP_INTERVAL_S):
            if not self.metroshare.leads:
                continue
            try:
                expired = self.core.expire_offers()
            except Exception:  # a database hiccup must not end the loop
                self.logger.exception("offer expiry sweep failed")
                continue
            if expired:
                self.logger.info("%d offer(s) expired", expired)
