"""Pins of office365-rest-python-client's wrong behaviour that the adapter works around.

If one of these fails after a library upgrade, the library was fixed: re-check whether the
raw call in ``sp_sync.adapters.graph`` is still needed (see m365-protocol.md).
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from sp_sync.adapters.graph.client import GraphConnection
from sp_sync.adapters.graph.source import GraphLists
from sp_sync.emulator import Emulator
from sp_sync.ports import ListRef
from tests.adapters.graph.conftest import graph_requests


def test_library_calls_use_the_configured_root_and_our_policy(
    clean: Emulator, conn: GraphConnection
) -> None:
    site = conn.client.sites.get_by_url(clean.info.site_url).execute_query()
    assert site.id == clean.site_id
    (req,) = graph_requests(clean)
    assert req["path"] == "/v1.0/sites/mannheim.sharepoint.com:/sites/dtc"
    assert conn.stats.requests == 1 and conn.stats.resource_units == 1


def test_pin_items_delta_get_drops_the_delta_link(
    clean: Emulator, conn: GraphConnection
) -> None:
    items = conn.client.sites[clean.site_id].lists[clean.list_id("Projekte")].items
    col = items.delta.get().execute_query()
    assert len(col) == 3
    assert col.delta_token is None  # the mapper never hands @odata.deltaLink over
    raw = conn.get_json(f"sites/{clean.site_id}/lists/{clean.list_id('Projekte')}/items/delta")
    assert raw["@odata.deltaLink"]  # … although Graph sent one


def test_pin_fields_update_sends_no_if_match_and_overwrites_a_persons_edit(
    clean: Emulator, conn: GraphConnection, lists: GraphLists
) -> None:
    ref = ListRef(clean.info.site_url, "Projekte")
    read = lists.get_item(ref, "2", ("Title",))
    assert read is not None
    clean.edit("Projekte", 2, {"Title": "Bürgerportal (Jonas)"}, "jonas.weber@mannheim.de")
    sent: list[dict[str, Any]] = []
    pending = conn.client.pending_request()
    pending.before_execute(lambda r: sent.append(dict(r.headers)), once=False)
    item = conn.client.sites[clean.site_id].lists[clean.list_id("Projekte")].items["2"]
    item.fields.set_property("Title", "Bibliothek").update().execute_query()
    assert not any(k.lower() == "if-match" for k in sent[-1])
    now = next(i for i in clean.items("Projekte") if i["id"] == "2")
    assert now["fields"]["Title"] == "Bibliothek"  # the person's edit is lost, no 412


def test_pin_library_batch_ignores_our_session_and_ca(
    clean: Emulator, conn: GraphConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    items = conn.client.sites[clean.site_id].lists[clean.list_id("Themen")].items
    items.add(fields={"Title": "B1"})
    before = conn.stats.requests
    with pytest.raises(requests.exceptions.SSLError):
        conn.client.execute_batch()
    assert conn.stats.requests == before  # it did not go through our transport
    assert graph_requests(clean, "/$batch") == []
