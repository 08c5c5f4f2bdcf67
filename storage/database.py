"""Connecting: which database (`DATABASE_URL` or a SQLite file here), engine settings, migrations.

SQLite connections get WAL, a busy timeout and foreign keys on every connect, and write
transactions start with `BEGIN IMMEDIATE` so concurrent voters queue on the lock instead of
failing on a stale read snapshot. PostgreSQL works by URL alone (`postgresql://` and
`postgres://` are read as the psycopg 3 driver); its connections get a lock_timeout so a
blocked write fails (and is retried) instead of hanging. `migrate` runs Alembic's `upgrade head` on an
engine, so the app creates or upgrades its database at start. Nothing here queries tables.
"""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

from storage.errors import Refused

HERE = Path(__file__).resolve().parent
DEFAULT_URL = f"sqlite:///{HERE / 'playground.db'}"
MIGRATIONS = HERE / "migrations"
IMMEDIATE = "sqlite_begin_immediate"  # execution option: start the transaction with BEGIN IMMEDIATE
MIGRATION_LOCK = 7_031_442  # pg advisory lock id: app instances starting together migrate one at a time


def resolve_url(url: str | None = None) -> URL:
    """The URL to use: the argument, else `DATABASE_URL`, else the SQLite file under storage/.

    A URL that does not parse, or names another database than SQLite or PostgreSQL, is `Refused`
    (the message shows only its scheme: a URL may hold a password).
    """
    field = "database URL" if url else "DATABASE_URL"
    raw = url or os.environ.get("DATABASE_URL") or DEFAULT_URL
    try:
        parsed = make_url(raw)
    except (ArgumentError, ValueError):
        raise Refused(field, _scheme(raw), f"cannot be parsed as a database URL; {EXAMPLES}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise Refused(field, _scheme(raw), f"names an unsupported database; {EXAMPLES}")
    return parsed


EXAMPLES = "use sqlite:///path/to/votes.db or postgresql://user:password@host:5432/dbname"


def _scheme(raw: str) -> str:
    scheme, sep, _ = raw.partition("://")
    return f"{scheme}://..." if sep else f"{raw[:12]}..." if len(raw) > 12 else raw


def safe_url(url: URL | str) -> str:
    """The URL with its password hidden, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def create(url: str | URL | None = None, *, busy_timeout_ms: int = 5000, pool_size: int = 10) -> Engine:
    """An engine for `url`. `busy_timeout_ms` bounds each wait for a lock: SQLite's busy timeout,
    PostgreSQL's lock_timeout, both set on every new connection."""
    parsed = resolve_url(url) if not isinstance(url, URL) else url
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, busy_timeout_ms)
    if parsed.get_backend_name() == "postgresql":
        return _postgres_engine(parsed, busy_timeout_ms, pool_size)
    raise Refused("database URL", f"{parsed.get_backend_name()}://...", f"names an unsupported database; {EXAMPLES}")


def _postgres_engine(url: URL, lock_timeout_ms: int, pool_size: int) -> Engine:
    engine = create_engine(url, pool_size=pool_size, max_overflow=2 * pool_size, pool_pre_ping=True,
                           pool_timeout=10, connect_args={"connect_timeout": 5})

    @event.listens_for(engine, "connect")
    def _timeouts(dbapi_connection, _record) -> None:
        # a vote blocked behind someone's lock fails after the timeout (and is retried) instead of hanging
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = {int(lock_timeout_ms)}")
        dbapi_connection.commit()

    return engine


def _sqlite_engine(url: URL, busy_timeout_ms: int) -> Engine:
    memory = url.database in (None, "", ":memory:")
    if not memory:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    # the driver's transaction handling is off (isolation_level=None) so `_begin` decides how to BEGIN
    kwargs = {"poolclass": StaticPool} if memory else {"pool_size": 20, "max_overflow": 40, "pool_timeout": 30}
    engine = create_engine(url, connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
                           **kwargs)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # autocommit in the driver; SQLAlchemy emits BEGIN
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(IMMEDIATE) else "BEGIN")

    return engine


def alembic_config(url: URL | str | None = None) -> Config:
    """Alembic's config pointing at storage/migrations (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        cfg.attributes["url"] = url
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Create or upgrade the schema to `revision` in one transaction (serialized on PostgreSQL)."""
    with engine.connect() as conn:
        conn = conn.execution_options(**{IMMEDIATE: True})
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
