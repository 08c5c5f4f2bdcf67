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
    key = annotator_key()
    who = issue_annotator(key)                 # "anon-Xy3...-k2.9f1c..." (fits the annotator column)
    verify_annotator(who, key)                 # -> who; a forged or edited id raises Forbidden
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping

from storage.errors import StoreError

TOKEN_ENV = "PLAYGROUND_OPERATOR_TOKEN"
SECRET_ENV = "PLAYGROUND_ANNOTATOR_SECRET"
MIN_TOKEN_CHARS = 16
ANON_PREFIX = "anon-"
_PROCESS_KEY = secrets.token_bytes(32)


class Forbidden(StoreError):
    """Protected data asked for without the operator's token; nothing was read."""


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
        raise Forbidden("wrong operator token; nothing was exported")


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
