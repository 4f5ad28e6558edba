"""SQLAlchemy 2.0 models and the database session factory.

Models are data: typed columns and small invariants, no HTTP or Redis code. The session is opened
per message by the engine (or per request by the web handlers) and committed at that boundary.
"""

from __future__ import annotations

from datetime import UTC, datetime, timezone
from enum import StrEnum

from sqlalchemy import DateTime, MetaData, create_engine, event
from sqlalchemy import Enum as SAEnum
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, sessionmaker

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Now, in UTC, timezone-aware (times are stored in UTC and shown in Asia/Shanghai)."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A stored time as timezone-aware UTC (SQLite hands back naive datetimes)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def enum_type(enum: type[StrEnum], name: str, length: int = 16) -> SAEnum:
    """A column of one of our enums: VARCHAR(`length`) holding the members' values, loaded back as
    members (which are strings too), refused in Python when not a member, and checked by a CHECK
    constraint named `ck_<table>_<name>` where the migrations could add one (PostgreSQL)."""
    return SAEnum(
        enum,
        name=name,
        native_enum=False,
        length=length,
        create_constraint=True,
        validate_strings=True,
        values_callable=lambda members: [m.value for m in members],
    )


class Base(DeclarativeBase):
    """Declarative base with stable constraint names for Alembic."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: DateTime(timezone=True)}


def make_engine(url: str) -> Engine:
    """An engine; SQLite gets WAL, a busy timeout and foreign keys so workers can share the file."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            # pysqlite starts transactions lazily, so a SAVEPOINT could open (and its RELEASE
            # commit) the outer transaction: begin explicitly, as SQLAlchemy's docs advise.
            conn.exec_driver_sql("BEGIN")

        return engine
    # No pre-ping (a round trip on every checkout): connections are recycled after 30 minutes, and
    # a connection found dead invalidates the pool (the engine retries its step once, see
    # bot.core.engine). A dead server is noticed within seconds, not after a TCP timeout.
    return create_engine(
        url,
        pool_recycle=1800,
        pool_size=10,
        max_overflow=20,
        pool_timeout=5,
        hide_parameters=True,
        connect_args=_connect_args(url),
    )


def _connect_args(url: str) -> dict:
    """PostgreSQL: a short connect timeout and TCP keepalives."""
    if "psycopg2" in url or url.startswith(("postgresql://", "postgres://")):
        return {"connect_timeout": 3, "keepalives": 1, "keepalives_idle": 30}
    return {}


def make_session_factory(engine: Engine) -> sessionmaker:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


from models.account import Account  # noqa: E402,F401
from models.alipay import AlipayNotification  # noqa: E402,F401
from models.appeal import (  # noqa: E402,F401
    OPEN_STATUSES,
    Appeal,
    AppealEvent,
    AppealEventKind,
    AppealStatus,
    Attachment,
    AttachmentState,
    StaffRole,
    StaffUser,
)
from models.audit import AuditEvent  # noqa: E402,F401
from models.diploma import (  # noqa: E402,F401
    Certificate,
    Diploma,
    DiplomaStatus,
    LedgerEntry,
    SigningKey,
)
from models.lost import Delivery, LostCertificate  # noqa: E402,F401
from models.office import (  # noqa: E402,F401
    CalendarDay,
    CalendarYear,
    DayKind,
    ImportState,
    LookupOutcome,
    OfficeImport,
    VerificationLookup,
)
from models.proxy import ALL_SCOPES, Proxy, ProxyState, Relationship, Scope  # noqa: E402,F401
from models.registrar_sync import RegistrarRefusal, RegistrarSync  # noqa: E402,F401
from models.security import SecurityCounter  # noqa: E402,F401
from models.staff import SignInFactor, StaffSignIn  # noqa: E402,F401
from models.student import Binding, BindingState, Consent, OtpEvent, OtpEventKind, Student  # noqa: E402,F401
from models.verifier import OrganisationLookup, VerifierKey  # noqa: E402,F401
