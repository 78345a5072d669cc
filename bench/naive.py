"""The naive baseline: a sync script written the way most are.

office365-rest-python-client's ``GraphClient`` (service root pointed at the emulator through
the documented ``pending_request`` override), ``items.expand(["fields"]).get_all(...)``
re-reading every item on every run, no state, and for a list-to-list copy one PATCH per
target item (everything re-written, no If-Match). Kept deliberately plain: it is the yardstick.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import msal
import requests
from office365.graph_request import GraphRequest
from office365.runtime.transport.requests_transport import RequestsTransport

from bench.seed import SYNC_KEY, sync_key
from sp_sync.adapters.graph.client import RootedGraphClient

COPIED = ("Title", "Nummer", "Status", "Betrag", "F_x00e4_llig", "Aktiv",
          "VerantwortlichLookupId", "Notiz")


class NaiveClient(RootedGraphClient):
    """The library's stock client and transport, at the emulator's service root."""

    def __init__(self, graph_url: str, token: Callable[[], dict[str, Any]], ca: str) -> None:
        super().__init__(graph_url, token)
        self._ca = ca

    def _new_request(self) -> GraphRequest:
        req = super()._new_request()
        req.transport = RequestsTransport(verify=self._ca)  # trust the emulator's CA
        return req


def connect(info: dict[str, Any]) -> NaiveClient:
    """Client-secret app-only login with msal, as in every quick-start."""
    http = requests.Session()
    http.trust_env = False  # the CA below, not whatever REQUESTS_CA_BUNDLE says
    http.verify = info["ca_bundle"]
    app = msal.ConfidentialClientApplication(
        info["client_id"], client_credential=info["client_secret"],
        authority=info["authority"], instance_discovery=False, http_client=http,
    )  # fmt: skip
    origin = info["graph_url"].split("/v1.0")[0]

    def token() -> dict[str, Any]:
        result: dict[str, Any] = app.acquire_token_for_client(scopes=[f"{origin}/.default"])
        if "access_token" not in result:
            raise RuntimeError(f"token request failed: {result.get('error_description')}")
        return result

    return NaiveClient(info["graph_url"], token, info["ca_bundle"])


def read_all(
    client: NaiveClient, site_url: str, title: str, page_size: int, first_page_only: bool = False
) -> list[Any]:
    """Every item with every field, the whole list in memory (what scripts do each run).

    ``first_page_only`` is the benchmark's shortcut for large lists when only the write loop
    is measured (the full read is the same operation as step a and is counted from it).
    """
    site = client.sites.get_by_url(site_url)
    query = site.lists[title].items.expand(["fields"])
    items = query.top(page_size).get() if first_page_only else query.get_all(page_size=page_size)
    items.execute_query()
    return list(items)


def fields_of(item: Any) -> dict[str, Any]:
    props: dict[str, Any] = item.fields.properties
    return props


def copy_all(
    client: NaiveClient, site_url: str, source: str, target: str, page_size: int,
    write_cap: int | None, first_page_only: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """Read both lists, then PATCH every target row with its source row's values.

    ``write_cap`` stops after that many PATCHes (the rest would take the same time each);
    the result says how many were sent and how many the full run would send.
    """
    rows = read_all(client, site_url, source, page_size, first_page_only)
    targets = read_all(client, site_url, target, page_size, first_page_only)
    by_key = {str(fields_of(t).get(SYNC_KEY)): t for t in targets}
    t0 = time.perf_counter()
    sent = 0
    for row in rows:
        if write_cap is not None and sent >= write_cap:
            break
        t = by_key.get(sync_key(int(row.id)))
        if t is None:
            continue
        values = fields_of(row)
        upd = t.fields
        for name in COPIED:
            upd.set_property(name, values.get(name))
        upd.update().execute_query()
        sent += 1
    return {"patches_sent": sent, "patches_full_run": len(rows), "read_items": len(rows)
            + len(targets), "patch_seconds": time.perf_counter() - t0,
            "first_page_only": first_page_only}
