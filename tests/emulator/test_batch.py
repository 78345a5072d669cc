"""JSON $batch through the library and raw."""

from __future__ import annotations

import requests

from sp_sync.emulator import Emulator, FaultRule
from tests.emulator.conftest import graph_client


def _sub(i: int, url: str, method: str = "GET", **extra: object) -> dict:
    return {"id": str(i), "method": method, "url": url, **extra}


def test_library_batch_updates(emu: Emulator) -> None:
    client = graph_client(emu)
    site = client.sites.get_by_url(emu.info.site_url).get().execute_query()
    items = site.lists["Projekte"].items
    for iid in ("1", "2", "3"):
        items[iid].fields.set_property("Title", f"Batch {iid}").update()
    client.execute_batch()
    assert sorted(i["fields"]["Title"] for i in emu.items("Projekte")) == [
        "Batch 1",
        "Batch 2",
        "Batch 3",
    ]
    log = emu.requests()
    assert [r["path"] for r in log if r["path"] == "/v1.0/$batch"]
    assert sum(1 for r in log if r["batch"] and r["method"] == "PATCH") == 3


def test_raw_batch_shape_limit_and_order(emu: Emulator, http: requests.Session) -> None:
    base = f"/sites/{emu.site_id}/lists/Projekte/items"
    url = f"{emu.info.graph_url}/$batch"
    reqs = [_sub(i, f"{base}/{i % 3 + 1}") for i in range(20)]
    r = http.post(url, json={"requests": reqs})
    body = r.json()["responses"]
    assert [e["id"] for e in body] == [str(i) for i in range(20)]
    assert all(set(e) == {"id", "status", "headers", "body"} for e in body)
    assert http.post(url, json={"requests": [*reqs, _sub(20, base)]}).status_code == 400
    emu.graph.batch_order = "reverse"
    body = http.post(url, json={"requests": reqs[:3]}).json()["responses"]
    assert [e["id"] for e in body] == ["2", "1", "0"]


def test_depends_on_424_and_null_body(emu: Emulator, http: requests.Session) -> None:
    base = f"/sites/{emu.site_id}/lists/Projekte/items"
    reqs = [
        _sub(
            0,
            f"{base}/999/fields",
            "PATCH",
            body={"Title": "x"},
            headers={"Content-Type": "application/json"},
        ),
        _sub(
            1,
            f"{base}/1/fields",
            "PATCH",
            body={"Title": "y"},
            dependsOn=["0"],
            headers={"Content-Type": "application/json"},
        ),
        _sub(2, f"{base}/2", "DELETE"),
    ]
    body = {
        e["id"]: e
        for e in http.post(f"{emu.info.graph_url}/$batch", json={"requests": reqs}).json()[
            "responses"
        ]
    }
    assert body["0"]["status"] == 404
    assert body["1"]["status"] == 424
    assert body["2"]["status"] == 204 and body["2"]["body"] is None
    assert {i["id"] for i in emu.items("Projekte")} == {"1", "3"}
    assert emu.items("Projekte")[0]["fields"]["Title"] == "E-Akte"


def test_sub_request_faults_and_throttling(emu: Emulator, http: requests.Session) -> None:
    base = f"/sites/{emu.site_id}/lists/Projekte/items"
    emu.faults.add(FaultRule(path=r"/items/2$", status=429, retry_after="7"))
    reqs = [_sub(i, f"{base}/{i}") for i in (1, 2, 3)]
    body = {
        e["id"]: e
        for e in http.post(f"{emu.info.graph_url}/$batch", json={"requests": reqs}).json()[
            "responses"
        ]
    }
    assert body["2"]["status"] == 429 and body["2"]["headers"]["Retry-After"] == "7"
    assert body["1"]["status"] == body["3"]["status"] == 200
    emu.throttle.budget = 4  # 1 RU per single item read: the 5th sub-request is refused
    reqs = [_sub(i, f"{base}/1") for i in range(5)]
    body = http.post(f"{emu.info.graph_url}/$batch", json={"requests": reqs}).json()
    statuses = [e["status"] for e in body["responses"]]
    assert statuses[:4] == [200] * 4 and statuses[4] == 429
