"""One measured step in a fresh process: ``python -m bench.measure '<json spec>'``.

A fresh process per step makes the peak-RSS figure belong to that step alone. The
measured window starts after imports and the token (and, for our engine's repeat runs,
after site/list ids are resolved — a daemon keeps them — except ``qf``, a quiet run in a
fresh process as cron starts it, which finds them in the state store); it covers the
sync only.
Prints one JSON line: wall and CPU seconds, peak memory (the kernel's RSS high-water mark,
reset at the start of the window; optionally tracemalloc), the emulator's request log cost.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bench import naive
from bench.emu import graph_config, graph_cost
from bench.seed import COPY_JOB, SITE_URL, SOURCE_TITLE, TARGET_TITLE, mapping

Step = Callable[[], dict[str, Any]]
QUIET_LISTS = ("users", "bench_source", "bench_target")  # every list of the bench mapping
FILL_JOB = "bench-fill"  # step "fill": a first fill (initial load) in a scope of its own


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _reset_peak_rss() -> None:
    """Reset the kernel's high-water mark (VmHWM) so the peak belongs to the step alone."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:  # not Linux / not allowed: the peak then covers the set-up too
        pass


def _peak_rss_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _Control:
    """The emulator's request log, reached over HTTPS like any client would."""

    def __init__(self, info: dict[str, Any]) -> None:
        import requests

        self.base = info["graph_url"].rsplit("/v1.0", 1)[0] + "/_emulator/requests"
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.verify = info["ca_bundle"]

    def clear(self) -> None:
        self.http.delete(self.base, timeout=60).raise_for_status()

    def log(self) -> list[dict[str, Any]]:
        r = self.http.get(self.base, timeout=60)
        r.raise_for_status()
        value: list[dict[str, Any]] = r.json()["value"]
        return value


def _ours(spec: dict[str, Any]) -> tuple[Step, Callable[[], None]]:
    from sp_sync.adapters.graph.client import GraphConnection
    from sp_sync.adapters.graph.source import GraphLists
    from sp_sync.adapters.store import open_store
    from sp_sync.engine.pull import pull_list
    from sp_sync.engine.schema import SchemaGuard, pull_checked
    from sp_sync.ports import ListRef

    conn = GraphConnection(graph_config(spec["info"]))
    store = open_store(spec["store_url"])
    # As `sp-sync run-job` / the daemon wire it: ids are kept in the state store.
    lists = GraphLists(conn, SITE_URL, store)
    lm = mapping()
    refs = {s.key: ListRef(SITE_URL, s.title) for s in lm.lists}
    conn.tokens.token()
    step = spec["step"]
    if step in ("d", "d0", "fill", "converge"):
        # The job's modules loaded before the window (as in the daemon): the window holds
        # the run, not the imports (~20 MB of RSS).
        import sp_sync.engine.pipeline
        import sp_sync.kinds.sync  # noqa: F401
    guard = SchemaGuard()
    if step not in ("a", "qf"):
        # A long-running daemon has the ids in memory and checked the columns today;
        # the first sync pays for the ids, a fresh process (qf) finds them in the store.
        for key, ref in refs.items():
            lists.list_id(ref)
            if step == "qd":
                guard.problems(lists, lm.get(key), ref, datetime.now(UTC))

    def pull(key: str) -> dict[str, Any]:
        r = pull_list(lists, store, lm.get(key), refs[key], datetime.now(UTC))
        return r.as_dict()

    def checked(key: str) -> dict[str, Any]:
        """A pull as the job runner does it: the columns checked first when due."""
        r, problems = pull_checked(lists, store, lm.get(key), refs[key], datetime.now(UTC),
                                   guard=guard)
        assert not problems, problems
        return r.as_dict()

    def run() -> dict[str, Any]:
        if step in ("a", "b", "c"):
            return {"source": pull("bench_source")}
        if step == "setup":  # people and the target's current state, before any sync job
            out = {k: checked(k) for k in ("users", "bench_target")}
            guard.problems(lists, lm.get("bench_source"), refs["bench_source"],
                           datetime.now(UTC), kept=store)  # today's verdict, kept
            return out
        if step in ("qf", "qd"):  # quiet run of every list: fresh process / daemon
            return {k: checked(k) for k in QUIET_LISTS}
        if step in ("d", "d0", "converge"):
            return _sync_job(lists, store, lm, refs)
        if step == "fill":  # initial load into a scope the target does not hold yet
            return _sync_job(lists, store, lm, refs, job=FILL_JOB,
                             write_ru_per_run=spec.get("write_ru_per_run"))
        raise ValueError(f"unknown step {step!r}")

    def close() -> None:
        store.close()
        conn.close()

    return run, close


def _sync_job(lists: Any, store: Any, lm: Any, refs: Any, job: str = COPY_JOB,
              write_ru_per_run: int | None = None) -> dict[str, Any]:
    """The list-to-list job: it pulls people, source and target itself, plans, writes.
    ``job``: its scope (``copy:<job>:``); another one than the seed's copy is a first fill."""
    from zoneinfo import ZoneInfo

    from sp_sync.clock import SystemClock
    from sp_sync.engine.context import RunContext, Services
    from sp_sync.engine.pipeline import write
    from sp_sync.kinds.sync import SyncParams, copy_producer

    cols = {c.key: c.key for c in lm.get("bench_source").columns}
    limit = {"write_ru_per_run": write_ru_per_run} if write_ru_per_run else {}
    params = SyncParams(source="bench_source", target="bench_target", columns=cols, **limit)
    svc = Services(mapping=lm, store=store, source=lists, writer=lists, clock=SystemClock(),
                   tz=ZoneInfo("Europe/Berlin"), site_url=SITE_URL, stats=lists.stats)
    ctx = RunContext(job, svc, datetime.now(UTC), store)
    [result] = write(ctx, [copy_producer(ctx, ctx.job, params)])
    p = result.plan
    return {"pulls": {k: r.as_dict() for k, r in ctx.pulls.items()},
            "plan": {"creates": p.creates, "updates": p.updates, "deletes": p.deletes,
                     "unchanged": p.unchanged},
            "written": result.writes, "deferred": getattr(result, "deferred", 0),
            "progress": getattr(result, "progress", None)}


def _naive(spec: dict[str, Any]) -> tuple[Step, Callable[[], None]]:
    client = naive.connect(spec["info"])
    client.pending_request()  # build the request pipeline before measuring
    client._token_callback()  # type: ignore[misc]  # msal caches it: warm, as in a daemon
    page, step = int(spec["page_size"]), spec["step"]

    def run() -> dict[str, Any]:
        if step in ("a", "b", "c"):
            return {"items_read": len(naive.read_all(client, SITE_URL, SOURCE_TITLE, page))}
        if step == "d":
            return naive.copy_all(client, SITE_URL, SOURCE_TITLE, TARGET_TITLE, page,
                                  spec.get("write_cap"), bool(spec.get("first_page_only")))
        raise ValueError(f"unknown step {step!r}")

    return run, lambda: None


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    control = _Control(spec["info"])
    run, close = (_ours if spec["system"] == "ours" else _naive)(spec)
    use_tm = bool(spec.get("tracemalloc"))
    control.clear()
    _reset_peak_rss()
    rss0 = _rss_mb()
    if use_tm:
        tracemalloc.start()
    cpu0, t0 = time.process_time(), time.perf_counter()
    detail = run()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    tm_peak = tracemalloc.get_traced_memory()[1] / 2**20 if use_tm else None
    if use_tm:
        tracemalloc.stop()
    peak = _peak_rss_mb()
    cost = graph_cost(control.log())
    close()
    return {
        "system": spec["system"], "step": spec["step"], "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "peak_rss_delta_mb": round(max(0.0, peak - rss0), 1),  # peak above the step's start
        "peak_rss_mb": round(peak, 1),
        "tracemalloc_peak_mb": None if tm_peak is None else round(tm_peak, 1),
        **cost, "detail": detail,
    }  # fmt: skip


if __name__ == "__main__":
    print(json.dumps(measure(json.loads(sys.argv[1]))), flush=True)
