"""Storage failures other than locks and outages: a read-only database, a full disk, text a database
cannot hold. Each is a `StoreFault` (a `StoreUnavailable`) that says nothing was stored, why and what
to do; `self_check` finds them at start-up; a crash-lost vote confirmation is told that the vote counts.
The faults are real where the database can make them (SQLite's query_only and max_page_count,
PostgreSQL's read-only transactions, psycopg refusing NUL) and mocked driver errors otherwise.
"""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import event, exc, text

from storage import AlreadyVoted, Refused, Store, StoreFault, StoreUnavailable
from storage.retry import fault
from tests.storage.conftest import FAST, battle, record


def _read_only(store: Store) -> Store:
    """Every new connection refuses writes (SQLite: query_only; PostgreSQL: read-only transactions)."""
    statement = ("PRAGMA query_only = ON" if store.engine.dialect.name == "sqlite"
                 else "SET default_transaction_read_only = on")

    @event.listens_for(store.engine, "connect")
    def _refuse_writes(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(statement)
        cursor.close()
        if store.engine.dialect.name == "postgresql":
            dbapi_connection.commit()

    store.engine.dispose()  # the pooled connections were opened before
    return store


def test_a_read_only_database_refuses_the_vote_and_the_generation_with_a_clear_fault(store):
    bid = battle(store)
    before = store.counts()
    _read_only(store)
    with pytest.raises(StoreFault) as vote:
        store.cast_vote(bid, "ann", "left")
    assert vote.value.reason == "read-only" and isinstance(vote.value, StoreUnavailable)
    message = str(vote.value)
    assert f"could not store the vote on battle {bid}: nothing was stored" in message
    assert "is read-only" in message and "Fix: make the database file" in message
    with pytest.raises(StoreFault, match=r"could not save the generation: nothing was stored.*read-only"):
        store.save_generation(record())
    assert store.counts() == before and store.battle(bid).vote is None  # reads still work


def test_the_start_up_check_writes_and_reads_back_then_refuses_a_read_only_database(store):
    said = store.self_check()
    assert said.startswith(f"votes are stored in {store.url}") and "written, read back" in said
    assert store.counts()["annotators"] == 0  # the test row is gone
    _read_only(store)
    with pytest.raises(StoreFault, match=r"could not write a test row: nothing was stored.*read-only"):
        store.self_check()


def test_a_full_sqlite_database_refuses_with_disk_full(sqlite_url):
    with Store.open(sqlite_url, retry=FAST, busy_timeout_ms=200) as store:
        bid = battle(store)
        with store.engine.connect() as conn:
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar()

        @event.listens_for(store.engine, "connect")
        def _cap(dbapi_connection, _record) -> None:  # the file may not grow: SQLite's own SQLITE_FULL
            dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

        store.engine.dispose()
        with pytest.raises(StoreFault) as full:
            store.save_generation(record(text="x" * 200_000))
        assert full.value.reason == "disk full" and "nothing was stored" in str(full.value)
        assert "database or disk is full" in str(full.value) and "free disk space" in str(full.value)
        assert store.counts()["generations"] == 2 and store.battle(bid).vote is None


@pytest.mark.parametrize(("orig", "reason"), [
    (sqlite3.OperationalError("database or disk is full"), "disk full"),
    (sqlite3.OperationalError("attempt to write a readonly database"), "read-only"),
    (type("DiskFull", (Exception,), {"sqlstate": "53100"})("could not extend file"), "disk full"),
    (type("ReadOnlySqlTransaction", (Exception,), {"sqlstate": "25006"})("cannot execute INSERT"), "read-only"),
    (type("DataError", (Exception,), {"sqlstate": None})("PostgreSQL text fields cannot contain NUL (0x00) bytes"),
     "bad text"),
])
def test_driver_errors_are_classified(orig, reason):
    error = exc.OperationalError("INSERT", {}, orig)
    found = fault("store the vote on battle 3", "sqlite:///x.db", error)
    assert found is not None and found.reason == reason
    assert str(found).startswith("could not store the vote on battle 3: nothing was stored")


def test_locks_and_broken_constraints_are_not_faults():
    assert fault("x", "db", exc.OperationalError("BEGIN", {}, sqlite3.OperationalError("database is locked"))) is None
    assert fault("x", "db", exc.IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed"))) is None
    assert fault("x", "db", ValueError("not a driver error")) is None
    too_many = type("TooManyConnections", (Exception,), {"sqlstate": "53300"})("sorry, too many clients")
    assert fault("x", "db", exc.OperationalError("BEGIN", {}, too_many)) is None  # retried instead


@pytest.mark.postgres
def test_postgresql_refuses_nul_and_the_store_says_nothing_was_stored(pg_migrated):
    with Store.open(pg_migrated, retry=FAST, migrate=False) as store:
        def insert() -> None:
            with store.engine.begin() as conn:
                conn.execute(text("INSERT INTO annotators (id, created_at) VALUES (:id, now())"), {"id": "a\x00b"})
        with pytest.raises(StoreFault) as error:
            store.retry.run("register the annotator", insert, store.url)
        assert error.value.reason == "bad text" and "NUL" in str(error.value)
        assert "nothing was stored" in str(error.value)


@pytest.mark.parametrize(("field", "call"), [
    ("generation.prompt", lambda s: s.save_generation(record(prompt="Write\x00 a review"))),
    ("generation.trace[0].text", lambda s: s.save_generation(
        {**record(), "trace": [{"type": "token", "text": "\udc80"}, *record()["trace"][1:]]})),
    ("generation.prompt_set", lambda s: s.save_generation(record(prompt_set="set\udcff"))),
    ("vote.rationale", lambda s: s.cast_vote(battle(s), "ann", "left", "fine\x00")),
    ("vote.rationale", lambda s: s.cast_vote(battle(s), "ann", "left", b"bytes"))],
    ids=["nul-prompt", "surrogate-trace", "surrogate-prompt-set", "nul-rationale", "bytes-rationale"])
def test_unstorable_text_is_refused_at_validation_on_every_backend(store, field, call):
    with pytest.raises(Refused) as info:
        call(store)
    assert info.value.field == field
    assert any(word in str(info.value) for word in ("NUL", "lone surrogate", "got bytes"))
    assert store.counts()["votes"] == 0


def test_a_nul_the_model_generated_is_kept_in_the_trace_and_replaced_in_the_text_column(store):
    rec = record(text="ok\x00ok")
    rec["trace"] = [{**rec["trace"][0], "text": "\x00"}, rec["trace"][1]]
    gen = store.generation(store.save_generation(rec))
    assert gen.trace[0]["text"] == "\x00" and gen.trace[-1]["text"] == "ok\x00ok"  # verbatim, as JSON escapes
    assert gen.text == "ok\ufffdok"


def test_a_vote_whose_confirmation_was_lost_is_reported_as_counted_on_retry(store):
    bid = battle(store)
    store.cast_vote(bid, "ann", "left", "clearer")  # stored; say the server crashed before answering
    with pytest.raises(AlreadyVoted) as retry:
        store.cast_vote(bid, "ann", "left", "clearer")  # the browser tries again
    message = str(retry.value)
    assert "already has a vote from you, 'ann'" in message and "That vote counts" in message
    assert retry.value.vote.choice == "left" and retry.value.vote.annotator_id == "ann"
    assert retry.value.field == "vote.battle_id" and isinstance(retry.value, Refused)
    with pytest.raises(Refused) as other:
        store.cast_vote(bid, "someone-else", "right")
    assert not isinstance(other.value, AlreadyVoted) and "counts" not in str(other.value)
    assert store.counts()["votes"] == 1
