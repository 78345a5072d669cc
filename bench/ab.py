"""Before/after on the same machine: a first full sync by an older revision and by this tree.

    .venv/bin/python -m bench.ab --old REV [--n 50000] [--latency-ms 30] [--reps 4]

Checks REV out into a temporary git worktree and measures step a of the sync benchmark
(``bench.measure``: a first full sync into an empty SQLite store, in a fresh process) with
the old code and with this tree, alternating, against one emulator of this tree that is
warmed up by a first, unreported read. Alternating matters on a VM whose speed drifts
between runs minutes apart. Prints the median and the range of each figure; nothing is
kept. REV must already have ``bench.measure`` (issue 4 or later).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.emu import EmulatorProcess
from bench.floor import seeded

HERE = Path(__file__).resolve().parent.parent
VAR = Path("var/bench")


def measure(tree: Path, info: dict[str, Any], store: Path) -> dict[str, Any]:
    """Step a by the code in ``tree`` (its own interpreter path), in a fresh process."""
    store.unlink(missing_ok=True)
    spec = {"info": info, "system": "ours", "step": "a", "store_url": f"sqlite:///{store}"}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.measure", json.dumps(spec)], cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True,
        timeout=1800, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"step a in {tree} failed:\n{proc.stderr[-4000:]}")
    row: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return row


def summary(rows: list[dict[str, Any]], n: int, latency_ms: int) -> str:
    def mid(values: list[float], fmt: str = ".2f") -> str:
        return f"{statistics.median(values):{fmt}} [{min(values):{fmt}}–{max(values):{fmt}}]"

    cpu = [r["cpu_s"] for r in rows]
    wall = [r["wall_s"] for r in rows]
    server = [r["server_cpu_s"] + r["requests"] * latency_ms / 1000 for r in rows]
    ratio = [w / max(s, c) for w, s, c in zip(wall, server, cpu, strict=True)]
    return (f"{mid(cpu)} | {n / statistics.median(cpu):,.0f} | {mid(wall)} | "
            f"{statistics.median(server):.2f} | {mid(ratio)}× | "
            f"{statistics.median(r['peak_rss_delta_mb'] for r in rows):.1f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--old", required=True, help="the revision to compare with (git rev)")
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--latency-ms", type=int, default=30)
    ap.add_argument("--reps", type=int, default=4)
    args = ap.parse_args(argv)
    rows: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
    with tempfile.TemporaryDirectory(prefix="sp-sync-ab-") as tmp:
        old = Path(tmp) / "old"
        subprocess.run(["git", "-C", str(HERE), "worktree", "add", "--detach", "-q", str(old),
                        args.old], check=True)  # fmt: skip
        try:
            trees = {"old": old, "new": HERE}
            with EmulatorProcess(seeded(args.n), args.latency_ms, VAR / "emulator") as emu:
                measure(HERE, emu.info, Path(tmp) / "warm.db")  # the emulator's first read
                for i in range(2 * args.reps):
                    name = ("old", "new")[i % 2]
                    before = emu.cpu_s()
                    row = measure(trees[name], emu.info, Path(tmp) / f"{name}.db")
                    row["server_cpu_s"] = emu.cpu_s() - before
                    rows[name].append(row)
        finally:
            subprocess.run(["git", "-C", str(HERE), "worktree", "remove", "--force", str(old)],
                           check=False)  # fmt: skip
    print(f"first full sync of {args.n:,} items, {args.latency_ms} ms per request, "
          f"{args.reps} runs each, alternating; median [range]\n")
    print("| code | client CPU s | items / CPU s | wall s | server s | wall ÷ max(server, CPU) "
          "| RSS Δ MB |\n|---|---|---|---|---|---|---|")
    for name, label in (("old", args.old), ("new", "this tree")):
        print(f"| {label} | {summary(rows[name], args.n, args.latency_ms)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
