"""A small site on the emulator, sp-sync's real Graph adapter and a real store (helpers)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sp_sync.adapters.graph.client import GraphConnection
from sp_sync.adapters.graph.config import GraphConfig
from sp_sync.adapters.graph.source import GraphLists
from sp_sync.adapters.store import open_store
from sp_sync.config.mapping import load_mapping
from sp_sync.domain.model import ListMapping, ListSpec
from sp_sync.domain.normalize import content_hash
from sp_sync.domain.provisioning import column_definitions
from sp_sync.emulator import Emulator
from sp_sync.ports import ListRef, StateStore

REPO = Path(__file__).resolve().parents[2]
ANNA = "anna.becker@mannheim.de"
P = "Projekte"
PUBLIC = "_x00d6_ffentlich"
SEED: dict[str, Any] = {
    "hostname": "mannheim.sharepoint.com",
    "sites": [{"path": "sites/dtc", "displayName": "Digital Transformation Center",
               "lists": []}],
    "users": [{"id": 7, "name": "Anna Becker", "email": ANNA}],
    "mailboxes": ["dtc@mannheim.de"],
}


@dataclasses.dataclass
class Site:
    emu: Emulator
    lists: GraphLists
    store: StateStore
    mapping: ListMapping

    def ref(self, spec: ListSpec) -> ListRef:
        return ListRef(self.emu.info.site_url, spec.title)

    def mirror_equals_list(self, key: str) -> bool:
        spec = self.mapping.get(key)
        live = {str(i["id"]): (i["eTag"], content_hash(spec, i["fields"]))
                for i in self.emu.items(spec.title)}
        return {i.id: (i.etag, i.content_hash) for i in self.store.items(key)} == live


@contextmanager
def open_site(
    tmp_path: Path, projects: int = 5, sleep: Callable[[float], None] | None = None,
    **config: Any,
) -> Iterator[Site]:
    mapping = load_mapping(REPO / "config" / "lists.toml")
    with Emulator(seed=SEED, state_dir=tmp_path / "emulator") as emu:
        info = emu.info
        extra: dict[str, Any] = dict(config)
        if sleep is not None:
            extra["sleep"] = sleep
        graph = GraphConfig(
            tenant_id=info.tenant_id, client_id=info.client_id, client_secret=None,
            certificate_pem=Path(info.certificate).read_text(),
            authority_host=info.base_url, graph_url=info.graph_url, ca_bundle=info.ca_bundle,
            **extra,
        )
        with GraphConnection(graph) as conn:
            lists = GraphLists(conn, info.site_url)
            for key in ("departments", "projects", "public_projects"):
                spec = mapping.get(key)
                lists.ensure_list(ListRef(info.site_url, spec.title),
                                  column_definitions(spec, mapping))
            dept = emu.create_item("Fachbereiche", {"Title": "Bürgerservice"}, ANNA)
            for i in range(projects):
                emu.create_item(P, {"Title": f"Projekt {i}", "Projektnummer": f"P-{i}",
                                    PUBLIC: True, "FachbereichLookupId": dept}, ANNA)
            store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
            try:
                yield Site(emu, lists, store, mapping)
            finally:
                store.close()
