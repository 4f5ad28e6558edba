"""issue 15: staff accounts, second factor, auditor

Staff users get a sealed TOTP secret, the time it was enrolled and the time their credentials last
changed (sessions begun before end); the role `auditor` (纪检) joins the role CHECK on PostgreSQL;
`staff_sign_ins` records each completed sign-in (address, factor) for the anomaly report.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28 04:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# (table, column, allowed values) from this revision on (see 0009_enum_checks.py)
CHECKS = [
    ("staff_users", "role", ("clerk", "director", "auditor")),
    ("staff_sign_ins", "factor", ("password", "totp", "sms")),
]
ROLES_BEFORE = ("clerk", "director")


def _check(table: str, column: str, values) -> None:
    allowed = ", ".join(f"'{v}'" for v in values)
    op.create_check_constraint(op.f(f"ck_{table}_{column}"), table, f"{column} IN ({allowed})")


def upgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        batch.add_column(sa.Column("totp_secret_enc", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("totp_enrolled_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("credentials_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "staff_sign_ins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("factor", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_users.id"],
            name=op.f("fk_staff_sign_ins_staff_id_staff_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_sign_ins")),
    )
    op.create_index("ix_staff_sign_ins_staff", "staff_sign_ins", ["staff_id", "at"])
    op.create_index(op.f("ix_staff_sign_ins_at"), "staff_sign_ins", ["at"])
    if op.get_bind().dialect.name == "sqlite":
        return
    op.drop_constraint(op.f("ck_staff_users_role"), "staff_users", type_="check")
    for table, column, values in CHECKS:
        _check(table, column, values)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if not sqlite:
        op.drop_constraint(op.f("ck_staff_users_role"), "staff_users", type_="check")
    # an auditor would become a clerk with access to tickets: switched off instead
    op.execute("UPDATE staff_users SET role = 'clerk', active = false WHERE role = 'auditor'")
    if not sqlite:
        _check("staff_users", "role", ROLES_BEFORE)
    op.drop_index(op.f("ix_staff_sign_ins_at"), table_name="staff_sign_ins")
    op.drop_index("ix_staff_sign_ins_staff", table_name="staff_sign_ins")
    op.drop_table("staff_sign_ins")
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_column("credentials_at")
        batch.drop_column("totp_enrolled_at")
        batch.drop_column("totp_secret_enc")
