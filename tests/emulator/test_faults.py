"""Fault injection, resource units, latency and the control API."""

from __future__ import annotations

import pytest
import requests

from sp_sync.emulator import Emulator, FaultRule


def test_status_with_odd_retry_after_times_and_skip(
    emu: Emulator, http: requests.Session, items_url: str
) -> None:
    emu.faults.add(
        FaultRule(
            method="GET",
            path=r"/items/1$",
            status=503,
            retry_after="Wed, 21 Oct 2015 07:28:00 GMT",
            skip=1,
            times=2,
        )
    )
    codes = [http.get(f"{items_url}/1") for _ in range(4)]
    assert [r.status_code for r in codes] == [200, 503, 503, 200]
    assert codes[1].headers["Retry-After"] == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert codes[1].json()["error"]["code"] == "serviceNotAvailable"


def test_probability_is_seeded(emu: Emulator, http: requests.Session, items_url: str) -> None:
    def run() -> list[int]:
        emu.faults.clear()
        emu.faults.add(
            FaultRule(
                path="/items/1$", status=429, times=None, probability=0.5, seed=42, retry_after="1"
            )
        )
        return [http.get(f"{items_url}/1").status_code for _ in range(12)]

    first = run()
    assert first == run() and {200, 429} == set(first)


def test_after_write_applies_the_create(
    emu: Emulator, http: requests.Session, items_url: str
) -> None:
    emu.faults.add(FaultRule(kind="after_write", method="POST", path="/items$", status=502))
    r = http.post(items_url, json={"fields": {"Title": "Doppelt?"}})
    assert r.status_code == 502
    assert [i["fields"]["Title"] for i in emu.items("Projekte")][-1] == "Doppelt?"


def test_edit_fault_makes_if_match_stale(
    emu: Emulator, http: requests.Session, items_url: str
) -> None:
    etag = http.get(f"{items_url}/1").json()["eTag"]
    emu.faults.add(
        FaultRule(
            kind="edit",
            method="PATCH",
            path="/items/1/fields",
            user="lea.schaefer@mannheim.de",
            fields={"Status": "Idee"},
        )
    )
    r = http.patch(f"{items_url}/1/fields", json={"Title": "x"}, headers={"If-Match": etag})
    assert r.status_code == 412
    item = emu.items("Projekte")[0]
    assert item["fields"]["Status"] == "Idee" and item["fields"]["Title"] == "E-Akte"
    assert item["fields"]["EditorLookupId"] == "9"


def test_reset_truncate_html_slow(emu: Emulator, http: requests.Session, items_url: str) -> None:
    emu.faults.add(FaultRule(kind="reset", path="/items/1$"))
    with pytest.raises(requests.ConnectionError):
        http.get(f"{items_url}/1")
    emu.faults.add(FaultRule(kind="truncate", path="/items/2$"))
    r = http.get(f"{items_url}/2")
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()
    emu.faults.add(FaultRule(kind="html", path="/items/3$"))
    r = http.get(f"{items_url}/3")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    emu.faults.add(FaultRule(kind="slow", path="/items/3$", delay_ms=20))
    assert http.get(f"{items_url}/3").json()["id"] == "3"


def test_401_and_410_faults(emu: Emulator, http: requests.Session, items_url: str) -> None:
    emu.faults.add(FaultRule(path="/items/1$", status=401))
    r = http.get(f"{items_url}/1")
    assert r.status_code == 401 and "WWW-Authenticate" in r.headers
    emu.faults.add(FaultRule(path="/items/delta$", status=410))
    r = http.get(f"{items_url}/delta")
    assert r.status_code == 410 and r.json()["error"]["code"] == "resyncChangesApplyDifferences"
    assert r.headers["Location"]


def test_http_control_api(emu: Emulator, http: requests.Session, items_url: str) -> None:
    ctl = f"{emu.info.base_url}/_emulator"
    r = http.post(f"{ctl}/faults", json={"path": "/items/2$", "status": 503, "retry_after": "0"})
    assert r.status_code == 201
    assert http.get(f"{items_url}/2").status_code == 503
    assert http.delete(f"{ctl}/faults").status_code == 204
    assert http.get(f"{items_url}/2").status_code == 200
    assert http.post(f"{ctl}/faults", json={"nope": 1}).status_code == 400
    r = http.post(
        f"{ctl}/edit",
        json={
            "list": "Projekte",
            "id": "2",
            "fields": {"Status": "Umsetzung"},
            "user": "lea.schaefer@mannheim.de",
        },
    )
    assert r.json()["eTag"].endswith(',2"')
    log = http.get(f"{ctl}/requests").json()["value"]
    entry = next(e for e in log if e["path"].endswith("/items/2") and e["status"] == 200)
    assert entry["app"] == emu.info.client_id and entry["ru"] == 1 and entry["method"] == "GET"
    assert http.delete(f"{ctl}/requests").status_code == 204
    assert emu.requests() == []


def test_resource_units_and_ratelimit_headers(
    emu: Emulator, http: requests.Session, items_url: str
) -> None:
    emu.throttle.budget = 10
    statuses, headers = [], []
    for _ in range(5):  # multi-item query: 2 RU each
        r = http.get(items_url)
        statuses.append(r.status_code)
        headers.append(r.headers)
    assert statuses == [200] * 5
    assert "RateLimit-Limit" not in headers[2]
    assert headers[3]["RateLimit-Remaining"] == "2" and headers[4]["RateLimit-Limit"] == "10"
    r = http.get(f"{items_url}/1")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert r.json()["error"]["code"] == "TooManyRequests"


def test_latency_is_applied(emu: Emulator, http: requests.Session, items_url: str) -> None:
    emu.app.latency_ms, emu.app.jitter_ms = 5, 5
    try:
        assert http.get(f"{items_url}/1").status_code == 200
    finally:
        emu.app.latency_ms = emu.app.jitter_ms = 0


def test_unexpected_handler_error_is_graph_500(
    emu: Emulator, http: requests.Session, items_url: str
) -> None:
    original = emu.graph.lists.get_item

    def broken(*args: object) -> None:
        raise RuntimeError("boom")

    emu.graph.lists.get_item = broken  # type: ignore[method-assign,assignment]
    try:
        r = http.get(f"{items_url}/1")
    finally:
        emu.graph.lists.get_item = original  # type: ignore[method-assign]
    assert r.status_code == 500 and r.json()["error"]["code"] == "generalException"
