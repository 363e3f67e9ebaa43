"""Several controllers: PostgreSQL itself tells the instances when the leader's
applied revision of a service advances (a NOTIFY on the `metroshare` channel,
sent when the transaction commits), so whatever statement records an outcome
also marks it applied, without a statement of its own. SQLite (one controller)
has no notices and nothing to do."""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""
        CREATE FUNCTION metroshare_applied_notice() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('metroshare', 'applied:' || NEW.id || ':' || NEW.applied_revision);
            RETURN NULL;
        END $$""")
    op.execute("""
        CREATE TRIGGER services_applied_notice
        AFTER UPDATE OF applied_revision ON services FOR EACH ROW
        WHEN (NEW.applied_revision > OLD.applied_revision)
        EXECUTE FUNCTION metroshare_applied_notice()""")
