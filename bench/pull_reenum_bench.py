"""Full re-enumeration of a mirrored list: MemoryLists (no HTTP) → SQLite state store.

Measures the engine + store side of a full read (410 or a changed select): every item
arrives again and must be compared with the mirror. Usage:

    .venv/bin/python -m bench.pull_reenum_bench [items]   (default 10000)

The database goes to a temp dir; nothing is written into the repository.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sp_sync.adapters.store import open_store
from sp_sync.config.mapping import load_mapping
from sp_sync.engine.pull import pull_list
from sp_sync.testing.memory_lists import MemoryLists

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def main(n: int) -> None:
    spec = load_mapping(REPO / "config" / "lists.toml").get("projects")
    sp = MemoryLists(page_size=1000)  # Graph's delta page size in the adapter
    sp.add_user(7, "Anna Becker", "anna.becker@mannheim.de")
    ref = sp.add_list(spec.title)
    for i in range(n):
        sp.create_item(spec.title, {
            "Title": f"Projekt {i}", "Projektnummer": f"P-{i:05d}", "Status": "Umsetzung",
            "Ampel": "Grün", "Budget": 1000 + i, "Statusbericht": "läuft " * 20,
            "DTC_x002d_LeitungLookupId": 7, "Start": "2026-01-31T23:00:00Z",
        }, 7)
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'state.db'}")
        try:
            t0 = time.perf_counter()
            pull_list(sp, store, spec, ref, NOW)
            first = time.perf_counter() - t0
            t0 = time.perf_counter()
            result = pull_list(sp, store, spec, ref, NOW, full=True)
            again = time.perf_counter() - t0
        finally:
            store.close()
    assert result.items_seen == n and result.updated == result.created == result.deleted == 0
    print(f"{n} items: first sync {first:.2f} s, full re-enumeration {again:.2f} s "
          f"({result.pages} pages)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
