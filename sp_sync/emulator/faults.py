"""Fault injection: rules matched on method + path (also inside ``$batch``), firing ``times``
times after ``skip`` matches, or with a seeded probability.

kinds:
  status       answer ``status`` (429/503 with ``retry_after``, 401, 410 for delta, 5xx …)
               without executing the request
  after_write  execute the request, then answer ``status`` (a 5xx after the write applied)
  edit         before executing, a person (``user``) edits the addressed item (version bump;
               ``fields`` optional) so the client's If-Match turns stale → 412
  reset        close the connection without an answer
  slow         wait ``delay_ms`` then answer normally
  truncate     execute, then send only the first half of the JSON body
  html         answer 200 with an HTML error page instead of JSON
  oversize     execute, then pad the JSON answer to ``size`` bytes (still valid JSON)
  deep         answer 200 with JSON arrays nested ``depth`` levels deep

Rules sent over HTTP are validated strictly first (``sp_sync.emulator.control``).
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = ("status", "after_write", "edit", "reset", "slow", "truncate", "html", "oversize",
         "deep")


@dataclass
class FaultRule:
    kind: str = "status"
    method: str | None = None  # None matches every method
    path: str = ".*"  # regex, searched in the path incl. "/v1.0" (no query string)
    status: int = 503
    retry_after: str | None = None  # seconds, an HTTP date or any odd string, sent verbatim
    times: int | None = 1  # None = every match
    skip: int = 0  # let this many matches pass first
    probability: float | None = None  # fire on a seeded coin flip instead of counting
    seed: int = 0
    delay_ms: int = 0
    user: str | None = None  # editor for kind "edit"
    fields: dict[str, Any] | None = None  # changes for kind "edit"
    code: str | None = None  # Graph error code override
    message: str | None = None
    size: int = 10_000_000  # bytes, for kind "oversize"
    depth: int = 100_000  # levels, for kind "deep"
    seen: int = field(default=0, compare=False)
    fired: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {KINDS}")
        self._re = re.compile(self.path)
        self._rng = random.Random(self.seed)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def _fires(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        if not self._re.search(path):
            return False
        self.seen += 1
        if self.seen <= self.skip:
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        if self.probability is not None and self._rng.random() >= self.probability:
            return False
        self.fired += 1
        return True


class Faults:
    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def add_json(self, data: dict[str, Any]) -> FaultRule:
        from sp_sync.emulator.control import parse_rules

        (rule,) = parse_rules(data)
        return self.add(rule)

    def add_all(self, rules: list[FaultRule]) -> list[FaultRule]:
        """Several rules at once (all validated before: nothing is half-applied)."""
        with self._lock:
            self._rules.extend(rules)
        return rules

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def match(self, method: str, path: str) -> FaultRule | None:
        with self._lock:
            if not self._rules:
                return None
            for rule in self._rules:
                if rule._fires(method, path):
                    return rule
        return None
