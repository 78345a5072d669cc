"""Roll-up benchmark (issue 11): Schulungsstatistik over many registrations.

    .venv/bin/python -m bench.rollup_bench [--trainings 2000] [--registrations 50000]
                                           [--change 0.01] [--out var/bench/rollup.json]

The real ``training-stats`` job (jobs/training-stats.toml) against an in-process emulator
seeded with N trainings (6 categories over 18 months) and M registrations, sp-sync wired
exactly as an admin would (Graph adapter over HTTPS, SQLite store under var/bench/):

  compute   the roll-up alone: records from the mirror → group rows (CPU s, tracemalloc
            peak), after the lists are pulled
  first     the job's first run: pull both lists, compute, create every group row
  again     the job with nothing changed: pull (empty delta), compute, no write
  changed   a person changed the status of ``--change`` of the registrations; the job
            pulls the delta and rewrites only the groups whose numbers changed

CPU is the main thread's (the emulator's server threads are not counted). The affected
groups are counted independently of the engine (every (category, month) and category of
a training with a changed registration); "changed groups" are those among them whose
numbers really moved (two changes in one group can cancel out). Nothing is asserted
about timings; tests/bench/test_rollup_bench.py runs it small.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import time
import tracemalloc
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sp_sync.app.wiring import load_config, provision_targets, services
from sp_sync.clock import FixedClock
from sp_sync.config.mapping import load_mapping
from sp_sync.config.settings import load_settings
from sp_sync.domain.provisioning import column_definitions
from sp_sync.domain.rollup import compute
from sp_sync.emulator import Emulator
from sp_sync.emulator.seeds.demo import HOSTNAME, MAILBOX, SITE_PATH
from sp_sync.engine.context import RunContext
from sp_sync.engine.runner import run_job
from sp_sync.kinds.rollup import RollupParams, compile_params, load_inputs

REPO = Path(__file__).resolve().parents[1]
VAR = Path("var/bench/rollup")
TZ = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 30, 7, 0, tzinfo=TZ)
JOB = "training-stats"
STATUSES = ("Angemeldet", "Warteliste", "Teilgenommen", "Nicht erschienen", "Storniert")
USERS = [{"id": 7, "name": "Anna Becker", "email": "anna.becker@mannheim.de"}]


def make_seed(trainings: int, registrations: int, rng: random.Random) -> dict[str, Any]:
    mapping = load_mapping(REPO / "config" / "lists.toml")
    tr, reg = mapping.get("trainings"), mapping.get("registrations")
    cats = tr.column("category").choices
    f = {k: tr.column(k).field_name for k in ("topic", "category", "start", "status",
                                               "max_participants")}
    items: dict[str, list[dict[str, Any]]] = {"trainings": [], "registrations": []}
    for i in range(1, trainings + 1):
        start = NOW + timedelta(days=rng.randint(-360, 170), hours=rng.randint(0, 8))
        items["trainings"].append({"id": str(i), "fields": {
            f["topic"]: f"Schulung {i}", f["category"]: cats[i % len(cats)],
            f["start"]: start.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ"),
            f["status"]: "Durchgeführt" if start < NOW else "Geplant",
            f["max_participants"]: float(rng.randint(8, 40)),
        }})
    g = {k: reg.column(k).field_name for k in ("title", "training", "status")}
    for j in range(1, registrations + 1):
        items["registrations"].append({"id": str(j), "fields": {
            g["title"]: f"Anmeldung {j}", g["training"]: str(rng.randint(1, trainings)),
            g["status"]: rng.choice(STATUSES),
        }})
    lists = [{"displayName": s.title, "hidden": False,
              "columns": column_definitions(s, mapping), "items": items.get(s.key, [])}
             for s in mapping.lists if s.key != "users" and s.site_url is None]
    return {"hostname": HOSTNAME, "sites": [{"path": SITE_PATH, "displayName": "DTC",
                                              "lists": lists}],
            "users": USERS, "mailboxes": [MAILBOX]}


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.thread_time()
    out = fn()
    return out, time.thread_time() - cpu, time.perf_counter() - wall


def run(trainings: int, registrations: int, change: float, base: Path,
        seed: int = 11, log: Callable[[str], None] = print) -> dict[str, Any]:
    rng = random.Random(seed)
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    out: dict[str, Any] = {"trainings": trainings, "registrations": registrations}
    with Emulator(seed=make_seed(trainings, registrations, rng),
                  state_dir=base / "emulator") as emu:
        overrides: dict[str, Any] = {k.removeprefix("SP_SYNC_").lower(): v
                                     for k, v in emu.info.env.items()}
        overrides.update(state_url=f"sqlite:///{base / 'state.db'}", outbox_dir=base / "out",
                         lists_file=REPO / "config" / "lists.toml", jobs_dir=REPO / "jobs")
        config = load_config(load_settings(**overrides))
        job = config.job(JOB)
        with services(config, clock=FixedClock(NOW)) as svc:
            provision_targets(svc, config.mapping)
            log("first run (pull, compute, create) …")
            first, cpu, wall = _timed(lambda: run_job(svc, job))
            out["first"] = {"cpu_s": cpu, "wall_s": wall, **_figures(first)}

            params = job.params_as(RollupParams)
            spec = compile_params(params, config.mapping)
            ctx = RunContext(job=JOB, services=svc, now=NOW, store=svc.store)
            records, load_cpu, _ = _timed(lambda: load_inputs(ctx, spec))
            rows, comp_cpu, _ = _timed(lambda: compute(spec, records, NOW.date(), TZ))
            records = {}
            # Memory in a second pass: tracemalloc slows allocation-heavy code several fold.
            tracemalloc.start()
            compute(spec, load_inputs(ctx, spec), NOW.date(), TZ)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            out["compute"] = {"load_cpu_s": load_cpu, "compute_cpu_s": comp_cpu,
                              "tracemalloc_peak_mb": peak / 2**20, "groups": len(rows)}
            before = {r.key: r.values for r in rows}

            log("again (nothing changed) …")
            again, cpu, wall = _timed(lambda: run_job(svc, job))
            out["again"] = {"cpu_s": cpu, "wall_s": wall, **_figures(again)}

            # A person changes the status of `change` of the registrations.
            reg = config.mapping.get("registrations")
            status_f = reg.column("status").name
            training_f = reg.column("training").field_name
            regs = emu.items(reg.title)
            trs = {t["id"]: t["fields"] for t in emu.items(config.mapping.get("trainings")
                                                            .title)}
            picked = rng.sample(regs, max(1, round(change * len(regs))))
            affected: set[str] = set()
            cat_f = config.mapping.get("trainings").column("category").name
            start_f = config.mapping.get("trainings").column("start").name
            for item in picked:
                old = item["fields"].get(status_f)
                new = rng.choice([s for s in STATUSES if s != old])
                emu.edit(reg.title, item["id"], {status_f: new}, USERS[0]["email"])
                t = trs.get(str(item["fields"].get(training_f)))
                if t is not None:  # every training is inside the job's window and filter
                    start = datetime.fromisoformat(t[start_f].replace("Z", "+00:00"))
                    affected.add(f"Monat:{t[cat_f]}|{start.astimezone(TZ):%Y-%m}")
                    affected.add(f"Kategorie:{t[cat_f]}")
            log(f"changed {len(picked)} registrations; job again …")
            changed, cpu, wall = _timed(lambda: run_job(svc, job))
            out["changed"] = {"cpu_s": cpu, "wall_s": wall, **_figures(changed),
                              "edited": len(picked), "affected_groups": len(affected)}
            after = {r.key: r.values for r in compute(spec, load_inputs(ctx, spec),
                                                      NOW.date(), TZ)}
            moved = {k for k in after if after[k] != before.get(k)}
            out["changed"]["moved_groups"] = len(moved)
            out["changed"]["moved_outside_affected"] = len(moved - affected)
    return out


def _figures(o: Any) -> dict[str, Any]:
    s = o.stats
    return {"status": o.status, "requests": s.get("requests"), "written": s.get("written", 0),
            "creates": s.get("planned_creates", 0), "updates": s.get("planned_updates", 0),
            "deletes": s.get("planned_deletes", 0)}


def table(r: dict[str, Any]) -> str:
    c = r["compute"]
    lines = [
        f"Roll-up benchmark: {r['trainings']:,} trainings, {r['registrations']:,} "
        f"registrations, {c['groups']} groups",
        "",
        "| step | CPU s (main thread) | wall s | requests | written |",
        "|---|---|---|---|---|",
    ]
    for step in ("first", "again", "changed"):
        x = r[step]
        lines.append(f"| {step} | {x['cpu_s']:.2f} | {x['wall_s']:.2f} | {x['requests']} "
                     f"| {x['written']} |")
    ch = r["changed"]
    lines += [
        "",
        f"compute alone: load {c['load_cpu_s']:.2f} CPU s + compute {c['compute_cpu_s']:.2f} "
        f"CPU s, tracemalloc peak {c['tracemalloc_peak_mb']:.0f} MB",
        f"after {ch['edited']} registrations changed: {ch['affected_groups']} groups affected "
        f"(independent count), {ch['moved_groups']} of them with new numbers "
        f"({ch['moved_outside_affected']} outside), {ch['written']} rows written",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trainings", type=int, default=2000)
    ap.add_argument("--registrations", type=int, default=50_000)
    ap.add_argument("--change", type=float, default=0.01)
    ap.add_argument("--out", type=Path, default=VAR / "rollup.json")
    a = ap.parse_args()
    result = run(a.trainings, a.registrations, a.change, VAR / "run")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(table(result))


if __name__ == "__main__":
    main()
