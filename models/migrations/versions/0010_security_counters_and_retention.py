"""issue 12: counters that survive Redis, personal-data retention

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 04:30:00
"""

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "security_counters",
        sa.Column("key_digest", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_digest", name=op.f("pk_security_counters")),
    )
    op.create_index(
        "ix_security_counters_expires_at", "security_counters", ["expires_at"], unique=False
    )
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("subject_pseudonym", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("subject_pseudonym")
    op.drop_index("ix_security_counters_expires_at", table_name="security_counters")
    op.drop_table("security_counters")
