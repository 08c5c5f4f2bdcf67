"""The two ways a storage call can fail: the request was refused, or the database was unavailable.

`Refused` means nothing was stored because the request itself is wrong (unknown battle, a second
vote, a malformed choice...); retrying it cannot help and the message names the field and value.
`StoreUnavailable` means the database stayed locked or unreachable through every retry; the
request may succeed later. Its subclass `StoreFault` means the database itself refused the write
for a reason an operator must fix (read-only, disk full, text it cannot hold); the message says
that nothing was stored, why, and what to do. None is ever raised after a write was reported as done.
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


class StoreFault(StoreUnavailable):
    """The database refused to store anything: read-only, full, or given text it cannot hold.

    `reason` is one of "read-only", "disk full", "bad text", "database error"; retrying the same
    call will not help until an operator fixes the cause the message names.
    """

    def __init__(self, message: str, reason: str):
        self.reason = reason
        super().__init__(message)


class AlreadyVoted(Refused):
    """This annotator's vote on the battle is already stored (e.g. its confirmation was lost in a crash).

    `vote` is the stored vote; it counts. The new vote was not stored (one vote per battle).
    """

    def __init__(self, vote: Any, why: str):
        self.vote = vote
        super().__init__("vote.battle_id", vote.battle_id, why)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN else f"{text[:SHOWN]}... ({len(value) if isinstance(value, str) else '?'} chars)"
