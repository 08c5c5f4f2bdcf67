"""Who votes: ids the server issues and signs, the signed-in user's id, the vote rate limits, and the
client address they are counted by."""

from __future__ import annotations

import types

import gradio as gr
import pytest

from playground.identity import Identity, RateLimit, TooFast, client_address, is_verified, verified_id
from storage.access import Forbidden, issue_annotator

KEY, OTHER_KEY = b"k" * 32, b"o" * 32


def _profile(username: str) -> gr.OAuthProfile:
    """What Gradio injects for a signed-in user (the fields of the hub's userinfo it reads)."""
    return gr.OAuthProfile({"preferred_username": username, "name": username.title(), "profile": "",
                            "picture": ""})


def _request(host: str = "10.0.0.1", forwarded: str | None = None) -> types.SimpleNamespace:
    headers = {"x-forwarded-for": forwarded} if forwarded else {}
    return types.SimpleNamespace(client=types.SimpleNamespace(host=host), headers=headers)


def test_the_server_keeps_its_own_ids_and_replaces_any_other():
    identity = Identity(KEY)
    mine = identity.issue(None)
    assert mine.startswith("anon-") and identity.issue(mine) == mine  # a reload keeps it
    for stored in ("", "anon-made-up", mine[:-1] + ("0" if mine[-1] != "0" else "1"), issue_annotator(OTHER_KEY),
                   "hf:alice", "<script>"):
        fresh = identity.issue(stored)
        assert fresh != stored and identity.voter(fresh) == fresh  # a new id this server signed
    assert identity.issue(mine, _profile("alice")) == "hf:alice"


def test_a_vote_counts_only_for_an_id_this_server_issued_or_the_signed_in_user():
    identity = Identity(KEY, votes_per_minute=0, client_votes_per_minute=0)
    mine = identity.issue(None)
    assert identity.voter(mine) == mine
    for forged in ("hf:alice", "anon-abc.def", issue_annotator(OTHER_KEY), "", None):
        with pytest.raises(Forbidden, match=r"vote\.annotator: not an annotator id this server issued"):
            identity.voter(forged)
    profile = _profile("alice")
    assert identity.voter("anything the page sends", profile) == "hf:alice"  # the session decides, not the page
    assert is_verified("hf:alice") and not is_verified(mine) and verified_id({"preferred_username": "bo"}) == "hf:bo"


def test_a_rate_limit_counts_a_window_and_says_how_long_to_wait():
    limit = RateLimit(2)
    assert limit.wait_s("a", now=0.0) == 0 and limit.wait_s("a", now=1.0) == 0
    assert limit.wait_s("a", now=2.0) == pytest.approx(58.0)  # refused, not counted
    assert limit.wait_s("b", now=2.0) == 0  # another key
    assert limit.wait_s("a", now=60.5) == 0  # the first one left the window
    assert all(RateLimit(0).wait_s("a", now=0.0) == 0 for _ in range(100))  # 0: no limit


def test_votes_over_a_limit_are_refused_per_annotator_and_per_address():
    identity = Identity(KEY, votes_per_minute=2, client_votes_per_minute=3)
    ann, other = identity.issue(None), identity.issue(None)
    home = _request("10.0.0.1")
    assert identity.voter(ann, request=home) == ann and identity.voter(ann, request=home) == ann
    with pytest.raises(TooFast, match=r"NOT stored: too many votes per annotator \(at most 2 a minute\).*wait"):
        identity.voter(ann, request=_request("10.0.0.2"))
    assert identity.voter(other, request=home) == other  # the address's third vote
    with pytest.raises(TooFast, match="too many votes from your address"):
        identity.voter(other, request=home)


def test_the_client_address_is_the_socket_peer_or_the_proxys_last_hop():
    assert client_address(_request("1.2.3.4", "6.6.6.6, 5.5.5.5")) == "1.2.3.4"  # no proxy trusted
    assert client_address(_request("10.0.0.9", "6.6.6.6, 5.5.5.5"), behind_proxy=True) == "5.5.5.5"
    assert client_address(None) == "unknown"
