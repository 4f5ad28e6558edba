"""issue 16: registrar sync, third-party verification, re-confirmation

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-28 04:30:00
"""

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registrar_sync",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("mark", sa.Text(), nullable=True),
        sa.Column("full_mark", sa.Text(), nullable=True),
        sa.Column("full_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_full_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=255), nullable=True),
        sa.Column("last_summary", sa.String(length=255), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registrar_sync")),
        sa.UniqueConstraint("name", name=op.f("uq_registrar_sync_name")),
    )
    op.create_table(
        "registrar_refusals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student_no", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("source_updated_at", sa.String(length=40), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registrar_refusals")),
        sa.UniqueConstraint("student_no", "source", name="uq_registrar_refusals_row"),
    )

    op.create_table(
        "verifier_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation", sa.String(length=128), nullable=False),
        sa.Column("contact", sa.String(length=128), nullable=False),
        sa.Column("key_prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("daily_quota", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verifier_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_verifier_keys_key_hash")),
    )
    op.create_table(
        "organisation_lookups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=True),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("name_matched", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["verifier_keys.id"],
            name=op.f("fk_organisation_lookups_key_id_verifier_keys"),
        ),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name=op.f("fk_organisation_lookups_certificate_id_certificates"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisation_lookups")),
    )
    op.create_index("ix_organisation_lookups_key", "organisation_lookups", ["key_id", "at"])
    op.add_column(
        "bindings", sa.Column("reconfirm_warned_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("bindings") as batch:
        batch.drop_column("reconfirm_warned_at")
    op.drop_index("ix_organisation_lookups_key", table_name="organisation_lookups")
    op.drop_table("organisation_lookups")
    op.drop_table("verifier_keys")
    op.drop_table("registrar_refusals")
    op.drop_table("registrar_sync")
