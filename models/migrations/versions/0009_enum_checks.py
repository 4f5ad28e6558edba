"""enum columns: CHECK constraints naming the allowed values

The state, status, kind, role and relation columns (appeal events' kind included) hold the values of the enums in models/
(`models.enum_type`): VARCHARs of the same length as before, so no data moves. PostgreSQL gets a
CHECK constraint per column, as the models declare; SQLite could add one only by rebuilding each
table (and its partial indexes), so there the enum type refuses a stranger value on write instead.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 02:20:00
"""

from alembic import op


revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# (table, column, allowed values) as of this revision
CHECKS = [
    ("bindings", "state", ("active", "removed")),
    ("otp_events", "kind", ("sent", "send_failed", "verified", "failed", "locked")),
    (
        "appeals",
        "status",
        ("submitted", "under_review", "need_more_info", "resolved", "rejected", "closed"),
    ),
    (
        "appeal_events",
        "from_status",
        ("submitted", "under_review", "need_more_info", "resolved", "rejected", "closed"),
    ),
    (
        "appeal_events",
        "to_status",
        ("submitted", "under_review", "need_more_info", "resolved", "rejected", "closed"),
    ),
    ("appeal_events", "kind", ("submitted", "status", "info", "note")),
    ("attachments", "state", ("pending", "stored", "rejected")),
    ("staff_users", "role", ("clerk", "director")),
    ("diplomas", "status", ("valid", "revoked")),
    ("proxies", "relation", ("parent", "spouse", "child", "service_point")),
    (
        "proxies",
        "state",
        (
            "requested",
            "awaiting_graduate",
            "awaiting_document",
            "awaiting_review",
            "active",
            "refused",
            "revoked",
            "expired",
        ),
    ),
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, column, values in CHECKS:
        allowed = ", ".join(f"'{v}'" for v in values)
        op.create_check_constraint(op.f(f"ck_{table}_{column}"), table, f"{column} IN ({allowed})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, column, _values in CHECKS:
        op.drop_constraint(op.f(f"ck_{table}_{column}"), table, type_="check")
