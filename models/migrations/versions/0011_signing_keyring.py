"""issue 13: SM2 signing keyring (certificates record their key)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 04:30:00
"""

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.String(length=128), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_signing_keys")),
    )
    # certificates signed before the keyring keep NULL: the key in use then (see bot/diploma/keyring.py)
    with op.batch_alter_table("certificates") as batch:
        batch.add_column(sa.Column("signing_key", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("certificates") as batch:
        batch.drop_column("signing_key")
    op.drop_table("signing_keys")
