"""issue 16: lost-certificate requests and notices

A lost-certificate ticket is an appeal of its own category; `lost_certificates` holds its delivery
(the postal address sealed) and fee. Appeals get an optional sealed e-mail for notices.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-28 04:30:00
"""

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

# (table, column, allowed values) of the enum columns this revision adds (see 0009)
CHECKS = [("lost_certificates", "delivery", ("pickup", "post"))]


def upgrade() -> None:
    op.create_table(
        "lost_certificates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("appeal_id", sa.Integer(), nullable=False),
        sa.Column("delivery", sa.String(length=16), nullable=False),
        sa.Column("address_enc", sa.LargeBinary(), nullable=True),
        sa.Column("pii_key_version", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=True),
        sa.Column("fee_yuan", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["appeal_id"], ["appeals.id"], name=op.f("fk_lost_certificates_appeal_id_appeals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lost_certificates")),
        sa.UniqueConstraint("appeal_id", name=op.f("uq_lost_certificates_appeal_id")),
    )
    with op.batch_alter_table("appeals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contact_email_enc", sa.LargeBinary(), nullable=True))
    if op.get_bind().dialect.name != "sqlite":  # as 0009 does: CHECKs on PostgreSQL
        for table, column, values in CHECKS:
            allowed = ", ".join(f"'{v}'" for v in values)
            op.create_check_constraint(
                op.f(f"ck_{table}_{column}"), table, f"{column} IN ({allowed})"
            )


def downgrade() -> None:
    with op.batch_alter_table("appeals", schema=None) as batch_op:
        batch_op.drop_column("contact_email_enc")
    op.drop_table("lost_certificates")
