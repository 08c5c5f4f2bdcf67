"""Who may read the protected data (exports, annotator ids): the operator, by a token.

The operator sets `PLAYGROUND_OPERATOR_TOKEN` (at least 16 characters) where the app runs; a
visitor who types the same token may export. Without a token configured, exports are off for
everyone. The comparison is constant-time and a refusal never says how close a guess came. This
module only checks; the UI decides where to ask for the token, and `storage.export` writes.

    require_operator(typed_token)              # returns None, or raises Forbidden with a plain message
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping

from storage.errors import StoreError

TOKEN_ENV = "PLAYGROUND_OPERATOR_TOKEN"
MIN_TOKEN_CHARS = 16


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
