"""What a voter reads (through `playground.votes.cast`, the Arena's and Compare's vote path) when the
store refuses: a read-only database says the vote was NOT stored and why; a retry after a lost
confirmation says the earlier vote counts; NUL in a rationale names the field."""

from __future__ import annotations

from playground.votes import cast
from tests.security.cases import _refuse_writes
from tests.storage.conftest import battle


def test_a_read_only_database_is_reported_as_not_stored_with_the_reason(store):
    bid = battle(store)
    _refuse_writes(store)
    reply = cast(store, bid, "ann", "left")
    assert not reply.ok and "NOT stored" in reply.message and "read-only" in reply.message, reply.message


def test_a_retry_after_a_lost_confirmation_says_the_vote_counts(store):
    bid = battle(store)
    assert cast(store, bid, "ann", "left").ok
    again = cast(store, bid, "ann", "left")
    assert not again.ok and again.locked and "That vote counts" in again.message, again.message


def test_a_nul_in_the_rationale_names_the_field(store):
    reply = cast(store, battle(store), "ann", "left", "fine\x00")
    assert not reply.ok and "vote.rationale" in reply.message and "NUL" in reply.message
    assert store.counts()["votes"] == 0
