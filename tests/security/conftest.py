"""Security fixtures: a fresh store per case on SQLite (and on PostgreSQL when DATABASE_URL_POSTGRES is
set), reusing the storage suite's migrated databases."""

from tests.storage.conftest import db_url, pg_migrated, sqlite_migrated, store  # noqa: F401
