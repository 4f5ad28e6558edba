"""issue 14: indexes the hot path can use

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-28 04:30:00
"""

from alembic import op


revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite cannot use the partial index uq_bindings_active_account for `state = ?` (a bound
    # parameter): lookups of an account's binding scanned the table. A plain index serves both.
    op.create_index("ix_bindings_account_id", "bindings", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_bindings_account_id", table_name="bindings")
