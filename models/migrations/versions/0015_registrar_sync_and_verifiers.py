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


def downgrade() -> None:
    op.drop_table("registrar_refusals")
    op.drop_table("registrar_sync")
