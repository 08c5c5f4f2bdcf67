"""Alembic migrations: a fresh database reaches head and matches the models; an old database
(revision 0001, with data) upgrades to head keeping its data; downgrade and upgrade again work;
the `alembic` command line reads DATABASE_URL. On SQLite, and on PostgreSQL when configured."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from storage import Store, database
from storage.models import Base
from tests.storage.conftest import FAST, battle

ROOT = Path(__file__).resolve().parents[2]


def head() -> str:
    return ScriptDirectory.from_config(database.alembic_config()).get_current_head()


def test_fresh_database_reaches_head_and_matches_the_models(empty_url):
    with Store.open(empty_url, retry=FAST) as store:
        assert database.current_revision(store.engine) == head() == "0002"
        with store.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert diff == []
        assert store.counts() == {"prompts": 0, "generations": 0, "battles": 0, "votes": 0, "annotators": 0}


def test_opening_twice_is_a_no_op(empty_url):
    Store.open(empty_url, retry=FAST).close()
    with Store.open(empty_url, retry=FAST) as store:
        assert database.current_revision(store.engine) == head()


OLD_ROWS = [
    "INSERT INTO prompts (id, digest, text, prompt_set, created_at) VALUES (1, 'd', 'old prompt', '', :t)",
    *[f"INSERT INTO generations (id, prompt_id, decoder, label, config, rewards, preset, model_ids, request, seed, "
      f"text, trace, reward, reward_parts, cost, stop_reason, created_at) VALUES ({i}, 1, 'args', 'cfg{i}', '{{}}', "
      f"'{{}}', 'embedded', '{{}}', '{{}}', 1, 'text {i}', '[]', 0.5, '{{}}', '{{}}', 'eos', :t)" for i in (1, 2)],
    "INSERT INTO battles (id, generation_a_id, generation_b_id, blind, left_side, status, created_at) "
    "VALUES (1, 1, 2, true, 'b', 'voted', :t)",
    "INSERT INTO annotators (id, created_at) VALUES ('old-annotator', :t)",
    "INSERT INTO votes (id, battle_id, annotator_id, choice, rationale, ms_to_vote, created_at) "
    "VALUES (1, 1, 'old-annotator', 'left', 'kept', 900, :t)",
]


def test_an_old_database_with_votes_upgrades_to_head(empty_url):
    engine = database.create(empty_url)
    database.migrate(engine, "0001")
    assert database.current_revision(engine) == "0001"
    assert "client_token" not in {c["name"] for c in inspect(engine).get_columns("votes")}
    with engine.begin() as conn:
        for sql in OLD_ROWS:
            conn.execute(text(sql), {"t": "2024-01-02 03:04:05"})
        if engine.dialect.name == "postgresql":  # explicit ids above: move the sequences past them
            for table in ("prompts", "generations", "battles", "votes"):
                conn.execute(text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))"))
    engine.dispose()
    with Store.open(empty_url, retry=FAST) as store:  # the app upgrades at start
        assert database.current_revision(store.engine) == head()
        columns = {c["name"] for c in inspect(store.engine).get_columns("votes")}
        assert "client_token" in columns
        assert "ix_votes_created_at" in {i["name"] for i in inspect(store.engine).get_indexes("votes")}
        [old] = store.vote_rows()
        assert (old.config_a, old.config_b, old.outcome, old.annotator) == ("cfg1", "cfg2", "b", "old-annotator")
        assert old.created_at.year == 2024 and old.created_at.tzinfo is not None
        new = store.cast_vote(battle(store), "new-annotator", "right")
        assert new.id == 2 and store.counts()["votes"] == 2


def test_downgrade_then_upgrade_again(empty_url):
    with Store.open(empty_url, retry=FAST) as store:
        store.cast_vote(battle(store), "someone", "tie")
        cfg = database.alembic_config()
        with store.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0001")
        assert database.current_revision(store.engine) == "0001"
        assert "client_token" not in {c["name"] for c in inspect(store.engine).get_columns("votes")}
        database.migrate(store.engine)
        assert database.current_revision(store.engine) == head()
        assert len(store.vote_rows()) == 1


def test_the_alembic_command_line_uses_database_url(sqlite_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    cfg = Config(str(ROOT / "alembic.ini"))
    command.upgrade(cfg, "0001")
    command.upgrade(cfg, "head")
    engine = database.create(sqlite_url)
    assert database.current_revision(engine) == head()
    engine.dispose()


def test_default_url_is_a_sqlite_file_under_storage(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    url = database.resolve_url()
    assert url.get_backend_name() == "sqlite"
    assert Path(url.database) == ROOT / "storage" / "playground.db"
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:secret@db.example/x")
    assert database.resolve_url().drivername == "postgresql+psycopg"
    assert "secret" not in database.safe_url(database.resolve_url())


@pytest.mark.parametrize("pragma, expected", [("journal_mode", "wal"), ("busy_timeout", 1234), ("foreign_keys", 1)])
def test_sqlite_connections_get_wal_busy_timeout_and_foreign_keys(sqlite_url, pragma, expected):
    with Store.open(sqlite_url, busy_timeout_ms=1234) as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql(f"PRAGMA {pragma}").scalar() == expected
