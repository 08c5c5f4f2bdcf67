"""Alembic environment: runs migrations on the connection `storage.database.migrate` hands over,
or, from the `alembic` command line, on `DATABASE_URL` (default: the SQLite file under storage/).

SQLite alters tables in batch mode (copy and swap), which is how Alembic changes constraints there.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context

from storage.database import create, resolve_url
from storage.models import Base

config = context.config
if config.config_file_name is not None:  # the command line: log as alembic.ini says
    fileConfig(config.config_file_name, disable_existing_loggers=False)
target_metadata = Base.metadata


def run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url") or None
    engine = create(resolve_url(url))
    try:
        with engine.connect() as conn:
            run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    context.configure(url=str(resolve_url(config.get_main_option("sqlalchemy.url") or None)),
                      target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_online()
