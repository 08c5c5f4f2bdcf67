"""Who may read the protected data (exports, annotator ids): the operator, by a token.

The operator sets `PLAYGROUND_OPERATOR_TOKEN` (at least 16 characters) where the app runs; a
visitor who types the same token may export. Without a token configured, exports are off for
everyone. The comparison is constant-time and a refusal never says how close a guess came. This
module only checks; the UI decides where to ask for the token, and `storage.export` writes.

Anonymous annotators get ids the server issues and signs (`issue_annotator`); a vote that arrives
with an id is checked by `verify_annotator`, so a client cannot take over another annotator's id
or make ids up. The key is `PLAYGROUND_ANNOTATOR_SECRET` (else one random key per process: ids
then last until the app restarts).

    require_operator(typed_token)              # returns None, or raises Forbidden with a plain message
    guard = TokenGuard()                       # the same, at most 5 wrong tokens per client in 10 minutes
    guard.check(typed_token, client="203.0.113.7")
    key = annotator_key()
    who = issue_annotator(key)                 # "anon-Xy3...-k2.9f1c..." (fits the annotator column)
    verify_annotator(who, key)                 # -> who; a forged or edited id raises Forbidden
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from storage.errors import StoreError

TOKEN_ENV = "PLAYGROUND_OPERATOR_TOKEN"
SECRET_ENV = "PLAYGROUND_ANNOTATOR_SECRET"
MIN_TOKEN_CHARS = 16
ANON_PREFIX = "anon-"
_PROCESS_KEY = secrets.token_bytes(32)


class Forbidden(StoreError):
    """Protected data asked for without the operator's token; nothing was read."""


class WrongToken(Forbidden):
    """A token was given and it is not the operator's."""


def operator_token(environ: Mapping[str, str] | None = None) -> str | None:
    """The configured token, or None when exports are off. A token that is too short is refused."""
    token = (os.environ if environ is None else environ).get(TOKEN_ENV, "").strip()
    if not token:
        return None
    if len(token) < MIN_TOKEN_CHARS:
        raise Forbidden(f"{TOKEN_ENV} is set but shorter than {MIN_TOKEN_CHARS} characters; protected data stays "
                        f"off until the operator sets a longer token")
    return token


def exports_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether an operator token is configured (the UI may hide export controls otherwise)."""
    try:
        return operator_token(environ) is not None
    except Forbidden:
        return False


def require_operator(token: str | None, environ: Mapping[str, str] | None = None) -> None:
    """Pass for the operator's token; `Forbidden` otherwise (no token configured, none given, or wrong)."""
    expected = operator_token(environ)
    if expected is None:
        raise Forbidden(f"exports and annotator data are off: no operator token is configured ({TOKEN_ENV})")
    if not isinstance(token, str) or not token.strip():
        raise Forbidden("this needs the operator token; type it to continue")
    given = token.strip().encode("utf-8", "surrogatepass")
    if not hmac.compare_digest(given, expected.encode("utf-8", "surrogatepass")):
        raise WrongToken("wrong operator token; nothing was exported")


@dataclass
class TokenGuard:
    """`require_operator` with at most `tries` wrong tokens per client in any `window_s`; past that,
    every try from that client is refused (right or wrong, so guessing learns nothing) until the
    oldest wrong one leaves the window. Thread-safe; one per app."""

    tries: int = 5
    window_s: float = 600.0
    _wrong: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, token: str | None, environ: Mapping[str, str] | None = None, client: str = "unknown") -> None:
        now = time.monotonic()
        with self._lock:
            wrong = self._wrong.setdefault(client, deque())
            while wrong and now - wrong[0] >= self.window_s:
                wrong.popleft()
            if len(wrong) >= self.tries:
                wait = math.ceil(self.window_s - (now - wrong[0]))
                raise Forbidden(f"too many wrong operator tokens from your address ({self.tries} in "
                                f"{round(self.window_s / 60)} minutes); try again in {wait} s")
        try:
            require_operator(token, environ)
        except WrongToken:
            with self._lock:
                self._wrong.setdefault(client, deque()).append(now)
                if len(self._wrong) > 10_000:  # forget clients whose wrong tries all left the window
                    self._wrong = {c: d for c, d in self._wrong.items() if d and now - d[-1] < self.window_s}
            raise


def annotator_key(environ: Mapping[str, str] | None = None) -> bytes:
    """The key that signs anonymous annotator ids: `PLAYGROUND_ANNOTATOR_SECRET`, else per process."""
    secret = (os.environ if environ is None else environ).get(SECRET_ENV, "").strip()
    if secret and len(secret) < MIN_TOKEN_CHARS:
        raise Forbidden(f"{SECRET_ENV} is shorter than {MIN_TOKEN_CHARS} characters; set a longer secret")
    return secret.encode() if secret else _PROCESS_KEY


def _signature(key: bytes, nonce: str) -> str:
    return hmac.new(key, nonce.encode(), hashlib.sha256).hexdigest()[:20]


def issue_annotator(key: bytes) -> str:
    """A fresh anonymous annotator id signed with `key` (37 characters)."""
    nonce = secrets.token_urlsafe(9)
    return f"{ANON_PREFIX}{nonce}.{_signature(key, nonce)}"


def verify_annotator(value: object, key: bytes) -> str:
    """`value` if this server issued it (constant-time check); `Forbidden` naming the field otherwise."""
    if not isinstance(value, str) or not value.isascii() or not value.startswith(ANON_PREFIX) or value.count(".") != 1:
        raise Forbidden("vote.annotator: not an annotator id this server issued; reload the page for a new one")
    nonce, _, signature = value[len(ANON_PREFIX):].partition(".")
    if not nonce or not hmac.compare_digest(signature.encode(), _signature(key, nonce).encode()):
        raise Forbidden("vote.annotator: not an annotator id this server issued; reload the page for a new one")
    return value
