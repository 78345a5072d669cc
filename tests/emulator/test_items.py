"""Sites, lists, columns and items through the real office365 GraphClient and plain requests."""

from __future__ import annotations

import requests

from sp_sync.emulator import Emulator
from tests.emulator.conftest import graph_client

PREFER = {"Prefer": "HonorNonIndexedQueriesWarningMayFailRandomly"}


def test_site_by_url_and_by_id(emu: Emulator, http: requests.Session) -> None:
    client = graph_client(emu)
    site = client.sites.get_by_url(emu.info.site_url).get().execute_query()
    assert site.id == emu.site_id
    host, site_guid, web_guid = site.id.split(",")
    assert host == "mannheim.sharepoint.com" and len(site_guid) == len(web_guid) == 36
    r = http.get(f"{emu.info.graph_url}/sites/{site.id}")
    assert r.json()["webUrl"] == "https://mannheim.sharepoint.com/sites/dtc"


def test_items_with_fields_shape(emu: Emulator, http: requests.Session, items_url: str) -> None:
    site = graph_client(emu).sites.get_by_url(emu.info.site_url).get().execute_query()
    items = site.lists["Projekte"].items.expand(["fields"]).get().execute_query()
    assert [i.id for i in items] == ["1", "2", "3"]
    first = items[0].properties
    assert first["eTag"].startswith('"') and first["eTag"].endswith(',1"')
    assert first["webUrl"] == (
        "https://mannheim.sharepoint.com/sites/dtc/Lists/Projekte/DispForm.aspx?ID=1"
    )
    raw = http.get(f"{items_url}/1").json()
    assert raw["lastModifiedBy"]["user"]["email"] == "jonas.weber@mannheim.de"
    assert raw["createdBy"]["user"]["displayName"] == "Anna Becker"
    fields = items[0].fields.properties
    assert fields["Title"] == "E-Akte"
    assert fields["VerantwortlichLookupId"] == "7"
    assert fields["AuthorLookupId"] == "7" and fields["EditorLookupId"] == "8"
    assert fields["N_x00e4_chster_x0020_Meilenstein"] == "2026-11-30T23:00:00Z"


def test_filter_select_top_and_paging(emu: Emulator) -> None:
    lst = graph_client(emu).sites.get_by_url(emu.info.site_url).get().execute_query().lists
    items = (
        lst["Projekte"]
        .items.expand(["fields($select=Title,Status)"])
        .filter("fields/Title eq 'E-Akte'")
        .top(50)
        .get()
        .execute_query()
    )
    assert len(items) == 1
    assert set(items[0].fields.properties) - {"__etag", "@odata.etag"} == {"Title", "Status"}
    everything = lst["Projekte"].items.expand(["fields"]).get_all(page_size=2).execute_query()
    assert sorted(i.fields.properties["Title"] for i in everything) == [
        "Bürgerportal",
        "E-Akte",
        "Sensorik Parkplätze",
    ]


def test_raw_paging_and_filters(emu: Emulator, http: requests.Session, items_url: str) -> None:
    r = http.get(items_url, params={"$top": "2", "$expand": "fields"})
    page = r.json()
    assert len(page["value"]) == 2 and "@odata.nextLink" in page
    second = http.get(page["@odata.nextLink"]).json()
    assert [i["id"] for i in second["value"]] == ["3"] and "@odata.nextLink" not in second
    # indexed column: no header needed; numbers and booleans; and/or
    r = http.get(items_url, params={"$filter": "fields/Status eq 'Idee'", "$expand": "fields"})
    assert [i["id"] for i in r.json()["value"]] == ["2"]
    r = http.get(
        items_url,
        headers=PREFER,
        params={"$filter": "fields/Aktiv eq true and fields/Budget ge 100000"},
    )
    assert [i["id"] for i in r.json()["value"]] == ["1"]
    r = http.get(items_url, headers=PREFER, params={"$filter": "fields/ThemaLookupId eq 2"})
    assert [i["id"] for i in r.json()["value"]] == ["3"]


def test_non_indexed_filter_needs_prefer(
    emu: Emulator, http: requests.Session, items_url: str
) -> None:
    r = http.get(items_url, params={"$filter": "fields/Title eq 'E-Akte'"})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalidRequest"
    assert "HonorNonIndexedQueriesWarningMayFailRandomly" in r.json()["error"]["message"]
    r = http.get(items_url, params={"$orderby": "fields/Budget desc"}, headers=PREFER)
    assert r.status_code == 200


def test_threshold_with_prefer_fails_over_5000(emu: Emulator, http: requests.Session) -> None:
    emu.bulk_create("Aufgaben", [{"Title": f"T{i}"} for i in range(5001)])
    url = f"{emu.info.graph_url}/sites/{emu.site_id}/lists/Aufgaben/items"
    r = http.get(url, params={"$filter": "fields/Title eq 'T1'"}, headers=PREFER)
    assert r.status_code == 500
    assert "list view threshold" in r.json()["error"]["message"]
    r = http.get(url, params={"$filter": "id eq 3", "$top": "5000"})
    assert r.status_code == 200 and len(r.json()["value"]) == 1


def test_create_update_delete_via_library(emu: Emulator) -> None:
    site = graph_client(emu).sites.get_by_url(emu.info.site_url).get().execute_query()
    items = site.lists["Projekte"].items
    new = items.add(Title="Neu", Status="Idee").execute_query()
    assert new.fields.properties["Title"] == "Neu"
    items[new.id].fields.set_property("Title", "Geändert").update().execute_query()
    assert next(i for i in emu.items("Projekte") if i["id"] == new.id)["fields"]["Title"] == (
        "Geändert"
    )
    items[new.id].delete_object().execute_query()
    assert new.id not in {i["id"] for i in emu.items("Projekte")}


def test_if_match_412_and_no_if_match(
    emu: Emulator, http: requests.Session, items_url: str
) -> None:
    item = http.get(f"{items_url}/1").json()
    stale = item["eTag"]
    emu.edit("Projekte", 1, {"Status": "Abgeschlossen"}, "lea.schaefer@mannheim.de")
    r = http.patch(f"{items_url}/1/fields", json={"Title": "x"}, headers={"If-Match": stale})
    assert r.status_code == 412
    assert r.json()["error"]["code"] == "preconditionFailed"
    fresh = http.get(f"{items_url}/1").json()["eTag"]
    r = http.patch(f"{items_url}/1/fields", json={"Title": "y"}, headers={"If-Match": fresh})
    assert r.status_code == 200 and r.json()["Title"] == "y"
    r = http.patch(f"{items_url}/1/fields", json={"Title": "z"})  # no If-Match: allowed
    assert r.status_code == 200
    state = {i["id"]: i for i in emu.items("Projekte")}["1"]
    assert state["fields"]["Title"] == "z" and state["version"] == 4
    assert state["fields"]["Status"] == "Abgeschlossen"  # the person's value survives
    r = http.delete(f"{items_url}/1", headers={"If-Match": stale})
    assert r.status_code == 412
    assert http.delete(f"{items_url}/1", headers={"If-Match": state["eTag"]}).status_code == 204


def test_unknown_field_and_item(emu: Emulator, http: requests.Session, items_url: str) -> None:
    r = http.post(items_url, json={"fields": {"Nope": 1}})
    assert r.status_code == 400
    r = http.get(f"{items_url}/999")
    assert r.status_code == 404 and r.json()["error"]["code"] == "itemNotFound"
    assert r.headers["request-id"] and r.headers["client-request-id"]


def test_lists_filter_columns_and_uil(emu: Emulator, http: requests.Session) -> None:
    base = f"{emu.info.graph_url}/sites/{emu.site_id}"
    r = http.get(f"{base}/lists", params={"$filter": "displayName eq 'Projekte'"})
    assert [x["displayName"] for x in r.json()["value"]] == ["Projekte"]
    cols = {c["name"]: c for c in http.get(f"{base}/lists/Projekte/columns").json()["value"]}
    assert cols["Status"]["indexed"] is True and "choice" in cols["Status"]
    assert "personOrGroup" in cols["Verantwortlich"]
    assert cols["N_x00e4_chster_x0020_Meilenstein"]["displayName"] == "Nächster Meilenstein"
    uil = http.get(f"{base}/lists/User Information List").json()
    assert uil["list"]["hidden"] is True
    people = http.get(f"{base}/lists/{uil['id']}/items/7?$expand=fields").json()["fields"]
    assert people["Title"] == "Anna Becker" and people["EMail"] == "anna.becker@mannheim.de"


def test_create_list_and_column_encode_names(emu: Emulator, http: requests.Session) -> None:
    base = f"{emu.info.graph_url}/sites/{emu.site_id}"
    r = http.post(
        f"{base}/lists",
        json={
            "displayName": "Neue Liste",
            "list": {"template": "genericList"},
            "columns": [
                {"displayName": "Nächster Schritt", "text": {}},
                {"displayName": "Start-Datum", "dateTime": {"format": "dateOnly"}},
            ],
        },
    )
    assert r.status_code == 201
    lid = r.json()["id"]
    r = http.post(f"{base}/lists/{lid}/columns", json={"displayName": "a/b.c 1", "number": {}})
    assert r.status_code == 201 and r.json()["name"] == "a_x002f_b_x002e_c_x0020_1"
    r = http.post(f"{base}/lists/{lid}/columns", json={"displayName": "2. Wahl", "text": {}})
    assert r.json()["name"] == "_x0032__x002e__x0020_Wahl"
    names = {c["name"] for c in http.get(f"{base}/lists/{lid}/columns").json()["value"]}
    assert {"N_x00e4_chster_x0020_Schritt", "Start_x002d_Datum"} <= names
    r = http.post(
        f"{base}/lists/{lid}/items", json={"fields": {"Title": "a", "Start_x002d_Datum": "x"}}
    )
    assert r.status_code == 201 and r.json()["fields"]["Start_x002d_Datum"] == "x"


def test_versions(emu: Emulator, http: requests.Session, items_url: str) -> None:
    emu.edit("Projekte", 2, {"Status": "Umsetzung"}, "anna.becker@mannheim.de")
    versions = http.get(f"{items_url}/2/versions").json()["value"]
    assert [v["id"] for v in versions] == ["2.0", "1.0"]
    assert versions[0]["lastModifiedBy"]["user"]["email"] == "anna.becker@mannheim.de"
    assert versions[0]["fields"]["Status"] == "Umsetzung"
    assert versions[1]["fields"]["Status"] == "Idee"
