"""Sign-in throttling: too many failures for one account or one client address wait a while."""

from __future__ import annotations

import time
from collections import defaultdict, deque


class LoginThrottle:
    """At most ``max_failures`` failed sign-ins per key in ``window_s`` (memory, per process)."""

    def __init__(self, *, max_failures: int = 10, window_s: float = 600.0) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures[key]
        while times and now - times[0] > self.window_s:
            times.popleft()
        return times

    def retry_after(self, *keys: str) -> int:
        """Seconds to wait before another attempt, 0 when allowed."""
        now = time.monotonic()
        wait = 0.0
        for key in keys:
            times = self._recent(key, now)
            if len(times) >= self.max_failures:
                wait = max(wait, self.window_s - (now - times[0]))
        return int(wait) + 1 if wait > 0 else 0

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        for key in keys:
            self._recent(key, now).append(now)

    def succeeded(self, username_key: str) -> None:
        self._failures.pop(username_key, None)
