"""The one retry policy for every Graph call.

* ``Retry-After`` as seconds or HTTP date; absurd, negative or unparseable values fall back
  to capped exponential backoff with full jitter.
* ``RateLimit-Remaining`` under 20 % of ``RateLimit-Limit``: wait for ``RateLimit-Reset``
  before the next request (slow down before any 429).
* Transient: 429, 500, 502, 503, 504, connection errors, timeouts, truncated or non-JSON
  bodies where JSON was expected. 400/403/404/409/412 are final.
* 401: one token refresh and one retry.
* Non-idempotent requests (POST create, sendMail) are never retried after they may have
  reached the server: ``AmbiguousRequest`` lets the caller look the result up instead.
  (429 is safe to retry: a throttled request was not processed.)
* A per-run time budget: a wait that would end after it raises ``BudgetExhausted``. The
  budget belongs to the run's :class:`~sp_sync.ports.RunMeter` (active in the calling
  thread), so overlapping runs each keep their own.
* Bounds: a body over ``max_response_bytes`` is refused while it streams in (never held
  whole), JSON nested deeper than Python's decoder goes is refused — both as
  ``BadResponse`` (final: the same answer would come again). Per-item bounds (depth,
  value length) are checked where items are decoded (``wire.raw_items``).
* Counts requests, retries, throttled answers, waited seconds and resource units, in the
  connection's totals and in the active run's meter.
"""

from __future__ import annotations

import logging
import random
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from sp_sync import crashpoints
from sp_sync.adapters.graph.auth import TokenProvider
from sp_sync.adapters.graph.config import GraphConfig
from sp_sync.adapters.graph.errors import AmbiguousRequest, response_error
from sp_sync.adapters.graph.wire import decode_json
from sp_sync.errors import BadResponse, BudgetExhausted, TransientError
from sp_sync.ports import RequestStats, active_meter, charge

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
THROTTLE_STATUSES = frozenset({429, 503})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})
PACE_FRACTION = 0.2
_JSON_ATTR = "_sp_sync_json"
_CHUNK = 64 * 1024
# Errors while a streamed body is read: the connection broke mid-answer.
_BODY_ERRORS = (requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError)
_ITEM_PATH = re.compile(r"/items/[^/]+(/fields)?$")


def resource_units(method: str, url: str) -> int:
    """SharePoint's documented cost of one Graph call (``$batch``: count each sub-request).

    1: single item, delta with a token; 2: multi-item query, delta without token,
    create/update/delete. Calls outside SharePoint (mail, users) cost nothing here.
    """
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if "/sites" not in path and not path.startswith("sites"):
        return 0
    if method.upper() != "GET":
        return 2
    if path.endswith("/delta"):
        return 1 if ("token=" in parts.query or "skiptoken=" in parts.query) else 2
    if _ITEM_PATH.search(path):
        return 1
    if path.endswith("/items"):
        return 2
    return 1  # a site, a list, its columns: one entity each


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - (now or datetime.now(UTC))).total_seconds()


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


class HttpPolicy:
    """Sends Graph requests with retries, pacing, a run budget and cost accounting."""

    def __init__(
        self,
        config: GraphConfig,
        stats: RequestStats,
        tokens: TokenProvider | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.stats = stats
        self.tokens = tokens
        self._rng = rng or random.Random()
        self._pace_until = 0.0

    # ------------------------------------------------------------------ budget, waiting

    @property
    def deadline(self) -> float:
        """The active run's deadline; set at its first request. Outside a run (a daemon's
        connection between runs, admin commands) no budget applies; waits stay bounded by
        ``max_attempts`` anyway."""
        meter = active_meter()
        if meter is None:
            return float("inf")
        if meter.deadline is None:
            meter.deadline = self.config.clock() + self.config.run_time_budget_s
        return meter.deadline

    def check_budget(self) -> None:
        if self.config.clock() >= self.deadline:
            raise BudgetExhausted(
                f"the run's time budget of {self.config.run_time_budget_s:.0f} s is used up; "
                "the run ends partial and continues next time"
            )

    def wait(self, seconds: float, reason: str) -> None:
        """Sleep ``seconds`` unless that would end after the run's budget."""
        if seconds <= 0:
            return
        now = self.config.clock()
        if now + seconds > self.deadline:
            raise BudgetExhausted(
                f"{reason}: waiting {seconds:.1f} s would exceed the run's time budget of "
                f"{self.config.run_time_budget_s:.0f} s; the run ends partial and continues "
                "next time"
            )
        log.info("waiting %.1f s: %s", seconds, reason)
        self.config.sleep(seconds)
        charge(self.stats, waited_seconds=seconds)

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff for retry number ``attempt`` (0-based)."""
        cap = min(self.config.backoff_cap_s, self.config.backoff_base_s * 2.0**attempt)
        return self._rng.uniform(0.0, cap)

    def delay_for(self, retry_after: str | None, attempt: int) -> float:
        """How long to wait before retry ``attempt`` given a ``Retry-After`` header value."""
        seconds = parse_retry_after(retry_after)
        if seconds is None or seconds <= 0:
            return self.backoff(attempt)
        capped = min(seconds, self.config.max_retry_after_s)
        # A little jitter *after* the server's time: never earlier, spread the herd.
        return capped + self._rng.uniform(0.0, min(1.0, 0.1 * capped))

    def observe_rate_limit(self, headers: Mapping[str, str]) -> None:
        limit = _int_header(headers, "RateLimit-Limit")
        remaining = _int_header(headers, "RateLimit-Remaining")
        if not limit or remaining is None or remaining >= PACE_FRACTION * limit:
            return
        reset = _int_header(headers, "RateLimit-Reset")
        reset_s = min(float(reset if reset is not None and reset > 0 else 1),
                      self.config.max_retry_after_s)
        self._pace_until = max(self._pace_until, self.config.clock() + reset_s)

    def _pace(self) -> None:
        remaining = self._pace_until - self.config.clock()
        if remaining > 0:
            self.wait(remaining, "RateLimit-Remaining under 20 %: pacing until the reset")
        self._pace_until = 0.0

    # ------------------------------------------------------------------ sending

    def headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        h = {
            "User-Agent": self.config.user_agent,
            "client-request-id": str(uuid.uuid4()),
            "Accept": "application/json",
        }
        if self.tokens is not None:
            tok = self.tokens.token()
            h["Authorization"] = f"{tok['token_type']} {tok['access_token']}"
        if extra:
            h.update(extra)
        return h

    def send(
        self,
        session: requests.Session,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        expect_json: bool = True,
        ru: int | None = None,
    ) -> requests.Response:
        """Send one logical request; retry what is safe to retry; raise mapped errors.

        ``expect_json``: a 2xx body that is not JSON is treated as transient (proxies and
        overloaded front ends answer 200 with an HTML page or cut the body short).
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        cost = resource_units(method, url) if ru is None else ru
        refreshed = False
        last: str = ""
        for attempt in range(self.config.max_attempts):
            if attempt:
                charge(self.stats, retries=1)
            self.check_budget()
            self._pace()
            h = self.headers(headers)
            charge(self.stats, requests=1, resource_units=cost)
            try:
                resp = session.request(
                    method, url, json=json_body, data=data, headers=h,
                    timeout=self.config.timeout_s, stream=True,
                )
                self._read_body(resp, method, url)
            except requests.exceptions.SSLError as exc:  # retrying cannot fix trust
                from sp_sync.adapters.graph.auth import tls_message
                from sp_sync.errors import TlsError

                raise TlsError(tls_message(self.config.graph_origin, exc)) from None
            except requests.ConnectTimeout as exc:  # nothing reached the server
                last = f"connect timeout: {exc}"
                self.wait(self.backoff(attempt), f"{method} {url}: {last}")
                continue
            except (requests.ConnectionError, requests.Timeout, *_BODY_ERRORS) as exc:
                last = f"{type(exc).__name__}: {exc}"
                if not idempotent:
                    raise AmbiguousRequest(
                        f"{method} {_short(url)} failed after it may have reached the server "
                        f"({last}); not retried blindly"
                    ) from None
                self.wait(self.backoff(attempt), f"{method} {_short(url)}: {last}")
                continue
            self.observe_rate_limit(resp.headers)
            status = resp.status_code
            if status == 401 and self.tokens is not None and not refreshed:
                refreshed = True
                self.tokens.invalidate()
                continue
            if status in RETRY_STATUSES:
                if status in THROTTLE_STATUSES:
                    charge(self.stats, throttled=1)
                last = f"HTTP {status}"
                if status != 429 and not idempotent:
                    raise AmbiguousRequest(
                        f"{method} {_short(url)} answered HTTP {status}; the server may have "
                        "applied it, so it is not retried blindly", status,
                    )
                self.wait(
                    self.delay_for(resp.headers.get("Retry-After"), attempt),
                    f"{method} {_short(url)} answered HTTP {status}",
                )
                continue
            if status >= 400:
                raise response_error(resp, f"{method} {_short(url)}")
            if expect_json and not self._parse_json(resp):
                last = f"HTTP {status} with a body that is not JSON"
                if not idempotent:
                    raise AmbiguousRequest(
                        f"{method} {_short(url)}: {last}; not retried blindly", status
                    )
                self.wait(self.backoff(attempt), f"{method} {_short(url)}: {last}")
                continue
            crashpoints.reached("request")
            if method != "GET":
                crashpoints.reached("write")
            return resp
        raise TransientError(
            f"{method} {_short(url)} still failing after {self.config.max_attempts} attempts "
            f"({last}); the run ends partial and retries next time"
        )

    def _read_body(self, resp: requests.Response, method: str, url: str) -> None:
        """Read the streamed body, refusing it as soon as it passes the size bound."""
        limit = self.config.max_response_bytes
        declared = resp.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            resp.close()
            raise self._too_large(method, url, int(declared))
        chunks: list[bytes] = []
        size = 0
        for chunk in resp.iter_content(_CHUNK):
            size += len(chunk)
            if size > limit:
                resp.close()
                raise self._too_large(method, url, size, more=True)
            chunks.append(chunk)
        resp._content = b"".join(chunks)

    def _too_large(self, method: str, url: str, size: int, more: bool = False) -> BadResponse:
        limit = self.config.max_response_bytes
        return BadResponse(
            f"{method} {_short(url)}: the answer is {'over ' if more else ''}"
            f"{size / 1e6:.1f} MB, more than the limit of {limit / 1e6:.1f} MB; refused "
            "unread (nothing of it was applied). If the list really holds such large "
            "items, raise the limit (GraphConfig.max_response_bytes) or page smaller; "
            "otherwise a proxy or the service is misbehaving"
        )

    @staticmethod
    def _parse_json(resp: requests.Response) -> bool:
        if resp.status_code in (202, 204) or not resp.content:
            setattr(resp, _JSON_ATTR, None)
            return True
        ctype = resp.headers.get("Content-Type", "")
        if "json" not in ctype.lower():
            return False
        try:
            setattr(resp, _JSON_ATTR, decode_json(resp.content))
        except ValueError:
            return False
        except RecursionError:  # nesting deeper than the decoder goes: never valid Graph
            raise BadResponse(
                f"{resp.request.method if resp.request else ''} {_short(resp.url or '')}: "
                "the answer's JSON is nested deeper than sp-sync decodes; refused (nothing "
                "of it was applied). Graph never answers like this: check proxies between "
                "sp-sync and Microsoft 365"
            ) from None
        return True

    @staticmethod
    def json(resp: requests.Response) -> Any:
        """The parsed body of a response returned by ``send`` (parsed once)."""
        if hasattr(resp, _JSON_ATTR):
            return getattr(resp, _JSON_ATTR)
        return decode_json(resp.content) if resp.content else None


def _short(url: str) -> str:
    return url.split("?", 1)[0]
