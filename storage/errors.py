"""The two ways a storage call can fail: the request was refused, or the database was unavailable.

`Refused` means nothing was stored because the request itself is wrong (unknown battle, a second
vote, a malformed choice...); retrying it cannot help and the message names the field and value.
`StoreUnavailable` means the database stayed locked or unreachable through every retry; the
request may succeed later. Neither is ever raised after a write was reported as done.
"""

from __future__ import annotations

from typing import Any

SHOWN = 60  # characters of a bad value quoted in a message


class StoreError(Exception):
    """Base of every error the storage layer raises on purpose."""


class Refused(StoreError, ValueError):
    """A request the store will not carry out; nothing was written."""

    def __init__(self, field: str, value: Any, why: str):
        self.field, self.value, self.why = field, value, why
        super().__init__(f"{field}={_show(value)}: {why}")


class StoreUnavailable(StoreError):
    """The database stayed locked or unreachable through every retry; nothing was reported stored."""


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN else f"{text[:SHOWN]}... ({len(value) if isinstance(value, str) else '?'} chars)"
