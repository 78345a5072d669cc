"""Delta feed: full enumeration, tokens, deletes, token=latest, 410 Gone."""

from __future__ import annotations

import requests

from sp_sync.emulator import Emulator


def _drain(http: requests.Session, url: str, **params: str) -> tuple[list[dict], str]:
    items: list[dict] = []
    r = http.get(url, params=params or None)
    while True:
        assert r.status_code == 200, r.text
        page = r.json()
        items += page["value"]
        if "@odata.deltaLink" in page:
            return items, page["@odata.deltaLink"]
        r = http.get(page["@odata.nextLink"])


def test_full_enumeration_pages_then_changes(
    emu: Emulator, http: requests.Session, items_url: str
) -> None:
    items, link = _drain(http, f"{items_url}/delta", **{"$top": "2"})
    assert sorted(i["id"] for i in items) == ["1", "2", "3"]
    assert "?token=" in link
    assert all("lastModifiedBy" not in i and "fields" in i for i in items)
    # nothing changed: empty page, same position
    again, link2 = _drain(http, link)
    assert again == []
    emu.edit("Projekte", 2, {"Status": "Umsetzung"}, "lea.schaefer@mannheim.de")
    emu.edit("Projekte", 2, {"Title": "Bürgerportal 2.0"}, "anna.becker@mannheim.de")
    new_id = emu.create_item("Projekte", {"Title": "Neu"}, "jonas.weber@mannheim.de")
    emu.delete_item("Projekte", 3, "anna.becker@mannheim.de")
    changes, link3 = _drain(http, link2)
    by_id = {c["id"]: c for c in changes}
    assert set(by_id) == {"2", new_id, "3"}
    assert by_id["2"]["fields"]["Title"] == "Bürgerportal 2.0"  # latest state, once
    assert by_id["2"]["fields"]["EditorLookupId"] == "7"
    assert by_id["3"] == {"id": "3", "deleted": {"state": "deleted"}}
    assert _drain(http, link3)[0] == []


def test_delta_select_fields(emu: Emulator, http: requests.Session, items_url: str) -> None:
    items, _ = _drain(http, f"{items_url}/delta", **{"$expand": "fields($select=Title)"})
    assert set(items[0]["fields"]) == {"@odata.etag", "Title"}


def test_token_latest_and_gone(emu: Emulator, http: requests.Session, items_url: str) -> None:
    page = http.get(f"{items_url}/delta", params={"token": "latest"}).json()
    assert page["value"] == [] and "@odata.deltaLink" in page
    emu.create_item("Projekte", {"Title": "nach latest"}, None)
    changes, link = _drain(http, page["@odata.deltaLink"])
    assert [c["fields"]["Title"] for c in changes] == ["nach latest"]
    emu.invalidate_delta("Projekte")
    r = http.get(link)
    assert r.status_code == 410
    assert r.json()["error"]["code"] == "resyncChangesApplyDifferences"
    assert r.headers["Location"].endswith("/items/delta")
    r = http.get(f"{items_url}/delta", params={"token": "bogus"})
    assert r.status_code == 410


def test_delta_ru_costs(emu: Emulator, http: requests.Session, items_url: str) -> None:
    _, link = _drain(http, f"{items_url}/delta")
    _drain(http, link)
    costs = [r["ru"] for r in emu.requests() if r["path"].endswith("/delta")]
    assert costs == [2, 1]
