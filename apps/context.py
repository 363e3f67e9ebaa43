"""The state the Ryu apps share: one instance per controller process.

Each app names it in `_CONTEXTS = {"metroshare": MetroshareContext}`; Ryu
builds it once, before the apps, from the settings the launcher configured.
"""

from __future__ import annotations

from typing import Any

from eventlet import tpool
from ryu.lib import hub

from controller.cluster import Cluster
from controller.core import ServiceCore
from controller.store import open_store
from metroshare.settings import Settings, resolve_admin_token
from topology import load_topology

_settings: Settings | None = None


def configure(settings: Settings) -> None:
    """Called by the launcher before Ryu instantiates the contexts."""
    global _settings
    _settings = settings


class MetroshareContext:
    """Topology, service core and connected switches of this controller."""

    def __init__(self) -> None:
        if _settings is None:
            raise RuntimeError("apps.context.configure() was not called: "
                               "run `metroshare controller`")
        self.settings = _settings
        self.topology = load_topology(_settings.topology_path)
        # Commits wait for the disk in a real thread: sqlite3 calls are not green, and
        # in the hub they would hold up every switch and request for the fsync.
        store = open_store(_settings.db, tpool.execute, _settings.db_connections)
        # On PostgreSQL this is one of several controllers: the leader is elected.
        clustered = store.engine.dialect.name == "postgresql"
        self.instance = _settings.instance or f"controller:{_settings.api_port}"
        self.cluster = Cluster(store, self.instance, spawn=hub.spawn) if clustered else None
        self.admin_token = resolve_admin_token(_settings.db)  # the API workers get it too
        self.core = ServiceCore(self.topology, store, admin_token=self.admin_token,
                                clustered=clustered)
        # switch name -> ryu Datapath, for every switch of the topology that is connected
        self.connected: dict[str, Any] = {}

    @property
    def leads(self) -> bool:
        """Only the leader writes to switches; a lone controller (SQLite) always leads."""
        return self.cluster is None or self.cluster.leader

    @property
    def role(self) -> str:
        return "leader" if self.leads else "standby"

    def switch_of(self, datapath: Any) -> Any:
        """The topology switch a connection speaks for, or None: a stranger, a second
        connection claiming a connected switch's dpid, or one already replaced."""
        switch = self.topology.switch_by_dpid(datapath.id) if datapath.id is not None else None
        if switch is None or self.connected.get(switch.name) is not datapath:
            return None
        return switch
