"""Provisioning lists and columns, and snapshotting a site into an emulator seed."""

from __future__ import annotations

from sp_sync.adapters.graph.client import GraphConnection
from sp_sync.adapters.graph.snapshot import snapshot
from sp_sync.adapters.graph.source import GraphLists
from sp_sync.domain.model import (
    ActionKind,
    ColumnSpec,
    ColumnType,
    ListMapping,
    ListSpec,
    OutcomeStatus,
    WriteAction,
)
from sp_sync.emulator import Emulator
from sp_sync.engine.provision import provision
from sp_sync.ports import ListRef
from tests.adapters.graph.conftest import config_for


def mapping(extra: tuple[ColumnSpec, ...] = ()) -> ListMapping:
    themen = ListSpec("themes", "Themen", (ColumnSpec("title", "Title", ColumnType.TEXT),))
    projekte = ListSpec("projects", "Projekte", (
        ColumnSpec("title", "Title", ColumnType.TEXT),
        ColumnSpec("status", "Status", ColumnType.CHOICE, choices=("Idee", "Umsetzung")),
        ColumnSpec("owner", "Verantwortlich", ColumnType.PERSON),
        ColumnSpec("theme", "Thema", ColumnType.LOOKUP, lookup_list="themes"),
        ColumnSpec("budget", "Budget", ColumnType.CURRENCY),
    ))
    befunde = ListSpec("findings", "Befunde", (
        ColumnSpec("title", "Title", ColumnType.TEXT),
        ColumnSpec("severity", "Schweregrad", ColumnType.CHOICE, display="Schweregrad",
                   choices=("Hinweis", "Fehler")),
        ColumnSpec("project", "Projekt", ColumnType.LOOKUP, display="Projekt",
                   lookup_list="projects"),
        *extra,
    ), role="target", sync_key_column="SyncKey")
    return ListMapping((themen, projekte, befunde))


def test_provision_creates_targets_with_resolved_lookups_then_adds_columns(
    clean: Emulator, lists: GraphLists
) -> None:
    assert provision(lists, mapping(), lists.default_site_url) == {"Befunde": True}
    ref = ListRef(clean.info.site_url, "Befunde")
    cols = {c.name: c for c in lists.columns(ref)}
    assert cols["SyncKey"].indexed and cols["Schweregrad"].type == "choice"
    assert cols["Projekt"].lookup_list_id == clean.list_id("Projekte")
    assert provision(lists, mapping(), lists.default_site_url) == {"Befunde": False}  # idempotent

    more = (ColumnSpec("note", "Hinweistext", ColumnType.NOTE, display="Hinweistext"),)
    assert provision(lists, mapping(more), lists.default_site_url) == {"Befunde": True}
    assert "Hinweistext" in {c.name for c in lists.columns(ref)}

    # the SyncKey lookup the engine does before re-sending an ambiguous create
    out = lists.apply(ref, [WriteAction(ActionKind.CREATE, "P-1|fehlt",
                                        fields={"Title": "Fehlt", "SyncKey": "P-1|fehlt"})])
    assert out[0].status is OutcomeStatus.OK
    found = lists.find_by_key(ref, "SyncKey", "P-1|fehlt", ("Title", "SyncKey"))
    assert found is not None and found.id == out[0].item.id  # type: ignore[union-attr]


def test_snapshot_round_trips_into_a_new_emulator(clean: Emulator, lists: GraphLists) -> None:
    m = mapping()
    seed = snapshot(lists, m, clean.info.site_url)
    assert seed["hostname"] == "mannheim.sharepoint.com"
    assert {u["email"] for u in seed["users"]} >= {"anna.becker@mannheim.de"}
    by_title = {lst["displayName"]: lst for lst in seed["sites"][0]["lists"]}
    thema = next(c for c in by_title["Projekte"]["columns"] if c["name"] == "Thema")
    assert thema["lookup"]["listId"] == "Themen"  # by title, not a tenant-specific id

    with Emulator(seed=seed) as copy, GraphConnection(config_for(copy)) as conn:
        again = snapshot(GraphLists(conn, copy.info.site_url), m, copy.info.site_url)
        original = {i["id"]: i["fields"] for i in clean.items("Projekte")}
        copied = {i["id"]: i["fields"] for i in copy.items("Projekte")}
        assert copied.keys() == original.keys()
        for iid, fields in copied.items():
            for key in ("Title", "Status", "VerantwortlichLookupId", "ThemaLookupId", "Budget"):
                assert fields.get(key) == original[iid].get(key)
    assert again["sites"][0]["lists"] == seed["sites"][0]["lists"]
