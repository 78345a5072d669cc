"""The control API refuses bad input with a 400 that names the field, and applies nothing
of a refused request (B4 for the emulator: a test must get the fault it meant)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from sp_sync.emulator import Emulator

from .conftest import http_session


def _control(emu: Emulator) -> tuple[requests.Session, str]:
    return http_session(emu), f"{emu.info.base_url}/_emulator"


def _refused(resp: requests.Response, field: str) -> str:
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert field in [d["field"] for d in error["details"]], error
    assert field in error["message"]
    return str(error["message"])


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"kind": "status", "status": 429, "retry_after": 2}, "retry_after"),
        ({"kind": "status", "times": "x"}, "times"),
        ({"kind": "status", "status": "abc"}, "status"),
        ({"kind": "status", "status": 1000}, "status"),
        ({"kind": "teapot"}, "kind"),
        ({"kind": "status", "path": "(unclosed"}, "path"),
        ({"kind": "status", "method": "FETCH"}, "method"),
        ({"kind": "status", "probability": 2}, "probability"),
        ({"kind": "status", "retries": 3}, "retries"),
    ],
)
def test_a_bad_fault_rule_is_refused_naming_its_field(
    emu: Emulator, rule: dict[str, Any], field: str
) -> None:
    http, base = _control(emu)
    _refused(http.post(f"{base}/faults", json=rule), field)
    assert http.get(f"{base}/faults").json()["value"] == []


def test_a_list_of_rules_with_one_bad_entry_applies_none(emu: Emulator) -> None:
    http, base = _control(emu)
    rules = [{"kind": "status", "status": 503, "path": "/items$"},
             {"kind": "status", "status": 429, "times": "x"},
             {"kind": "slow", "delay_ms": 10}]
    message = _refused(http.post(f"{base}/faults", json=rules), "1.times")
    assert "0." not in message and "2." not in message
    assert http.get(f"{base}/faults").json()["value"] == []
    rules[1]["times"] = 2
    added = http.post(f"{base}/faults", json=rules)
    assert added.status_code == 201 and len(added.json()["value"]) == 3
    assert len(http.get(f"{base}/faults").json()["value"]) == 3


def test_a_valid_retry_after_reaches_the_graph_answer(
    emu: Emulator, http: requests.Session, items_url: str
) -> None:
    control, base = _control(emu)
    rule = {"kind": "status", "status": 429, "retry_after": "2", "path": "/items/1$"}
    assert control.post(f"{base}/faults", json=rule).status_code == 201
    throttled = http.get(f"{items_url}/1")
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "2"
    assert throttled.json()["error"]["code"]


def test_edit_with_an_unknown_key_creates_nothing(emu: Emulator) -> None:
    http, base = _control(emu)
    before = emu.items("Projekte")
    _refused(http.post(f"{base}/edit", json={"list": "Projekte", "item_id": 1,
                                              "fields": {"Title": "x"}}), "item_id")
    assert emu.items("Projekte") == before
    _refused(http.post(f"{base}/edit", json={"list": "Projekte", "id": 999,
                                              "fields": {"Title": "x"}}), "id")
    _refused(http.post(f"{base}/edit", json={"list": "Nirgends", "fields": {}}), "list")
    _refused(http.post(f"{base}/edit", json={"list": "Projekte", "fields": "Title=x"}),
             "fields")
    assert emu.items("Projekte") == before
    done = http.post(f"{base}/edit", json={"list": "Projekte", "id": 1,
                                            "fields": {"Title": "Neu"}})
    assert done.status_code == 200 and emu.items("Projekte")[0]["fields"]["Title"] == "Neu"


def test_delete_invalidate_and_reset_check_their_input(emu: Emulator) -> None:
    http, base = _control(emu)
    _refused(http.post(f"{base}/delete", json={"list": "Projekte"}), "id")
    _refused(http.post(f"{base}/delete", json={"list": "Projekte", "id": 999}), "id")
    _refused(http.post(f"{base}/invalidate-delta", json={"title": "Projekte"}), "title")
    _refused(http.post(f"{base}/reset", json={"seed": "demo"}), "seed")
    bad_json = http.post(f"{base}/faults", data=b"{not json",
                         headers={"Content-Type": "application/json"})
    _refused(bad_json, "(body)")
    assert len(emu.items("Projekte")) == 3
