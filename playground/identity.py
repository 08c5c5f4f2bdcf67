"""Who is voting: a verified Hugging Face user, or an anonymous id this server issued and signed.

On every page load the browser sends the id it kept in localStorage; the server keeps it if it
signed it (`storage.access.verify_annotator`) and issues a fresh signed one otherwise (none yet,
edited, made up, or signed with an older key), and the page stores what the server returned. A
client therefore cannot vote as another annotator or invent ids: every vote handler asks
`Identity.voter` again, on the server, with the id the page sends. With the "Sign in with Hugging
Face" button (`gr.LoginButton`, shown on a Space; see `Settings.login`) a signed-in visitor votes
as `hf:USERNAME`, taken from the OAuth session Gradio injects (`gr.OAuthProfile`), never from the
page. `RateLimit` caps votes per annotator and per client address with a message that says how
long to wait. No storage access here.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from storage.access import ANON_PREFIX, Forbidden, issue_annotator, verify_annotator

STORAGE_KEY = "decoder-playground-annotator"
VERIFIED_PREFIX = "hf:"
# Runs in the browser before the load event: the id kept in this browser ('' if none or blocked).
LOAD_JS = f"""() => {{
  try {{ return localStorage.getItem('{STORAGE_KEY}') || ''; }} catch (e) {{ return ''; }}
}}"""
# Keeps an anonymous id the server issued (a signed-in user's hf: id is not kept: it comes from the session).
SAVE_JS = f"""(id) => {{
  try {{ if (id && id.startsWith('{ANON_PREFIX}')) localStorage.setItem('{STORAGE_KEY}', id); }} catch (e) {{}}
  return id;
}}"""


class TooFast(Exception):
    """A vote over a rate limit; the message says whose limit and how long to wait. Nothing was stored."""


@dataclass
class RateLimit:
    """At most `per_minute` events per key in any 60 s window (0: no limit). Thread-safe."""

    per_minute: int
    window_s: float = 60.0
    _seen: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_s(self, key: str, now: float | None = None) -> float:
        """0 and the event counted when `key` is under the limit; else seconds until it is (not counted)."""
        if self.per_minute <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        with self._lock:
            seen = self._seen.setdefault(key, deque())
            while seen and now - seen[0] >= self.window_s:
                seen.popleft()
            if len(seen) >= self.per_minute:
                return self.window_s - (now - seen[0])
            seen.append(now)
            if len(self._seen) > 100_000:  # forget idle keys so the table stays small
                self._seen = {k: v for k, v in self._seen.items() if v and now - v[-1] < self.window_s}
            return 0.0


@dataclass
class Identity:
    """Issues and checks annotator ids, and applies the vote rate limits (one per app)."""

    key: bytes
    votes_per_minute: int = 30
    client_votes_per_minute: int = 120
    behind_proxy: bool = False  # a Space: the client address is the last X-Forwarded-For hop
    per_annotator: RateLimit = field(init=False)
    per_client: RateLimit = field(init=False)

    def __post_init__(self) -> None:
        self.per_annotator = RateLimit(self.votes_per_minute)
        self.per_client = RateLimit(self.client_votes_per_minute)

    @classmethod
    def from_settings(cls, settings: Any) -> Identity:
        return cls(settings.annotator_key, settings.votes_per_minute, settings.client_votes_per_minute,
                   settings.login)

    def issue(self, stored: str | None, profile: gr.OAuthProfile | None = None) -> str:
        """The id this page votes as: the signed-in user's, the stored one if this server signed it, else a new one."""
        if profile is not None:
            return verified_id(profile)
        try:
            return verify_annotator((stored or "").strip(), self.key)
        except Forbidden:
            return issue_annotator(self.key)

    def who(self, value: str | None, profile: Any = None) -> str:
        """The signed-in user, or the id `value` if this server signed it (`Forbidden` otherwise); nothing counted."""
        return verified_id(profile) if profile is not None else verify_annotator((value or "").strip(), self.key)

    def voter(self, value: str | None, profile: gr.OAuthProfile | None = None,
              request: gr.Request | None = None) -> str:
        """The annotator a vote counts for; `Forbidden` for an id this server did not issue, `TooFast` over a limit."""
        who = self.who(value, profile)
        self.count_vote(who, request)
        return who

    def count_vote(self, who: str, request: Any = None) -> None:
        """Count one vote of `who` from `request`'s address; `TooFast` (nothing counted) over a limit."""
        for limit, key, whose in ((self.per_client, f"client {client_address(request, self.behind_proxy)}",
                                   "from your address"), (self.per_annotator, who, "per annotator")):
            wait = limit.wait_s(key)
            if wait:
                raise TooFast(f"Your vote was NOT stored: too many votes {whose} (at most {limit.per_minute} a "
                              f"minute). Please wait {max(1, round(wait))} s and vote again.")


def verified_id(profile: Any) -> str:
    """`hf:USERNAME` for a signed-in Hugging Face user (an OAuthProfile, a dict with preferred_username)."""
    name = getattr(profile, "username", None) or (profile.get("preferred_username") if isinstance(profile, dict)
                                                  else None)
    if not name:
        raise Forbidden("vote.annotator: the sign-in gave no user name; sign in again")
    return f"{VERIFIED_PREFIX}{name}"


def is_verified(annotator: str) -> bool:
    return annotator.startswith(VERIFIED_PREFIX)


def client_address(request: gr.Request | None, behind_proxy: bool = False) -> str:
    """Where a request came from: the proxy's last X-Forwarded-For hop on a Space, else the socket peer."""
    if request is None:
        return "unknown"
    if behind_proxy:
        forwarded = (request.headers.get("x-forwarded-for") or "").split(",")
        if forwarded[-1].strip():
            return forwarded[-1].strip()
    client = getattr(request, "client", None)
    return getattr(client, "host", None) or "unknown"


def annotator_box() -> gr.Textbox:
    """The header's id box (call inside a layout block): shows the id votes count for; not editable."""
    return gr.Textbox(label="You vote as (an id this server issued, kept in this browser)", max_lines=1,
                      interactive=False, elem_id="annotator", scale=1, min_width=220)


def login_button() -> gr.LoginButton:
    return gr.LoginButton("Sign in with Hugging Face", elem_id="hf-login", size="md", scale=0, min_width=160)


def wire_identity(page: gr.Blocks, box: gr.Textbox, identity: Identity) -> None:
    """On load: the browser's kept id goes to the server, which returns the id to vote as; the page keeps it."""
    def resolve(stored: str | None, profile: gr.OAuthProfile | None) -> str:
        return identity.issue(stored, profile)

    page.load(resolve, box, box, js=LOAD_JS, queue=False, show_progress="hidden", api_name="annotator",
              concurrency_id="arena", concurrency_limit=None)
    box.change(None, box, None, js=SAVE_JS, queue=False)
