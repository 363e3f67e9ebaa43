"""Version 3: offers.owner_id (filled from the service) and an index for every
filter on the request path."""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_INDEXES = (
    ("ix_members_party_service", "members", ["party_id", "service_id", "state"]),
    ("ix_members_service_state", "members", ["service_id", "state"]),
    ("ix_members_interface_state", "members", ["interface_id", "state"]),
    ("ix_services_owner", "services", ["owner_id"]),
    ("ix_services_vlan_state", "services", ["vlan", "state"]),
    ("ix_offers_party", "offers", ["party_id"]),
    ("ix_offers_owner", "offers", ["owner_id"]),
    ("ix_offers_service_state", "offers", ["service_id", "state"]),
    ("ix_orders_member_state", "orders", ["member_id", "state"]),
    ("ix_events_service", "events", ["service_id"]),
    ("ix_events_party", "events", ["party"]),
)


def upgrade() -> None:
    # Plain SQL both engines take (SQLite cannot add a constraint later).
    op.execute("ALTER TABLE offers ADD COLUMN owner_id INTEGER REFERENCES parties (id)")
    op.execute("UPDATE offers SET owner_id = (SELECT services.owner_id FROM services "
               "WHERE services.id = offers.service_id)")
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns)
