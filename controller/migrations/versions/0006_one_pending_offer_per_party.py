"""Version 6: at most one pending offer per (service, addressee); the newest
of duplicates stays, older ones are withdrawn."""

import time

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_PENDING_OFFER = sa.text("state = 'pending'")


def upgrade() -> None:
    op.get_bind().execute(sa.text(
        "UPDATE offers SET state = 'withdrawn', decided_at = :now "
        "WHERE state = 'pending' AND party_id IS NOT NULL AND id NOT IN ("
        "SELECT max(id) FROM offers WHERE state = 'pending' AND party_id IS NOT NULL "
        "GROUP BY service_id, party_id)"), {"now": time.time()})
    op.create_index("uq_pending_offer_party", "offers", ["service_id", "party_id"],
                    unique=True, sqlite_where=_PENDING_OFFER, postgresql_where=_PENDING_OFFER)
