"""The migrations build exactly the schema the models describe, on the database the tests run on
(SQLite by default, PostgreSQL in CI), and enum columns refuse values that are not members."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, StatementError

from models import Base, Binding, BindingState, StaffRole, StaffUser, make_engine


def test_migrated_schema_matches_the_models(database_url):
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_enum_columns_load_members_and_refuse_strangers(make_app):
    app = make_app()
    rt = app.extensions["gradcert"]
    with rt.sessions() as db:
        with pytest.raises(StatementError):  # refused in Python, before any SQL
            db.add(Binding(account_id=1, student_id=1, channel="wx", state="paused"))
            db.flush()
        db.rollback()
    if not rt.db_engine.dialect.name == "postgresql":
        return
    with rt.sessions() as db:
        db.add(
            StaffUser(
                username="clerk1", display_name="Clerk", password_hash="x", role=StaffRole.CLERK
            )
        )
        db.commit()
    with rt.db_engine.connect() as conn:
        with pytest.raises(
            IntegrityError, match="ck_staff_users_role"
        ):  # and by the CHECK constraint
            conn.execute(text("UPDATE staff_users SET role = 'boss'"))
        conn.rollback()
        conn.execute(text("UPDATE staff_users SET role = 'director'"))  # a member passes


def test_a_loaded_state_is_its_enum_member():
    assert BindingState("active") is BindingState.ACTIVE and BindingState.ACTIVE == "active"
    assert f"{BindingState.REMOVED}" == "removed"  # StrEnum: templates and JSON show the value


def test_every_enum_column_has_its_check_in_the_migration():
    """compare_metadata does not compare CHECK constraints: the migrations' lists are checked here
    against every enum column of the models, value for value."""
    import importlib.util
    from pathlib import Path

    from sqlalchemy import Enum as SAEnum

    declared = {}
    versions = Path(__file__).resolve().parents[2] / "models/migrations/versions"
    for path in sorted(versions.glob("0*.py")):  # later revisions replace a column's list
        spec = importlib.util.spec_from_file_location(f"migration_{path.stem}", path)
        migration = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(migration)
        for table, column, values in getattr(migration, "CHECKS", ()):
            declared[(table, column)] = set(values)
    modelled = {
        (table.name, column.name): set(column.type.enums)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, SAEnum)
    }
    assert declared == modelled and len(modelled) >= 11
