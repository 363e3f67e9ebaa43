"""The tables of the core (SQLAlchemy Core); their history is in controller/migrations.

Uniqueness that matters under concurrency is declared here, so the database
refuses a double allocation even if two controllers share it: one live
service per VLAN, one live membership per (interface, customer VLAN) and per
party in a service, one interface per edge port.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    text,
)

metadata = MetaData()

parties = Table(
    "parties", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("status", String(16), nullable=False),
    Column("service_kinds", JSON, nullable=False),
    Column("max_bandwidth_mbps", Integer, nullable=False),
    Column("max_channels", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
)

interfaces = Table(
    "interfaces", metadata,
    Column("id", Integer, primary_key=True),
    Column("party_id", Integer, ForeignKey("parties.id"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("switch", String(64), nullable=False),
    Column("port", Integer, nullable=False),
    Column("mac", String(17), nullable=False, unique=True),
    Column("location", String(200), nullable=False, server_default=""),
    UniqueConstraint("party_id", "name"),
    UniqueConstraint("switch", "port"),
)

services = Table(
    "services", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("attributes", JSON, nullable=False),
    Column("owner_id", Integer, ForeignKey("parties.id"), nullable=False),
    Column("state", String(16), nullable=False),
    Column("vlan", Integer),
    Column("provisioning", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
    # Bumped by every change the switches must apply; applied_revision is what
    # the leader confirmed on them (revision 0007).
    Column("revision", Integer, nullable=False, server_default="0"),
    Column("applied_revision", Integer, nullable=False, server_default="0"),
)

_LIVE_SERVICE = text("state != 'deleted'")
Index("uq_live_service_vlan", services.c.vlan, unique=True,
      sqlite_where=_LIVE_SERVICE, postgresql_where=_LIVE_SERVICE)
Index("uq_live_service_name", services.c.owner_id, services.c.name, unique=True,
      sqlite_where=_LIVE_SERVICE, postgresql_where=_LIVE_SERVICE)

members = Table(
    "members", metadata,
    Column("id", Integer, primary_key=True),
    Column("service_id", Integer, ForeignKey("services.id"), nullable=False),
    Column("party_id", Integer, ForeignKey("parties.id"), nullable=False),
    # NULL once a non-live member's interface was deleted by its party.
    Column("interface_id", Integer, ForeignKey("interfaces.id")),
    Column("role", String(8), nullable=False),
    Column("state", String(16), nullable=False),
    Column("error", String(500)),
    Column("created_at", Float, nullable=False),
    # The customer VLAN that selects this service on a shared interface; 0 is
    # untagged (not NULL, so that the unique index below counts it once).
    Column("ce_vlan", Integer, nullable=False, server_default="0"),
)

_LIVE_MEMBER = text("state IN ('accepted', 'provisioned')")
# An interface is held by a live member, or by one whose removal a switch has yet to confirm.
_HOLDING_MEMBER = text("state IN ('accepted', 'provisioned', 'leaving', 'suspended')")
INTERFACE_HOLDER = Index("uq_live_member_interface", members.c.interface_id, members.c.ce_vlan,
                         unique=True,
                         sqlite_where=_HOLDING_MEMBER, postgresql_where=_HOLDING_MEMBER)
Index("uq_live_member_party", members.c.service_id, members.c.party_id, unique=True,
      sqlite_where=_LIVE_MEMBER, postgresql_where=_LIVE_MEMBER)

offers = Table(
    "offers", metadata,
    Column("id", Integer, primary_key=True),
    Column("service_id", Integer, ForeignKey("services.id"), nullable=False),
    Column("party_id", Integer, ForeignKey("parties.id")),
    Column("code_hash", String(64), unique=True),
    Column("state", String(16), nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("decided_at", Float),
    # The service's owner, copied (it never changes) so that the offers a party
    # made are one index range, in id order, like the offers it received.
    Column("owner_id", Integer, ForeignKey("parties.id")),
)
Index("ix_offers_state_expiry", offers.c.state, offers.c.expires_at)
# At most one pending offer per (service, addressee); open invitations have no
# addressee (NULL) and are not limited.
_PENDING_OFFER = text("state = 'pending'")
PENDING_OFFER_INDEX = Index("uq_pending_offer_party", offers.c.service_id, offers.c.party_id,
                            unique=True, sqlite_where=_PENDING_OFFER,
                            postgresql_where=_PENDING_OFFER)

reservations = Table(
    "reservations", metadata,
    Column("service_id", Integer, ForeignKey("services.id"), primary_key=True),
    Column("link", String(140), primary_key=True),   # the link's `a` end, "switch:port"
    Column("mbps", Integer, nullable=False),
)

orders = Table(
    "orders", metadata,
    Column("id", Integer, primary_key=True),
    Column("service_id", Integer, ForeignKey("services.id"), nullable=False),
    Column("member_id", Integer, ForeignKey("members.id"), nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("fulfilled_at", Float),
)

events = Table(
    "events", metadata,
    Column("id", Integer, primary_key=True),
    Column("at", Float, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("service_id", Integer),
    Column("party", String(64)),
    Column("detail", JSON, nullable=False),
)

# Every filter on the request path has an index (schema version 3), so a read
# or a check costs the same whatever the size of the database, and a page of a
# list is an ordered index range. (The partial unique indexes above serve a
# query only when the planner can prove its states match their WHERE.)
REQUEST_PATH_INDEXES = (
    # A party's memberships in service order (its page of services) and by state
    # (its channel slots): one index serves both.
    Index("ix_members_party_service", members.c.party_id, members.c.service_id, members.c.state),
    Index("ix_members_service_state", members.c.service_id, members.c.state),
    Index("ix_members_interface_state", members.c.interface_id, members.c.state),
    Index("ix_services_owner", services.c.owner_id),
    Index("ix_services_vlan_state", services.c.vlan, services.c.state),
    Index("ix_offers_party", offers.c.party_id),
    Index("ix_offers_owner", offers.c.owner_id),
    Index("ix_offers_service_state", offers.c.service_id, offers.c.state),
    Index("ix_orders_member_state", orders.c.member_id, orders.c.state),
    Index("ix_events_service", events.c.service_id),
    Index("ix_events_party", events.c.party),
)

# One row every workflow step updates first: on a database without SQLite's
# BEGIN IMMEDIATE (PostgreSQL, several controllers) the row lock serialises
# the steps, so a check (capacity, slots) and its write see the same state.
write_gate = Table(
    "write_gate", metadata,
    Column("id", Integer, primary_key=True),
    Column("generation", Integer, nullable=False),
)

# Switches and fiber links the controller saw go down and not yet come back:
# what the API processes read to show a service `degraded` (rows are facts
# of the running controller, cleared when it starts).
network_down = Table(
    "network_down", metadata,
    Column("kind", String(8), primary_key=True),     # "switch" | "link"
    Column("name", String(140), primary_key=True),   # switch name | link id
)

# Tags free again, with when they were freed: allocation takes a tag never used
# first, then the one freed longest ago, so a tag whose stale rules might still
# sit on a switch is the last to be reused. A tag leaves this table when taken.
vlan_freed = Table(
    "vlan_freed", metadata,
    Column("vlan", Integer, primary_key=True),
    Column("at", Float, nullable=False, index=True),
)

APP_TABLES = (parties, interfaces, services, members, offers, reservations, orders, events)

# The one row (id=1) that says which controller leads: the generation fences
# writes of a leader that lost the role.
leadership = Table(
    "leadership", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("generation", BigInteger, nullable=False),
    Column("leader", String(128)),   # instance id
    Column("since", Float),
)

# The admin token several controllers on one PostgreSQL database share (id=1).
admin_token = Table(
    "admin_token", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("token", String(128), nullable=False),
)

# Webhooks (issue 10 §3): where a party (or the provider, party_id NULL: every
# event) has its events POSTed. A deleted one stays, inactive, for its history.
webhooks = Table(
    "webhooks", metadata,
    Column("id", Integer, primary_key=True),
    Column("party_id", Integer, ForeignKey("parties.id"), index=True),
    Column("url", String(2000), nullable=False),
    Column("secret", String(200), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("active", Boolean, nullable=False),
)

# The outbox: one row per event per webhook that may see it, written in the
# event's own transaction, so a restart loses nothing. `next_attempt_at` is NULL
# once nothing more will be tried (delivered, given up, or the webhook deleted).
deliveries = Table(
    "deliveries", metadata,
    Column("webhook_id", Integer, ForeignKey("webhooks.id"), primary_key=True),
    Column("event_id", Integer, ForeignKey("events.id"), primary_key=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", Float),
    Column("delivered_at", Float),
    Column("last_error", String(500)),
)
_PENDING_DELIVERY = text("next_attempt_at IS NOT NULL")
# Each webhook's oldest pending delivery is the first entry of its range, however
# long its history of delivered ones.
Index("ix_deliveries_pending", deliveries.c.webhook_id, deliveries.c.event_id,
      sqlite_where=_PENDING_DELIVERY, postgresql_where=_PENDING_DELIVERY)
