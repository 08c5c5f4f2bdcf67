"""Bounded retries with exponential backoff for a database that is briefly locked or unreachable.

Only transient failures are retried: a locked SQLite file, a refused or dropped connection, an
exhausted connection pool. Anything else (a refusal, a constraint the request broke, a bug)
goes straight to the caller. When the attempts run out, `StoreUnavailable` says what was being
done, for how long, against which database, and the last error. This module does not know
which operation it retries; `Store` wraps each call in one whole transaction.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import exc

from storage.errors import StoreUnavailable

T = TypeVar("T")
log = logging.getLogger(__name__)
SQLITE_TRANSIENT = ("locked", "busy", "unable to open", "disk i/o")


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
    return True


def short(error: BaseException) -> str:
    """The first line of the driver's message, without SQLAlchemy's SQL and background link."""
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()
    return f"{type(original).__name__}: {text[0] if text else ''}"
