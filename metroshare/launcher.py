"""Runs Ryu in this process with metroshare's apps.

The one place for the Python 3.11 compatibility shims Ryu 4.34 needs; the
rest of the project imports Ryu only under `apps/`.
"""

from __future__ import annotations

import signal
import socket
import sys

from metroshare.settings import Settings

# The Ryu applications `metroshare controller` loads, in start order.
APPS = [
    "apps.switches",
    "apps.provisioning", "apps.opstate", "apps.expiry",
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


def _port_in_use(port: int) -> OSError | None:
    """Ryu listens with SO_REUSEPORT, so a second controller on the same OpenFlow
    port would silently share the switches; a plain bind tells us first."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("", port))
        except OSError as exc:
            return exc
    return None


def _stop_on_sigterm(signum: int, frame: object) -> None:
    # Ryu's manager treats KeyboardInterrupt as "close every app and return"; a
    # second signal must not interrupt that closing half-way.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def run_controller(settings: Settings, apps: list[str] | None = None) -> int:
    """Run the controller in the foreground until SIGTERM or SIGINT."""
    in_use = _port_in_use(settings.ofp_port)
    if in_use is not None:
        print(f"metroshare: cannot listen for OpenFlow on port {settings.ofp_port}: "
              f"{in_use.strerror}", file=sys.stderr)
        return 1
    apply_shims()
    from apps import context

    context.configure(settings)
    from ryu.cmd import manager

    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    args = [
        "--ofp-tcp-listen-port", str(settings.ofp_port),
        *(apps or APPS),
    ]
    manager.main(args=args, prog="metroshare controller")
    return 0


if __name__ == "__main__":
    sys.exit("run `metroshare controller` instead")
