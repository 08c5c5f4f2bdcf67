"""Bounded retries with exponential backoff for a database that is briefly locked or unreachable.

Only transient failures are retried: a locked SQLite file, a refused or dropped connection, an
exhausted connection pool. Anything else (a refusal, a constraint the request broke, a bug)
goes straight to the caller. When the attempts run out, `StoreUnavailable` says what was being
done, for how long, against which database, and the last error. A database that refuses the
write for good (read-only, disk full, text it cannot hold, any other driver error but a broken
constraint) is a `StoreFault` at once: nothing was stored, why, and what an operator can do. This
module does not know which operation it retries; `Store` wraps each call in one whole transaction.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import exc

from storage.errors import StoreFault, StoreUnavailable

T = TypeVar("T")
log = logging.getLogger(__name__)
SQLITE_TRANSIENT = ("locked", "busy", "unable to open", "disk i/o")
# (reason, what it says of the database, words in SQLite's message or PostgreSQL SQLSTATEs, the fix)
FAULTS = (
    ("read-only", "is read-only", ("readonly database", "read-only", "25006"),
     "make the database file and its folder writable by the app (or point DATABASE_URL at a writable database)"),
    ("disk full", "is on a full disk", ("database or disk is full", "disk is full", "53100"),
     "free disk space where the database lives (or point DATABASE_URL elsewhere)"),
    ("bad text", "cannot hold the text (NUL or invalid Unicode)", ("nul (0x00)", "22021", "22p05"),
     "remove NUL characters and invalid Unicode from the text (the store's validation should have refused it)"),
)


@dataclass(frozen=True)
class Retry:
    """How hard to try: `attempts` in all, sleeping `base_s * 2**n` (capped at `max_s`, with jitter)."""

    attempts: int = 4
    base_s: float = 0.2
    max_s: float = 2.0

    def __post_init__(self):
        if self.attempts < 1:
            raise ValueError(f"Retry.attempts={self.attempts!r}: must be at least 1")
        if self.base_s < 0 or self.max_s < 0:
            raise ValueError(f"Retry.base_s={self.base_s!r}, max_s={self.max_s!r}: must not be negative")

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to sleep after failed attempt number `attempt` (0-based): jitter spreads the herd."""
        return min(self.max_s, self.base_s * 2**attempt) * rng.uniform(0.5, 1.0)

    def run(self, what: str, fn: Callable[[], T], where: str, rng: random.Random | None = None) -> T:
        """`fn()` until it succeeds or the attempts run out (then `StoreUnavailable`)."""
        rng = rng or random.Random()
        started = time.monotonic()
        for attempt in range(self.attempts):
            try:
                return fn()
            except Exception as error:
                found = fault(what, where, error)
                if found is not None:
                    raise found from error
                if not is_transient(error):
                    raise
                last = error
                if attempt + 1 < self.attempts:
                    pause = self.delay(attempt, rng)
                    log.warning("%s: %s (attempt %d of %d, retrying in %.2fs)", what, short(error), attempt + 1,
                                self.attempts, pause)
                    time.sleep(pause)
        elapsed = time.monotonic() - started
        raise StoreUnavailable(
            f"could not {what}: the database {where} stayed locked or unreachable through {self.attempts} "
            f"attempts over {elapsed:.1f}s. Last error: {short(last)}") from last


def fault(what: str, where: str, error: BaseException) -> StoreFault | None:
    """The `StoreFault` for a driver error that retrying cannot fix; None for transient ones and refusals.

    A broken constraint (IntegrityError) is not a fault: the store turns it into its own answer.
    """
    if not isinstance(error, exc.DBAPIError) or isinstance(error, exc.IntegrityError):
        return None
    original = error.orig
    words = f"{original} {getattr(original, 'sqlstate', '') or ''}".lower()
    for reason, says, markers, fix in FAULTS:
        if any(marker in words for marker in markers):
            return StoreFault(f"could not {what}: nothing was stored, because the database {where} {says}"
                              f" ({short(error)}). Fix: {fix}.", reason)
    if is_transient(error):
        return None
    return StoreFault(f"could not {what}: nothing was stored, because the database {where} refused it "
                      f"({short(error)}).", "database error")


def is_transient(error: BaseException) -> bool:
    """Locked, busy, disconnected or out of pooled connections: worth another try."""
    if isinstance(error, exc.TimeoutError | exc.DisconnectionError):
        return True
    if not isinstance(error, exc.DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    if not isinstance(error, exc.OperationalError | exc.InterfaceError):
        return False
    if type(error.orig).__module__.startswith("sqlite3"):  # sqlite also says "no such table" this way
        return any(word in str(error.orig).lower() for word in SQLITE_TRANSIENT)
    state = getattr(error.orig, "sqlstate", None) or ""
    return not state.startswith("53") or state == "53300"  # out of disk or memory: not retried; too many clients: yes


def short(error: BaseException) -> str:
    """The first line of the driver's message, without SQLAlchemy's SQL and background link."""
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()
    return f"{type(original).__name__}: {text[0] if text else ''}"
