"""``provision`` adds the SyncKey column to people's lists sp-sync adds rows to (issue 12):
only that column — the list and its other columns stay the people's."""

from __future__ import annotations

from sp_sync.adapters.graph.source import GraphLists
from sp_sync.domain.model import ColumnSpec, ColumnType, ListMapping, ListSpec
from sp_sync.emulator import Emulator
from sp_sync.engine.provision import provision
from sp_sync.ports import ListRef


def mapping(sync_key: str | None) -> ListMapping:
    projekte = ListSpec("projects", "Projekte", (
        ColumnSpec("title", "Title", ColumnType.TEXT),
        ColumnSpec("missing", "NichtDa", ColumnType.TEXT, display="Nicht da"),
    ), sync_key_column=sync_key)
    return ListMapping((projekte,))


def test_provision_adds_only_the_sync_key_to_a_source_list(
    clean: Emulator, lists: GraphLists
) -> None:
    ref = ListRef(clean.info.site_url, "Projekte")
    before = {c.name for c in lists.columns(ref)}
    assert "SyncKey" not in before
    assert provision(lists, mapping(None), lists.default_site_url) == {}  # nothing declared

    assert provision(lists, mapping("SyncKey"), lists.default_site_url) == {"Projekte": True}
    cols = {c.name: c for c in lists.columns(ref)}
    assert cols["SyncKey"].indexed
    assert set(cols) - before == {"SyncKey"}  # the people's other columns are not touched
    assert provision(lists, mapping("SyncKey"), lists.default_site_url) == {"Projekte": False}
    assert provision(lists, mapping("SyncKey"), lists.default_site_url,
                     sync_keys=False) == {}
