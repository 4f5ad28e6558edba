"""issue 15: registrar imports in the console, holiday calendar

Registrar files uploaded in the console (sealed until imported), the holiday calendar entered in
the console, the lookups of the public verification page (counted on the dashboard) and indexes
for the dashboard's counts by day. Enum
columns get their CHECK constraints on PostgreSQL, as in 0009.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28 04:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# (table, column, allowed values) added by this revision
CHECKS = [
    (
        "office_imports",
        "state",
        ("previewed", "queued", "running", "done", "failed", "discarded", "expired"),
    ),
    ("calendar_days", "kind", ("holiday", "workday")),
    (
        "verification_lookups",
        "outcome",
        ("valid", "expired", "revoked", "closed", "tampered", "unknown"),
    ),
]
TZ = sa.DateTime(timezone=True)
# the dashboard counts these tables by day
INDEXES = [
    ("ix_audit_events_action_at", "audit_events", ["action", "at"]),
    ("ix_otp_events_at", "otp_events", ["at"]),
    ("ix_certificates_issued_at", "certificates", ["issued_at"]),
]


def upgrade() -> None:
    op.create_table(
        "office_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("filename", sa.String(length=128), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("sealed_file", sa.LargeBinary(), nullable=True),
        sa.Column("pii_key_version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("preview", sa.Text(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("error", sa.String(length=255), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("started_at", TZ, nullable=True),
        sa.Column("finished_at", TZ, nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff_users.id"], name=op.f("fk_office_imports_staff_id_staff_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_office_imports")),
    )
    op.create_table(
        "calendar_years",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_calendar_years")),
    )
    op.create_table(
        "calendar_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["year"], ["calendar_years.year"], name=op.f("fk_calendar_days_year_calendar_years")
        ),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_calendar_days")),
    )
    op.create_index(op.f("ix_calendar_days_year"), "calendar_days", ["year"])
    op.create_table(
        "verification_lookups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name=op.f("fk_verification_lookups_certificate_id_certificates"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_lookups")),
    )
    op.create_index(op.f("ix_verification_lookups_at"), "verification_lookups", ["at"])
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, column, values in CHECKS:
        allowed = ", ".join(f"'{v}'" for v in values)
        op.create_check_constraint(op.f(f"ck_{table}_{column}"), table, f"{column} IN ({allowed})")


def downgrade() -> None:
    for name, table, _columns in INDEXES:
        op.drop_index(name, table_name=table)
    op.drop_index(op.f("ix_verification_lookups_at"), table_name="verification_lookups")
    op.drop_table("verification_lookups")
    op.drop_index(op.f("ix_calendar_days_year"), table_name="calendar_days")
    op.drop_table("calendar_days")
    op.drop_table("calendar_years")
    op.drop_table("office_imports")
