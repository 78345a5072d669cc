"""The floor of a first sync's local processing: what the bare minimum costs per item.

    .venv/bin/python -m bench.floor [--n 50000] [--repeat 3] [--stages]

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
bookkeeping). ``--stages`` adds where ``pull_list``'s CPU goes: each of its steps timed
alone on the same pages (best of ``--repeat``), and the client CPU of reading the pages
over HTTPS (requests and TLS only). Prints tables; nothing is written outside a temporary
directory.
"""

from __future__ import annotations

import argparse
import gc
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
    from sp_sync.adapters.graph.wire import peek_next_link
    from sp_sync.adapters.store.memory import MemoryStore
    from sp_sync.ports import ListRef

    spec = mapping().get("bench_source")
    with GraphConnection(graph_config(info)) as conn:
        lists = GraphLists(conn, SITE_URL, MemoryStore())
        url: str | None = lists._delta_url(ListRef(SITE_URL, spec.title), spec.select)
        bodies = []
        while url:  # the next link peeked as the adapter does: reading costs no decoding
            resp = conn.request("GET", url, expect_json=False)
            bodies.append(resp.content)
            url = peek_next_link(resp.content)
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


def least_cpu(work: Callable[[], object], repeat: int) -> float:
    """CPU seconds of ``work``, the least of ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        cpu0 = time.process_time()
        work()
        times.append(time.process_time() - cpu0)
    return min(times)


def wire_cpu(info: dict[str, Any], repeat: int) -> float:
    """Client CPU seconds of reading the pages over HTTPS, nothing else (best of ``repeat``)."""
    return least_cpu(lambda: fetch_bodies(info), repeat)


def stages(bodies: Sequence[bytes], repeat: int) -> list[tuple[str, float]]:
    """``pull_list``'s steps, each timed alone on ``bodies`` (CPU seconds, best of
    ``repeat``): what the adapter does per page, what the engine does per item outside the
    transaction, and the transaction (a fresh store each time)."""
    from sp_sync.adapters.graph.wire import _item_problem, decode_json, raw_items
    from sp_sync.adapters.store import open_store
    from sp_sync.engine.pull import _Pull, _Spool

    spec = mapping().get("bench_source")
    now = datetime.now(UTC)

    def timed(work: Callable[[], object]) -> float:
        # The inputs of every step are held at once here, unlike in a pull (one page at a
        # time): frozen, the collector does not walk them over and over while a step runs.
        gc.collect()
        gc.freeze()
        try:
            return least_cpu(work, repeat)
        finally:
            gc.unfreeze()

    pages = [decode_json(body)["value"] for body in bodies]
    raws = [raw_items(values, MAX_DEPTH, MAX_CHARS)[0] for values in pages]
    out = [
        ("JSON decoding (msgspec)", timed(lambda: all(decode_json(body) for body in bodies))),
        ("bounds check", timed(lambda: [[_item_problem(v, MAX_DEPTH, MAX_CHARS) for v in values]
                                        for values in pages])),
        ("RawItems (bounds included)", timed(lambda: [raw_items(values, MAX_DEPTH, MAX_CHARS)
                                                      for values in pages])),
    ]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="sp-sync-floor-") as tmp:
        store = open_store(f"sqlite:///{tmp}/prepare.db")
        run = _Pull(store, spec, now, None, (), ())
        entries = [[run.prepare(raw) for raw in page] for page in raws]
        out += [
            ("prepare (all of it)", timed(lambda: [[run.prepare(raw) for raw in page]
                                                   for page in raws])),
            ("  content hash", timed(lambda: [[run.hash(raw.fields) for raw in page]
                                              for page in raws])),
        ]  # fmt: skip
        store.close()

        def spool() -> None:
            kept = _Spool()
            for page_entries in entries:
                kept.add(page_entries, [])
            for _ in kept:
                pass
            kept.close()

        def transaction(db: str) -> float:
            target = open_store(f"sqlite:///{tmp}/{db}.db")
            pull = _Pull(target, spec, now, None, (), ())
            cpu0 = time.process_time()
            with target.list_sync(spec.key) as tx:
                pull.begin()
                for page_entries in entries:
                    pull.page(tx, page_entries, [])
                pull.finish(tx, None, None)
            cpu = time.process_time() - cpu0
            target.close()
            return cpu

        out += [("spool (write and read back)", timed(spool)),
                ("transaction (compare, rows, SQLite, commit)",
                 min(transaction(f"tx{i}") for i in range(repeat)))]
    return out


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
    ap.add_argument("--stages", action="store_true",
                    help="also time pull_list's steps alone, and the HTTPS reads")
    args = ap.parse_args(argv)
    with EmulatorProcess(seeded(args.n), 0, VAR / "emulator") as emu:  # no latency
        bodies = fetch_bodies(emu.info)
        wire = wire_cpu(emu.info, args.repeat) if args.stages else None
    print(f"{len(bodies)} pages, {sum(map(len, bodies)) / 1e6:.1f} MB of JSON, "
          f"{args.n:,} items; client CPU without the wire, best of {args.repeat}:\n")
    print("| what | CPU s | items / CPU s |\n|---|---|---|")
    for name, step in (("floor (the bare minimum)", floor), ("ours (pull_list)", ours)):
        cpu = best(step, bodies, args.repeat)
        print(f"| {name} | {cpu:.2f} | {round(args.n / cpu):,} |")
    if wire is not None:
        print(f"\n`pull_list`'s steps, each alone (best of {args.repeat}):\n")
        print("| step | CPU s |\n|---|---|")
        for name, cpu in [("reading the pages over HTTPS", wire), *stages(bodies, args.repeat)]:
            print(f"| {name} | {cpu:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
