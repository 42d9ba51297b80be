"""Sign-in throttling that an attacker cannot turn against the real user.

Failures are counted per (account, client address) and per client address:
guessing one account's password from one address waits after
``max_failures``, and spraying many accounts from one address waits after
``max_address_failures``. Nothing is counted per account alone, so failures
from elsewhere never lock the real user out of their own address.
"""

from __future__ import annotations

import time
from collections import deque


class LoginThrottle:
    """Failed sign-ins per key in a sliding ``window_s`` (memory, per process)."""

    def __init__(
        self,
        *,
        max_failures: int = 10,
        max_address_failures: int = 50,
        window_s: float = 600.0,
    ) -> None:
        self.max_failures = max_failures
        self.max_address_failures = max_address_failures
        self.window_s = window_s
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def _keys(self, username: str, address: str) -> list[tuple[tuple[str, str], int]]:
        return [
            ((username.lower(), address), self.max_failures),
            (("", address), self.max_address_failures),
        ]

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and now - times[0] > self.window_s:
            times.popleft()
        return times

    def retry_after(self, username: str, address: str) -> int:
        """Seconds before ``username`` may try again from ``address``; 0 when allowed now."""
        now = time.monotonic()
        wait = 0.0
        for key, limit in self._keys(username, address):
            times = self._recent(key, now)
            if not times:
                del self._failures[key]  # keep only keys with recent failures
            elif len(times) >= limit:
                wait = max(wait, self.window_s - (now - times[-limit]))
        return int(wait) + 1 if wait > 0 else 0

    def failed(self, username: str, address: str) -> None:
        now = time.monotonic()
        for key, _limit in self._keys(username, address):
            self._recent(key, now).append(now)

    def succeeded(self, username: str, address: str) -> None:
        """The account's failures from this address are forgiven (the address count stays)."""
        self._failures.pop((username.lower(), address), None)
