"""The retry policy's pure parts: Retry-After parsing, delays, resource units, error mapping."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from sp_sync.adapters.graph.config import GraphConfig
from sp_sync.adapters.graph.errors import error_for
from sp_sync.adapters.graph.http_policy import HttpPolicy, parse_retry_after, resource_units
from sp_sync.errors import (
    AuthError,
    BudgetExhausted,
    CursorExpired,
    GraphError,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    ThresholdExceeded,
    TransientError,
)
from sp_sync.ports import RequestStats, RunMeter, metered


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def policy(budget: float = 900.0) -> tuple[HttpPolicy, FakeTime]:
    t = FakeTime()
    cfg = GraphConfig(tenant_id="t", client_id="c", client_secret="s",
                      run_time_budget_s=budget, sleep=t.sleep, clock=t.clock)
    return HttpPolicy(cfg, RequestStats(), rng=random.Random(1)), t


def test_retry_after_seconds_and_http_date() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("7", now) == 7.0
    date = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(date, now) == pytest.approx(30.0)
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_odd_retry_after_values_fall_back_to_capped_backoff() -> None:
    p, _ = policy()
    for odd in ("-5", "0", "banana", None):
        assert 0.0 <= p.delay_for(odd, 3) <= p.config.backoff_cap_s
    # huge values are capped at max_retry_after_s (+ at most 1 s jitter), never below the ask
    assert p.config.max_retry_after_s <= p.delay_for("86400", 0) <= p.config.max_retry_after_s + 1
    assert 12.0 <= p.delay_for("12", 0) <= 13.2


def test_backoff_is_capped_full_jitter() -> None:
    p, _ = policy()
    delays = [p.backoff(20) for _ in range(200)]
    assert max(delays) <= p.config.backoff_cap_s
    assert min(delays) < p.config.backoff_cap_s / 2  # jittered, not a constant


def test_wait_beyond_the_run_budget_raises_without_sleeping() -> None:
    p, t = policy(budget=60)
    p.wait(120, "no run started: no budget")
    with metered(RunMeter()) as meter:
        p.wait(30, "test")
        assert t.sleeps == [120, 30]
        with pytest.raises(BudgetExhausted, match="time budget"):
            p.wait(31, "test")
    assert t.sleeps == [120, 30]
    assert p.stats.waited_seconds == 150
    assert meter.stats.waited_seconds == 30  # the run's own figure


def test_rate_limit_headers_pace_before_the_next_request() -> None:
    p, t = policy()
    p.observe_rate_limit({"RateLimit-Limit": "100", "RateLimit-Remaining": "50",
                          "RateLimit-Reset": "20"})
    p._pace()
    assert t.sleeps == []
    p.observe_rate_limit({"RateLimit-Limit": "100", "RateLimit-Remaining": "10",
                          "RateLimit-Reset": "20"})
    p._pace()
    assert t.sleeps == [20]


@pytest.mark.parametrize(("method", "url", "ru"), [
    ("GET", "https://g/v1.0/sites/h,a,b/lists/L/items/delta?token=x", 1),
    ("GET", "https://g/v1.0/sites/h,a,b/lists/L/items/delta?$skiptoken=x", 1),
    ("GET", "https://g/v1.0/sites/h,a,b/lists/L/items/delta?$top=1000", 2),
    ("GET", "https://g/v1.0/sites/h,a,b/lists/L/items/3", 1),
    ("GET", "https://g/v1.0/sites/h,a,b/lists/L/items?$filter=x", 2),
    ("PATCH", "https://g/v1.0/sites/h,a,b/lists/L/items/3/fields", 2),
    ("POST", "https://g/v1.0/sites/h,a,b/lists/L/items", 2),
    ("DELETE", "https://g/v1.0/sites/h,a,b/lists/L/items/3", 2),
    ("POST", "https://g/v1.0/users/dtc@x/sendMail", 0),
])
def test_resource_units_follow_microsofts_costs(method: str, url: str, ru: int) -> None:
    assert resource_units(method, url) == ru


def test_one_function_maps_status_and_body_to_errors() -> None:
    def body(code: str, msg: str = "m") -> dict[str, object]:
        return {"error": {"code": code, "message": msg}}

    cases = {
        404: NotFound, 403: PermissionDenied, 410: CursorExpired, 412: PreconditionFailed,
        429: TransientError, 503: TransientError, 409: GraphError, 401: AuthError,
    }
    for status, cls in cases.items():
        assert type(error_for(status, body("x"))) is cls
    thr = error_for(500, body("generalException",
                              "-2147024860, Microsoft.SharePoint.SPQueryThrottledException"))
    assert isinstance(thr, ThresholdExceeded)
    assert "index the column" in str(thr)
    assert "Sites.Selected" in str(error_for(403, body("accessDenied")))
    html = error_for(502, b"<html>Bad gateway</html>")
    assert isinstance(html, TransientError) and "Bad gateway" in str(html)


def test_overlapping_runs_each_keep_their_own_budget_and_figures() -> None:
    """Two runs on two threads (the daemon's workers): a run that starts later neither
    resets the earlier one's budget nor counts its waits."""
    p, _ = policy(budget=60)
    first_started, second_done = threading.Event(), threading.Event()
    errors: dict[str, BaseException] = {}
    meters = {"a": RunMeter(), "b": RunMeter()}

    def run_a() -> None:
        with metered(meters["a"]):
            p.wait(50, "a")  # the budget starts here: a has 10 s left
            first_started.set()
            second_done.wait(5)
            try:
                p.wait(20, "a")  # would end after a's own deadline
            except BudgetExhausted as exc:
                errors["a"] = exc

    def run_b() -> None:
        first_started.wait(5)
        with metered(meters["b"]):
            p.wait(20, "b")  # b's budget starts now: 20 s fit
        second_done.set()

    threads = [threading.Thread(target=run_a), threading.Thread(target=run_b)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert isinstance(errors.get("a"), BudgetExhausted)
    assert meters["a"].stats.waited_seconds == 50 and meters["b"].stats.waited_seconds == 20
    assert p.stats.waited_seconds == 70  # the connection's lifetime total


def test_raw_item_drops_every_odata_annotation_and_reads_z_times_as_utc() -> None:
    from datetime import UTC, datetime

    from sp_sync.adapters.graph.wire import raw_item

    plain = raw_item({"id": "4", "lastModifiedDateTime": "2026-01-02T03:04:05Z",
                      "fields": {"@odata.etag": '"e,1"', "Title": "A", "N": 1}})
    assert plain.fields == {"Title": "A", "N": 1} and plain.etag == '"e,1"'
    assert plain.modified == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    more = raw_item({"id": "5", "eTag": '"e,2"', "createdDateTime": "2026-01-02T03:04:05.5Z",
                     "fields": {"@odata.etag": '"e,1"', "@odata.type": "#x", "@odata.id": "y",
                                "@other": 1, "Title": "B"}})
    assert more.fields == {"@other": 1, "Title": "B"} and more.etag == '"e,2"'
    assert more.created == datetime(2026, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)
