"""SharePoint resource-unit budget per app and minute (fixed one-minute windows).

Costs follow Microsoft's "avoid getting throttled" page: 1 RU for a single item or a delta call
with a token, 2 RU for multi-item queries, delta without a token and every write; each
``$batch`` sub-request is charged on its own. Throttled calls still count.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class Throttle:
    def __init__(
        self, ru_per_minute: int | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.budget = ru_per_minute
        self.clock = clock
        self._windows: dict[str, tuple[float, int]] = {}  # app -> (window start, RU used)
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()

    def charge(self, app: str, ru: int) -> tuple[bool, dict[str, str]]:
        """Charge ``ru``; return (allowed, headers). Headers carry RateLimit-* from 80 % use and
        Retry-After when refused."""
        if self.budget is None:
            return True, {}
        now = self.clock()
        with self._lock:
            start, used = self._windows.get(app, (now, 0))
            if now - start >= 60:
                start, used = now, 0
            used += ru
            self._windows[app] = (start, used)
        reset = max(1, math.ceil(start + 60 - now))
        headers: dict[str, str] = {}
        if used >= 0.8 * self.budget:
            headers = {
                "RateLimit-Limit": str(self.budget),
                "RateLimit-Remaining": str(max(0, self.budget - used)),
                "RateLimit-Reset": str(reset),
            }
        if used > self.budget:
            headers["Retry-After"] = str(reset)
            return False, headers
        return True, headers
