"""The retry policy against the emulator's faults: throttling, odd Retry-After values,
broken bodies, resets, 401 refresh, the run budget and resource-unit accounting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from sp_sync.adapters.graph.client import GraphConnection
from sp_sync.adapters.graph.errors import AmbiguousRequest
from sp_sync.adapters.graph.source import GraphLists
from sp_sync.emulator import Emulator, FaultRule
from sp_sync.errors import AuthError, BudgetExhausted, PermissionDenied
from sp_sync.ports import RunMeter, metered
from tests.adapters.graph.conftest import FakeTime, config_for, graph_requests, token_requests

SITE = r"/sites/mannheim\.sharepoint\.com:/sites/dtc$"


def site_get(conn: GraphConnection) -> dict[str, object]:
    return conn.get_json("sites/mannheim.sharepoint.com:/sites/dtc")  # type: ignore[no-any-return]


def test_429_waits_for_retry_after_before_the_next_request(
    clean: Emulator, conn: GraphConnection, fake_time: FakeTime
) -> None:
    sent_at_sleep: list[int] = []
    fake_time.on_sleep = lambda s: sent_at_sleep.append(len(graph_requests(clean)))
    conn.tokens.token()
    clean.faults.add(FaultRule(kind="status", status=429, retry_after="5", path=SITE, times=2))
    assert site_get(conn)["id"] == clean.site_id
    assert [r["status"] for r in graph_requests(clean)] == [429, 429, 200]
    assert len(fake_time.sleeps) == 2 and all(s >= 5 for s in fake_time.sleeps)
    assert sent_at_sleep == [1, 2]  # each wait happened before the next request went out
    assert conn.stats.throttled == 2 and conn.stats.retries == 2
    assert conn.stats.waited_seconds >= 10


@pytest.mark.parametrize("value", ["http-date", "0", "-30", "soon", "999999"])
def test_503_with_odd_retry_after_is_honoured_or_capped(
    clean: Emulator, conn: GraphConnection, fake_time: FakeTime, value: str
) -> None:
    if value == "http-date":
        value = format_datetime(datetime.now(UTC) + timedelta(seconds=40), usegmt=True)
    clean.faults.add(FaultRule(kind="status", status=503, retry_after=value, path=SITE))
    assert site_get(conn)["id"] == clean.site_id
    (wait,) = fake_time.sleeps
    cfg = conn.config
    if "GMT" in value:
        assert 35 <= wait <= 45
    elif value == "999999":
        assert cfg.max_retry_after_s <= wait <= cfg.max_retry_after_s + 1
    else:
        assert 0 <= wait <= cfg.backoff_base_s  # first backoff step, full jitter


@pytest.mark.parametrize("kind", ["html", "truncate", "reset"])
def test_broken_answers_to_reads_are_retried(
    clean: Emulator, conn: GraphConnection, kind: str
) -> None:
    conn.tokens.token()
    clean.faults.add(FaultRule(kind=kind, path=SITE))
    assert site_get(conn)["id"] == clean.site_id
    assert conn.stats.retries == 1


@pytest.mark.parametrize("kind", ["reset", "html"])
def test_broken_answer_to_a_create_is_ambiguous_not_retried(
    clean: Emulator, conn: GraphConnection, kind: str
) -> None:
    lists = GraphLists(conn, clean.info.site_url)
    path = lists.items_path(lists_ref(clean))
    before = len(clean.items("Themen"))
    clean.faults.add(FaultRule(kind=kind, method="POST", path=r"/items$"))
    with pytest.raises(AmbiguousRequest, match="not retried blindly"):
        conn.request("POST", path, json_body={"fields": {"Title": f"Neu {kind}"}})
    assert len(graph_requests(clean, "/items", "POST")) == 1
    assert len(clean.items("Themen")) - before <= 1


def lists_ref(emu: Emulator):  # type: ignore[no-untyped-def]
    from sp_sync.ports import ListRef

    return ListRef(emu.info.site_url, "Themen")


def test_budget_exhausted_while_throttled(clean: Emulator, fake_time: FakeTime) -> None:
    with (
        GraphConnection(config_for(clean, time=fake_time, run_time_budget_s=100)) as c,
        metered(RunMeter()),
    ):
        clean.faults.add(FaultRule(kind="status", status=429, retry_after="60", path=SITE,
                                   times=None))
        with pytest.raises(BudgetExhausted, match="time budget"):
            site_get(c)
    assert len(fake_time.sleeps) == 1  # 60 s fitted, the next 60 s did not
    assert len(graph_requests(clean)) == 2


def test_401_mid_run_refreshes_the_token_once(clean: Emulator, conn: GraphConnection) -> None:
    site_get(conn)
    clean.clear_requests()
    clean.faults.add(FaultRule(kind="status", status=401, path=SITE))
    assert site_get(conn)["id"] == clean.site_id
    assert len(token_requests(clean)) == 1
    assert [r["status"] for r in graph_requests(clean)] == [401, 200]


def test_persistent_401_fails_fast_and_403_names_the_permission(
    clean: Emulator, conn: GraphConnection
) -> None:
    site_get(conn)
    clean.clear_requests()
    clean.faults.add(FaultRule(kind="status", status=401, path=SITE, times=None))
    with pytest.raises(AuthError, match="admin consent"):
        site_get(conn)
    assert len(graph_requests(clean)) == 2 and len(token_requests(clean)) == 1
    clean.faults.clear()
    clean.faults.add(FaultRule(kind="status", status=403, path=SITE, code="accessDenied"))
    with pytest.raises(PermissionDenied, match=r"Sites\.Selected"):
        site_get(conn)


def test_resource_units_match_the_emulators_accounting(
    clean: Emulator, lists: GraphLists
) -> None:
    from sp_sync.domain.model import ActionKind, WriteAction

    ref = lists_ref(clean)
    pages = list(lists.delta(ref, ("Title",), None))
    list(lists.delta(ref, ("Title",), pages[-1].delta_link))
    lists.get_item(ref, "1", ("Title",))
    lists.apply(ref, [WriteAction(ActionKind.CREATE, "k", fields={"Title": "RU"})])
    charged = sum(r["ru"] for r in clean.requests())
    assert lists.stats.resource_units == charged
    assert lists.stats.requests == len(graph_requests(clean))


def test_every_request_is_decorated(clean: Emulator, conn: GraphConnection) -> None:
    resp = conn.request("GET", "sites/mannheim.sharepoint.com:/sites/dtc")
    sent = resp.request.headers
    assert sent["User-Agent"] == f"NONISV|Stadt Mannheim|sp-sync/{conn.config.version}"
    assert sent["client-request-id"] and sent["Authorization"].startswith("Bearer ")
    assert resp.headers.get("client-request-id") == sent["client-request-id"]


def test_rate_limit_headers_slow_down_before_any_429(fake_time: FakeTime) -> None:
    from sp_sync.emulator.tiny_seed import tiny_seed

    with Emulator(seed=tiny_seed(), ru_per_minute=10) as emu:
        statuses_at_first_wait: list[list[int]] = []

        def snapshot(s: float) -> None:
            if not statuses_at_first_wait:
                statuses_at_first_wait.append([r["status"] for r in graph_requests(emu)])

        fake_time.on_sleep = snapshot
        with GraphConnection(config_for(emu, time=fake_time)) as c:
            for _ in range(15):
                site_get(c)
                if fake_time.sleeps:
                    break
    assert fake_time.sleeps, "RateLimit-Remaining under 20 % should have paced the client"
    assert 429 not in statuses_at_first_wait[0]
