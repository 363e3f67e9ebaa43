"""The public entry of the service core (see docs/core-api.md)."""

from controller.workflow.core import ServiceCore

__all__ = ["ServiceCore"]
