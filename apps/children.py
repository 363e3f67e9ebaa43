"""Processes the controller starts beside itself (API workers, webhook delivery)."""

from __future__ import annotations

import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1
NICENESS = 5


def below_controller() -> None:
    """In the child before exec: the kernel kills it when the controller dies, and
    it runs below the controller's priority, so it never starves the thread that
    answers the switches and makes the changes."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    os.nice(NICENESS)
