"""Sync benchmark (issue 4): our engine against a naive script, on the local emulator.

    .venv/bin/python -m bench.sync_bench [--sizes 1000,10000,50000] [--latency-ms 30]
                                         [--out var/bench/results.json]

Per list size N the emulator runs in its own process, seeded with one source list of N
items and an identical SyncKey target list. Each step is measured in a fresh client
process (see ``bench.measure``), both systems in the same run:

  a  first full sync into the state store (SQLite under var/bench/)
  d0 (ours only) the list-to-list job's first run: the copy is equal, nothing is written
  b  a sync with nothing changed
  qf (ours only) a quiet run of every list in a fresh process, as cron starts `run-job`
  qd (ours only) the same quiet run in a daemon (ids and the schema verdict in memory)
  c  a sync after a person changed 1 % of the items
  d  the list-to-list job after c: writes exactly those 1 % (W rows), nothing else

A second emulator with no latency then measures local processing (client CPU seconds,
items/s) for a and d, and tracemalloc peaks for a; step a of ours runs twice, against
the cold emulator and, after the naive read, against the warm one. The naive
PATCH-everything copy (d) is capped at ``--naive-write-cap`` PATCHes and, above
``--naive-repeat-max`` items, its reads (and the naive b, c) are counted from a; such
figures are marked ``*``.
Results: a markdown table on stdout, everything as JSON in ``--out`` (never committed).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from bench.emu import EmulatorProcess
from bench.measure import QUIET_LISTS
from bench.seed import EDITOR, SOURCE_TITLE, changed_fields, changed_ids, make_seed

VAR = Path("var/bench")
PAGE = 1000  # our delta $top (sp_sync.adapters.graph.source.DELTA_PAGE_SIZE)
BATCH = 20
CHANGE_SHARE = 0.01

Row = dict[str, Any]


class Editable(Protocol):
    """What the harness needs from an emulator: how to reach it, and a person's edits."""

    info: dict[str, Any]

    def edit_many(self, title: str, edits: Iterable[tuple[int, dict[str, Any]]],
                  user: str) -> int: ...


Runner = Callable[..., Row]


def run_step(info: dict[str, Any], system: str, step: str, store: Path, **extra: Any) -> Row:
    """One measured step in a fresh process; its JSON result."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench.measure", json.dumps(_spec(info, system, step, store,
                                                                 **extra))],
        capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"{system} {step} failed:\n{proc.stderr[-4000:]}")
    row: Row = json.loads(proc.stdout.strip().splitlines()[-1])
    return row


def run_step_here(info: dict[str, Any], system: str, step: str, store: Path, **extra: Any) -> Row:
    """The same step in this process (the smoke test: no interpreter start-up per step)."""
    from bench.measure import measure

    return measure(_spec(info, system, step, store, **extra))


def _spec(info: dict[str, Any], system: str, step: str, store: Path, **extra: Any) -> Row:
    return {"system": system, "step": step, "info": info, "store_url": f"sqlite:///{store}",
            "page_size": PAGE, **extra}


def _fresh(path: Path) -> Path:
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}.lock")):
        p.unlink(missing_ok=True)
    return path


def _edit(emu: Editable, n: int, round_no: int) -> int:
    ids = changed_ids(n, CHANGE_SHARE, round_no)
    return emu.edit_many(SOURCE_TITLE, ((i, changed_fields(i, round_no)) for i in ids), EDITOR)


def _full_naive_copy(row: Row, n: int, read: Row | None) -> None:
    """Scale the naive copy to all N rows, marked ``extrapolated``.

    The PATCH loop was capped: each missing PATCH costs what the measured ones cost. When
    the reads were cut to the first page (large N), the two full reads count as twice the
    measured step a (the same call on a list of the same size). CPU stays as measured.
    """
    d = row["detail"]
    sent, full = d["patches_sent"], n
    row["extrapolated"] = bool(sent < full or d.get("first_page_only"))
    if not row["extrapolated"] or sent == 0:
        return
    measured = {k: row[k] for k in ("requests", "writes", "ru", "wall_s", "cpu_s",
                                    "peak_rss_delta_mb")}
    if d.get("first_page_only") and read is not None:
        reads = {k: 2 * read[k] for k in ("requests", "ru", "wall_s")}
        rss = max(read["peak_rss_delta_mb"], row["peak_rss_delta_mb"])
    else:
        reads = {"requests": row["requests"] - sent, "ru": row["ru"] - 2 * sent,
                 "wall_s": row["wall_s"] - d["patch_seconds"]}
        rss = row["peak_rss_delta_mb"]
    per_patch = d["patch_seconds"] / sent
    row.update({
        "measured": measured, "per_patch_s": round(per_patch, 4),
        "requests": reads["requests"] + full, "writes": full, "ru": reads["ru"] + 2 * full,
        "wall_s": round(reads["wall_s"] + per_patch * full, 1),
        "peak_rss_delta_mb": rss,
    })  # fmt: skip


def bench_size(
    n: int, latency_ms: int, write_cap: int, repeat_max: int, log: Callable[[str], None]
) -> Row:
    """All steps for one list size at the given latency (emulator in its own process)."""
    seed_file = VAR / f"seed-{n}.json"
    if not seed_file.exists():
        seed_file.write_text(json.dumps(make_seed(n)), encoding="utf-8")
    t0 = time.perf_counter()
    with EmulatorProcess(seed_file, latency_ms, VAR / "emulator") as emu:
        log(f"N={n}: emulator up in {time.perf_counter() - t0:.1f}s")
        out = run_sequence(emu, n, _fresh(VAR / f"state-{n}.db"), write_cap, log,
                           repeat_naive=n <= repeat_max)  # fmt: skip
    out.update(latency_ms=latency_ms, seconds=round(time.perf_counter() - t0, 1))
    return out


def with_server_cpu(emu: Any, step: Callable[[], Row]) -> Row:
    """The step's row plus the emulator process's CPU seconds meanwhile (its real cost of
    answering: the request log's durations leave out HTTP, TLS and the event loop)."""
    cpu = getattr(emu, "cpu_s", None)
    before = cpu() if cpu else None
    row = step()
    if cpu and before is not None:
        row["server_cpu_s"] = round(cpu() - before, 3)
    return row


def run_sequence(
    emu: Editable, n: int, store: Path, write_cap: int | None, log: Callable[[str], None],
    runner: Runner = run_step, repeat_naive: bool = True,
) -> Row:  # fmt: skip
    """Steps a, d0, b, c, d in order, on a freshly seeded emulator and an empty store.

    ``repeat_naive=False`` (large N): the naive b and c are the very same full read as a and
    are not run again (their row repeats a's, marked); the naive d reads only one page of
    each list and counts its two full reads as 2 × a (see :func:`_full_naive_copy`).
    """
    out: Row = {"n": n, "steps": {}, "naive_repeated": repeat_naive}
    steps: dict[str, dict[str, Row]] = out["steps"]

    def ours(step: str) -> Row:
        return with_server_cpu(emu, lambda: runner(emu.info, "ours", step, store))

    def naive(step: str, **extra: Any) -> Row:
        if step in ("b", "c") and not repeat_naive:
            return {**steps["a"]["naive"], "step": step, "repeated_from": "a"}
        return with_server_cpu(emu, lambda: runner(emu.info, "naive", step, store, **extra))

    def both(step: str, **naive_extra: Any) -> None:
        steps[step] = {"ours": ours(step), "naive": naive(step, **naive_extra)}
        log(f"N={n} {step}: " + "  ".join(
            f"{s} {r['requests']} req {r['wall_s']}s" for s, r in steps[step].items()))

    both("a")
    # The job's other lists (people, the target copy) mirrored once (not measured) …
    steps["setup"] = {"ours": ours("setup")}
    # … then the job's first run: the copy already equals the source, so nothing is written.
    steps["d0"] = {"ours": ours("d0")}
    both("b")
    # Quiet runs of every list as the job runner does them (columns checked when due): in a
    # fresh process as cron starts it (ids and today's schema verdict from the state
    # store), and in a daemon that has them in memory.
    steps["qf"] = {"ours": ours("qf")}
    steps["qd"] = {"ours": ours("qd")}
    log(f"N={n} quiet: fresh process {steps['qf']['ours']['requests']} req, "
        f"daemon {steps['qd']['ours']['requests']} req for {len(QUIET_LISTS)} lists")
    out["edited"] = _edit(emu, n, 1)
    both("c")
    # The list-to-list job on the same 1 %: the mirror holds the changes since c.
    both("d", write_cap=write_cap, first_page_only=not repeat_naive)
    _full_naive_copy(steps["d"]["naive"], n, steps["a"]["naive"])
    return out


def bench_local(n: int, naive_max: int, log: Callable[[str], None]) -> Row:
    """Latency 0: wall and client CPU for a and d; tracemalloc peaks for a (slow: ~4×)."""
    seed_file = VAR / f"seed-{n}.json"
    out: Row = {"n": n, "latency_ms": 0, "steps": {}}
    steps: dict[str, Row] = out["steps"]
    store, tm_store = _fresh(VAR / f"state-{n}-local.db"), VAR / f"state-{n}-tm.db"
    with EmulatorProcess(seed_file, 0, VAR / "emulator") as emu:
        steps["a ours"] = with_server_cpu(emu, lambda: run_step(emu.info, "ours", "a", store))
        steps["a naive"] = with_server_cpu(emu, lambda: run_step(emu.info, "naive", "a", store))
        # Ours again, now that the emulator has its pages ready as it had for the naive
        # read: on two shared cores a cold emulator's busy core makes the client's own
        # CPU seconds longer, so this row is the client's processing with a quiet server.
        steps["a ours, warm emulator"] = with_server_cpu(
            emu, lambda: run_step(emu.info, "ours", "a", _fresh(store)))
        steps["a ours, tracemalloc"] = run_step(emu.info, "ours", "a", _fresh(tm_store),
                                                tracemalloc=True)  # fmt: skip
        if n <= naive_max:  # tracemalloc makes the naive read ~4× slower
            steps["a naive, tracemalloc"] = run_step(emu.info, "naive", "a", store,
                                                     tracemalloc=True)  # fmt: skip
        run_step(emu.info, "ours", "setup", store)
        run_step(emu.info, "ours", "converge", store)
        _edit(emu, n, 1)
        steps["d ours"] = run_step(emu.info, "ours", "d", store)
    for key, row in steps.items():
        row["items_per_cpu_s"] = round(n / row["cpu_s"]) if row["cpu_s"] else None
        log(f"N={n} local {key}: cpu {row['cpu_s']}s wall {row['wall_s']}s "
            f"{row['items_per_cpu_s']} items/s tm {row['tracemalloc_peak_mb']} MB")
    _fresh(tm_store)
    return out


def bench_copy(n: int, latency_ms: int, fill_ru: int, log: Callable[[str], None]) -> Row:
    """Only the list copy (``--copy-only``): a, the set-up, d0, c, d (ours), then one run of
    a first fill (initial load) capped at ``fill_ru`` resource units of writes."""
    seed_file = VAR / f"seed-{n}.json"
    if not seed_file.exists():
        seed_file.write_text(json.dumps(make_seed(n)), encoding="utf-8")
    store = _fresh(VAR / f"state-{n}-copy.db")
    out: Row = {"n": n, "latency_ms": latency_ms, "steps": {}}
    steps: dict[str, Row] = out["steps"]
    with EmulatorProcess(seed_file, latency_ms, VAR / "emulator") as emu:
        def ours(step: str, **extra: Any) -> Row:
            row = with_server_cpu(emu, lambda: run_step(emu.info, "ours", step, store, **extra))
            log(f"N={n} {step}: {row['requests']} req {row['ru']} RU {row['writes']} writes "
                f"{row['wall_s']}s cpu {row['cpu_s']}s RSS Δ {row['peak_rss_delta_mb']} MB")
            return row

        for step in ("a", "setup", "d0"):
            steps[step] = ours(step)
        out["edited"] = _edit(emu, n, 1)
        steps["c"] = ours("c")
        steps["d"] = ours("d")
        if fill_ru:
            steps["fill"] = ours("fill", write_ru_per_run=fill_ru)
    return out


def copy_table(results: list[Row]) -> str:
    lines = ["| N | step | requests | RU | writes | wall s | CPU s | RSS Δ MB |",
             "|" + "---|" * 8]
    for res in results:
        for step in ("d0", "d", "fill"):
            if (o := res["steps"].get(step)) is None:
                continue
            lines.append(f"| {res['n']:,} | {step} | {o['requests']} | {o['ru']} | "
                         f"{o['writes']} | {o['wall_s']:.2f} | {o['cpu_s']:.2f} | "
                         f"{o['peak_rss_delta_mb']} |")
            if step == "fill" and o["detail"].get("progress"):
                lines.append(f"|  | | {o['detail']['progress']} | | | | | |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ report


def targets(n: int, w: int) -> dict[str, str]:
    return {
        "a": f"{math.ceil(n / PAGE) + 2} (⌈N/{PAGE}⌉+2)",
        "b": "1 per list",
        "c": "1 per list, 0 history reads",
        "d": f"{math.ceil(w / BATCH)} write calls (⌈W/20⌉)",
        "d0": "1 per list, 0 writes",
        "qf": "1 per list",
        "qd": "1 per list",
    }


def _ratio(naive: float, ours: float) -> str:
    return f"{naive / ours:.0f}×" if ours else "—"


def table(results: list[Row], local: list[Row]) -> str:
    head = ("| N | step | target (ours) | ours req | naive req | ours RU | naive RU | "
            "ours writes | naive writes | ours wall s | naive wall s | ours CPU s | naive CPU s | "
            "ours RSS Δ MB | naive RSS Δ MB | req ratio | wall ratio |")
    lines = [head, "|" + "---|" * 17]
    for res in results:
        n = res["n"]
        tg = targets(n, res.get("edited", 0))
        for step in ("a", "b", "c", "d0", "d"):
            s = res["steps"].get(step)
            if not s:
                continue
            o, v = s["ours"], s.get("naive")
            star = "*" if v and (v.get("extrapolated") or v.get("repeated_from")) else ""
            ow = o["batch_calls"] if step == "d" else o["writes"]
            cells = [
                f"{n:,}", step, tg[step], str(o["requests"]),
                f"{v['requests']:,}{star}" if v else "—", str(o["ru"]),
                f"{v['ru']:,}{star}" if v else "—",
                f"{o['detail'].get('written', 0)} in {ow} calls" if step.startswith("d") else "0",
                f"{v['writes']:,}{star}" if v else "—", f"{o['wall_s']:.2f}",
                f"{v['wall_s']:.1f}{star}" if v else "—", f"{o['cpu_s']:.2f}",
                f"{v['cpu_s']:.2f}" if v else "—", f"{o['peak_rss_delta_mb']:.1f}",
                f"{v['peak_rss_delta_mb']:.1f}" if v else "—",
                _ratio(v["requests"], o["requests"]) if v else "—",
                _ratio(v["wall_s"], o["wall_s"]) if v else "—",
            ]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", quiet_table(results), "", full_sync_table(results, local)]
    if local:
        lines += ["", "| N | local step (latency 0) | client CPU s | items / CPU s | wall s | "
                  "tracemalloc peak MB |", "|---|---|---|---|---|---|"]
        for res in local:
            for key, row in res["steps"].items():
                tm = row["tracemalloc_peak_mb"]
                lines.append(
                    f"| {res['n']:,} | {key} | {row['cpu_s']:.2f} | "
                    f"{row['items_per_cpu_s'] or 0:,} | {row['wall_s']:.2f} | "
                    f"{'—' if tm is None else tm} |"
                )
    return "\n".join(lines)


def quiet_table(results: list[Row]) -> str:
    """Quiet runs: requests per list in a fresh process and in a daemon, against naive."""
    lines = ["| N | quiet run of every list | lists | requests | per list | RU | wall s | "
             "CPU s | naive req per list (b) |", "|---|---|---|---|---|---|---|---|---|"]
    for res in results:
        steps, k = res["steps"], len(QUIET_LISTS)
        naive = steps["b"]["naive"]["requests"]
        for step, label in (("qf", "fresh process (cron, `run-job`)"), ("qd", "daemon")):
            if step not in steps:
                continue
            o = steps[step]["ours"]
            lines.append(f"| {res['n']:,} | {label} | {k} | {o['requests']} | "
                         f"{o['requests'] / k:.2f} | {o['ru']} | {o['wall_s']:.2f} | "
                         f"{o['cpu_s']:.2f} | {naive:,} |")
    return "\n".join(lines)


def bound(row: Row, latency_ms: float) -> dict[str, float]:
    """The wire's limit for a full sync: the server answering every page one after another
    (the emulator process's CPU, else the request log's durations, plus the latency of
    each request) or the client's CPU, the slower."""
    serving = row.get("server_cpu_s", row.get("server_s", 0.0))
    server = serving + row["requests"] * latency_ms / 1000
    limit = max(server, row["cpu_s"])
    return {"server_s": round(server, 3), "bound_s": round(limit, 3),
            "wall_over_bound": round(row["wall_s"] / limit, 2) if limit else 0.0}


def full_sync_table(results: list[Row], local: list[Row]) -> str:
    """Step a (first full sync) at each latency: wall against the wire's limit."""
    lines = ["| N | latency ms | ours wall s | client CPU s | server s (incl. latency) | "
             "wall ÷ max(server, CPU) | items / CPU s | ours RSS Δ MB | naive wall s | "
             "naive CPU s | naive RSS Δ MB |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    rows = [(r["n"], r["latency_ms"], r["steps"]["a"]["ours"], r["steps"]["a"]["naive"])
            for r in results]
    rows += [(r["n"], 0, r["steps"]["a ours"], r["steps"]["a naive"]) for r in local
             if "a ours" in r["steps"]]
    for n, lat, o, v in rows:
        b = bound(o, lat)
        o["bound"] = b
        lines.append(
            f"| {n:,} | {lat} | {o['wall_s']:.2f} | {o['cpu_s']:.2f} | {b['server_s']:.2f} | "
            f"{b['wall_over_bound']:.2f}× | {round(n / o['cpu_s']) if o['cpu_s'] else 0:,} | "
            f"{o['peak_rss_delta_mb']:.1f} | {v['wall_s']:.2f} | {v['cpu_s']:.2f} | "
            f"{v['peak_rss_delta_mb']:.1f} |"
        )
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except OSError:
        mem_kb = 0
    return {"cpus": os.cpu_count(), "cpu_model": model, "ram_gb": round(mem_kb / 2**20, 1),
            "python": platform.python_version(), "platform": platform.platform()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,10000,50000")
    ap.add_argument("--latency-ms", type=int, default=30)
    ap.add_argument("--naive-write-cap", type=int, default=300,
                    help="PATCHes the naive copy really sends; the rest is extrapolated")
    ap.add_argument("--local-sizes", default="1000,10000,50000",
                    help="sizes for the latency-0 pass with tracemalloc ('' to skip)")
    ap.add_argument("--naive-repeat-max", type=int, default=10_000,
                    help="above this N the naive b/c/d full reads are counted from a, not rerun")
    ap.add_argument("--out", type=Path, default=VAR / "results.json")
    ap.add_argument("--copy-only", action="store_true",
                    help="only the list copy: a, d0, c, d (ours) and a capped first fill")
    ap.add_argument("--fill-ru", type=int, default=4000,
                    help="--copy-only: write_ru_per_run of the first-fill run (0: skip it)")
    args = ap.parse_args(argv)
    VAR.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    started = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {msg}", file=sys.stderr, flush=True)

    if args.copy_only:
        copies = [bench_copy(n, args.latency_ms, args.fill_ru, log) for n in sizes]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"machine": machine(), "copy": copies}, indent=1),
                            encoding="utf-8")
        print(copy_table(copies))
        return 0

    results = [bench_size(n, args.latency_ms, args.naive_write_cap, args.naive_repeat_max, log)
               for n in sizes]
    local = [bench_local(n, args.naive_repeat_max, log)
             for n in sizes if str(n) in args.local_sizes.split(",")]
    report = {
        "command": " ".join(["python -m bench.sync_bench", *(argv or sys.argv[1:])]),
        "machine": machine(), "latency_ms": args.latency_ms, "page_size": PAGE,
        "naive_write_cap": args.naive_write_cap, "naive_repeat_max": args.naive_repeat_max,
        "results": results, "local": local,
        "seconds": round(time.perf_counter() - started, 1),
    }  # fmt: skip
    text = table(results, local)  # also adds each full sync's bound to its row
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(text)
    print(f"\n{report['machine']}; total {report['seconds']} s; JSON: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
