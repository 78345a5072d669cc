"""The floor of a first sync's local processing: what the bare minimum costs per item.

    .venv/bin/python -m bench.floor [--n 50000] [--repeat 3]

Reads the delta pages of an N-item list from a local emulator once and keeps their bodies
in memory, then measures client CPU (best of ``--repeat``) without the wire:

* **floor**: the least a first sync must do with those bodies, in plain CPython and
  none of sp-sync's own types: decode the JSON (with the adapter's decoder), check what
  is kept of every item against the bounds,
  hash the mapped columns' canonical form (sp-sync's hasher: the stored digests must not
  change), encode each item's fields as JSON text, and insert the rows into a SQLite
  ``items`` table with the state store's indexes (one ``executemany`` per page, one
  commit);
* **ours**: ``pull_list`` into a fresh SQLite state store, fed the same bodies by a
  ``ListSource`` that decodes them (so the HTTP client's share is left out of both).

The difference is what sp-sync's pull costs beyond that floor (its types, spool,
bookkeeping). Prints one table; nothing is written outside a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.emu import EmulatorProcess, graph_config
from bench.seed import SITE_URL, make_seed, mapping

VAR = Path("var/bench")
MAX_DEPTH, MAX_CHARS = 32, 1_000_000  # GraphConfig's defaults


def seeded(n: int) -> Path:
    seed = VAR / f"seed-{n}.json"
    if not seed.exists():
        VAR.mkdir(parents=True, exist_ok=True)
        seed.write_text(json.dumps(make_seed(n)), encoding="utf-8")
    return seed


def fetch_bodies(info: dict[str, Any]) -> list[bytes]:
    """The raw delta pages of the bench's source list, from the emulator at ``info``."""
    from sp_sync.adapters.graph.client import GraphConnection
    from sp_sync.adapters.graph.source import GraphLists
    from sp_sync.adapters.store.memory import MemoryStore
    from sp_sync.ports import ListRef

    spec = mapping().get("bench_source")
    with GraphConnection(graph_config(info)) as conn:
        lists = GraphLists(conn, SITE_URL, MemoryStore())
        url: str | None = lists._delta_url(ListRef(SITE_URL, spec.title), spec.select)
        bodies = []
        while url:
            resp = conn.request("GET", url)
            bodies.append(resp.content)
            url = json.loads(resp.content).get("@odata.nextLink")
    return bodies


def floor(bodies: Sequence[bytes], db: Path) -> float:
    """CPU seconds of the bare minimum (see the module docstring)."""
    from sp_sync.adapters.graph.wire import _item_problem, decode_json
    from sp_sync.domain.jsontext import dumps
    from sp_sync.domain.normalize import content_hasher

    hasher = content_hasher(mapping().get("bench_source"))
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE items (list_key TEXT, item_id TEXT, etag TEXT, fields TEXT, "
        "content_hash TEXT, web_url TEXT, modified TEXT, modified_by TEXT, deleted_at TEXT, "
        "seen_gen INTEGER, PRIMARY KEY (list_key, item_id))"
    )
    conn.execute("CREATE INDEX ix_items_id_order ON items (list_key, length(item_id), item_id)")
    sql = "INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    cpu0 = time.process_time()
    for body in bodies:
        rows = []
        for v in decode_json(body)["value"]:
            if _item_problem(v, MAX_DEPTH, MAX_CHARS) is not None:
                continue
            fields = dict(v["fields"])
            etag = fields.pop("@odata.etag", None)
            rows.append(("src", v["id"], etag, dumps(fields), hasher(fields), v.get("webUrl"),
                         v.get("lastModifiedDateTime"), None, None, None))
        conn.executemany(sql, rows)
    conn.commit()
    cpu = time.process_time() - cpu0
    conn.close()
    return cpu


class _Bodies:
    """A ListSource serving kept page bodies (decoded here, as the adapter would)."""

    def __init__(self, bodies: Sequence[bytes]) -> None:
        self.bodies = bodies

    def delta(self, ref: Any, select: Sequence[str], cursor: str | None) -> Iterator[Any]:
        from sp_sync.adapters.graph.wire import decode_json, raw_items
        from sp_sync.ports import DeltaPage

        for body in self.bodies:
            page = decode_json(body)
            items, bad = raw_items(page.get("value"), MAX_DEPTH, MAX_CHARS)
            yield DeltaPage(items=items, next_link=page.get("@odata.nextLink"),
                            delta_link=page.get("@odata.deltaLink"),
                            poisoned=[p.id for p in bad if p.id])


def ours(bodies: Sequence[bytes], db: Path) -> float:
    from sp_sync.adapters.store import open_store
    from sp_sync.engine.pull import pull_list
    from sp_sync.ports import ListRef

    spec = mapping().get("bench_source")
    store = open_store(f"sqlite:///{db}")
    source: Any = _Bodies(bodies)
    cpu0 = time.process_time()
    pull_list(source, store, spec, ListRef(SITE_URL, spec.title), datetime.now(UTC))
    cpu = time.process_time() - cpu0
    store.close()
    return cpu


def best(step: Callable[[Sequence[bytes], Path], float], bodies: Sequence[bytes],
         repeat: int) -> float:
    times = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="sp-sync-floor-") as tmp:
            times.append(step(bodies, Path(tmp) / "state.db"))
    return min(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    with EmulatorProcess(seeded(args.n), 0, VAR / "emulator") as emu:  # no latency
        bodies = fetch_bodies(emu.info)
    print(f"{len(bodies)} pages, {sum(map(len, bodies)) / 1e6:.1f} MB of JSON, "
          f"{args.n:,} items; client CPU without the wire, best of {args.repeat}:\n")
    print("| what | CPU s | items / CPU s |\n|---|---|---|")
    for name, step in (("floor (the bare minimum)", floor), ("ours (pull_list)", ours)):
        cpu = best(step, bodies, args.repeat)
        print(f"| {name} | {cpu:.2f} | {round(args.n / cpu):,} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
