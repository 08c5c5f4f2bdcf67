"""A locked or unreachable database: the vote is retried with backoff, succeeds once the lock is
released, and otherwise raises `StoreUnavailable` with a readable message, storing nothing. A
retry after a commit whose reply was lost returns the stored vote instead of a duplicate error."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlalchemy import create_engine, exc, text

from storage import Retry, Store, StoreUnavailable
from storage.retry import is_transient
from tests.storage.conftest import battle

PATIENT = Retry(attempts=5, base_s=0.05, max_s=0.2)  # with a 100 ms busy timeout: about 1 s in all
UNREACHABLE = "postgresql://nobody@127.0.0.1:1/none"


def hold_sqlite_lock(url: str) -> sqlite3.Connection:
    """Another connection takes the write lock (BEGIN EXCLUSIVE) and keeps it until rolled back."""
    conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN EXCLUSIVE")
    return conn


def test_a_briefly_locked_sqlite_database_makes_the_vote_wait_then_succeed(sqlite_url):
    with Store.open(sqlite_url, retry=PATIENT, busy_timeout_ms=100) as store:
        bid = battle(store)
        lock = hold_sqlite_lock(sqlite_url)
        threading.Timer(0.3, lock.rollback).start()
        started = time.monotonic()
        vote = store.cast_vote(bid, "ann", "left")
        assert time.monotonic() - started >= 0.25
        assert store.battle(bid).vote == vote
        lock.close()


def test_a_sqlite_database_locked_too_long_raises_store_unavailable_and_stores_nothing(sqlite_url):
    with Store.open(sqlite_url, retry=PATIENT, busy_timeout_ms=100) as store:
        bid = battle(store)
        lock = hold_sqlite_lock(sqlite_url)
        try:
            with pytest.raises(StoreUnavailable) as info:
                store.cast_vote(bid, "ann", "left")
        finally:
            lock.rollback()
            lock.close()
        message = str(info.value)
        assert f"could not store the vote on battle {bid}" in message and "5 attempts" in message
        assert "database is locked" in message and sqlite_url in message
        assert store.counts()["votes"] == 0 and store.battle(bid).status == "open"
        assert store.cast_vote(bid, "ann", "left").battle_id == bid  # and works once the lock is gone


def test_a_locked_postgres_table_is_retried_then_reported(pg_url):
    with Store.open(pg_url, retry=PATIENT, busy_timeout_ms=100) as store:
        bid = battle(store)
        holder = create_engine(pg_url)
        conn = holder.connect()
        conn.execute(text("LOCK TABLE battles IN ACCESS EXCLUSIVE MODE"))
        try:
            with pytest.raises(StoreUnavailable, match="lock"):
                store.cast_vote(bid, "ann", "left")
            threading.Timer(0.3, conn.rollback).start()
            assert store.cast_vote(bid, "ann", "left").battle_id == bid
        finally:
            conn.close()
            holder.dispose()
        assert store.counts()["votes"] == 1


def test_an_unreachable_database_raises_store_unavailable():
    store = Store.open(UNREACHABLE, migrate=False, retry=Retry(attempts=3, base_s=0.01))
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as info:
        store.cast_vote(1, "ann", "left")
    assert time.monotonic() - started < 10
    assert "could not store the vote on battle 1" in str(info.value) and "3 attempts" in str(info.value)
    assert "127.0.0.1:1" in str(info.value)
    with pytest.raises(StoreUnavailable, match="could not create or upgrade the schema"):
        Store.open(UNREACHABLE, retry=Retry(attempts=2, base_s=0.01))


class LostReply(Retry):
    """The first attempt commits, then the connection drops before the reply arrives."""

    def run(self, what, fn, where, rng=None):
        if what.startswith("store the vote"):
            fn()  # stored; the caller never hears of it and tries again
        return super().run(what, fn, where, rng)


def test_a_retry_after_a_lost_commit_returns_the_stored_vote(db_url):
    with Store.open(db_url, retry=LostReply(attempts=2, base_s=0.0)) as store:
        bid = battle(store)
        vote = store.cast_vote(bid, "ann", "both_bad")
        assert store.counts()["votes"] == 1 and store.battle(bid).vote == vote


def test_only_transient_errors_are_retried():
    locked = exc.OperationalError("BEGIN", {}, sqlite3.OperationalError("database is locked"))
    missing = exc.OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: votes"))
    assert is_transient(locked) and not is_transient(missing)
    assert not is_transient(exc.IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed")))
    assert is_transient(exc.TimeoutError("QueuePool limit reached"))
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise locked
        return "ok"
    assert Retry(attempts=3, base_s=0.0).run("test", flaky, "db") == "ok" and len(calls) == 3
    with pytest.raises(ValueError, match="attempts"):
        Retry(attempts=0)
