"""Validation benchmark (issue 10): the DTC rule set over 50,000 items, and findings writes.

    .venv/bin/python -m bench.validate_bench [--items 50000] [--findings 5000]
                                             [--out var/bench/validate.json]

Part 1 — evaluation (in-process, memory store, no network): the mirror holds ``--items``
items spread over the DTC lists like a large city would (a third projects, registrations,
action items …, with data problems in about one item in twelve). Measured: CPU seconds
and tracemalloc peak of the ``validate`` kind's evaluation (records, value problems,
every rule of ``jobs/dtc-validate.toml``, the Befunde rows) for a full evaluation, and
for the next run the same day after 1 % of the items changed (incremental).

Part 2 — writes (the local emulator over HTTPS, the real Graph adapter): ``--findings``
projects in Planung without a DTC lead; the validate job writes one Befunde row each, in
``$batch`` calls of 20; the re-run writes nothing. Counted from the emulator's request log.

Results: a short table on stdout, everything as JSON in ``--out`` (never committed).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import time
import tomllib
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sp_sync.adapters.store.memory import MemoryStore
from sp_sync.clock import FixedClock
from sp_sync.config.mapping import load_mapping
from sp_sync.domain.findings import desired_fields
from sp_sync.domain.model import ListMapping, MirrorItem
from sp_sync.domain.normalize import content_hash, date_to_wire
from sp_sync.domain.rules import parse_rules
from sp_sync.domain.write_shape import wire_writer
from sp_sync.engine.context import RunContext, Services
from sp_sync.kinds.validate import (
    BASELINE,
    Evaluation,
    ValidateParams,
    evaluation,
    rules_hash,
)
from sp_sync.ports import RequestStats

REPO = Path(__file__).resolve().parents[1]
TZ = ZoneInfo("Europe/Berlin")
TODAY = date(2026, 11, 30)
NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
SHARES = {  # share of the items per list
    "projects": 0.20, "registrations": 0.40, "topics": 0.15, "attendance": 0.15,
    "trainings": 0.04, "round_tables": 0.02, "trend_radar": 0.03, "departments": 0.01,
}
USERS = 200


def _wire_date(d: date) -> str:
    return date_to_wire(d, TZ)


def _fields(key: str, i: int, rnd: random.Random, n: dict[str, int]) -> dict[str, Any]:
    """Raw Graph fields of item ``i`` of list ``key`` (one in ~12 has a problem)."""
    bad = rnd.random() < 1 / 12
    person = str(1 + rnd.randrange(USERS))
    day = TODAY + timedelta(days=rnd.randint(-400, 200))
    if key == "departments":
        return {"Title": f"FB {i}", "K_x00fc_rzel": f"FB {i}", "Aktiv": True,
                "IT_x002d_KoordinationLookupId": None if bad else person,
                "VertretungLookupId": person}
    if key == "projects":
        status = rnd.choice(["Idee", "Planung", "Umsetzung", "Abgeschlossen", "Pausiert"])
        return {"Title": f"Projekt {i}", "Projektnummer": f"DTC-2026-{i % 9000:03d}",
                "Status": status, "Ampel": rnd.choice(["Grün", "Gelb", "Rot"]),
                "DTC_x002d_LeitungLookupId": None if bad else person,
                "AnsprechpersonLookupId": person,
                "FachbereichLookupId": str(1 + rnd.randrange(n["departments"])),
                "Start": _wire_date(day), "Geplantes_x0020_Ende": _wire_date(
                    day + timedelta(days=-10 if bad else 300)),
                "Meilenstein_x002d_Datum": "bald" if bad else _wire_date(
                    day + timedelta(days=100)),
                "Statusbericht": None if bad else f"Bericht {i}"}
    if key == "trainings":
        return {"Title": f"Schulung {i}", "Beginn": _wire_date(day),
                "Max_x002e__x0020_Teilnehmende": 10 + rnd.randrange(10),
                "Status": rnd.choice(["Geplant", "Geplant", "Abgesagt", "Durchgeführt"]),
                "Trainer_x002f_inLookupId": person}
    if key == "registrations":
        return {"Title": f"Anmeldung {i}",
                "SchulungLookupId": str(1 + rnd.randrange(n["trainings"])),
                "Teilnehmer_x002f_inLookupId": person,
                "Status": rnd.choice(["Angemeldet", "Angemeldet", "Warteliste", "Storniert"])}
    if key == "round_tables":
        return {"Title": f"Runder Tisch {i}", "Termin": _wire_date(day),
                "Status": rnd.choice(["Geplant", "Durchgeführt"]), "ModerationLookupId": person,
                "Protokoll": None if bad else "Protokoll"}
    if key == "topics":
        return {"Title": f"Aufgabe {i}", "Art": rnd.choice(["Thema", "Aufgabe"]),
                "RunderTischLookupId": str(1 + rnd.randrange(n["round_tables"])),
                "VerantwortlichLookupId": None if bad else person,
                "F_x00e4_llig_x0020_am": _wire_date(day),
                "Status": rnd.choice(["Offen", "Erledigt"])}
    if key == "attendance":
        return {"Title": f"Teilnahme {i}",
                "RunderTischLookupId": str(1 + rnd.randrange(n["round_tables"])),
                "PersonLookupId": person, "Anwesend": True}
    return {"Title": f"Trend {i}", "Status": rnd.choice(["Neu", "Bewertet"]),
            "Quelle": {"Url": "javascript:x" if bad else f"https://x.de/{i}"}}


def fill(store: MemoryStore, mapping: ListMapping, items: int, seed: int = 7) -> dict[str, int]:
    rnd = random.Random(seed)
    n = {k: max(1, int(items * share)) for k, share in SHARES.items()}
    created = _wire_date(TODAY - timedelta(days=60))
    with store.list_sync("users") as tx:
        tx.upsert([MirrorItem("users", str(u), None,
                              {"Title": f"Person {u}", "EMail": f"p{u}@mannheim.de"},
                              f"u{u}") for u in range(1, USERS + 1)])
    for key, count in n.items():
        spec = mapping.get(key)
        batch = []
        for i in range(1, count + 1):
            fields = {**_fields(key, i, rnd, n), "Created": created}
            batch.append(MirrorItem(key, str(i), f'"{i},1"', fields, content_hash(spec, fields),
                                    web_url=f"https://x/{spec.title}/DispForm.aspx?ID={i}"))
        with store.list_sync(key) as tx:
            tx.upsert(batch)
    return n


def change(store: MemoryStore, mapping: ListMapping, share: float, seed: int = 8) -> int:
    """A person edits ``share`` of every list's items (status or a text column)."""
    rnd = random.Random(seed)
    changed = 0
    for key in SHARES:
        spec = mapping.get(key)
        items = list(store.items(key))
        edits = []
        for item in rnd.sample(items, max(1, int(len(items) * share))):
            fields = {**item.fields, "Title": f"{item.fields.get('Title')} (geändert)"}
            edits.append(MirrorItem(key, item.id, f'"{item.id},2"', fields,
                                    content_hash(spec, fields), web_url=item.web_url))
        with store.list_sync(key) as tx:
            tx.upsert(edits)
        changed += len(edits)
    return changed


def mirror_findings(store: MemoryStore, mapping: ListMapping, ev: Evaluation) -> None:
    """The Befunde rows the full evaluation would write, as the next pull mirrors them."""
    target = mapping.get("findings")
    writers = [(c.key, c.field_name, wire_writer(c, TZ)) for c in target.columns]
    rows = []
    for n, (key, finding) in enumerate(ev.findings.items(), start=1):
        values = desired_fields(finding, None, TODAY, finding.list_key)
        fields = {name: write(values.get(k)) for k, name, write in writers
                  if k in values and values.get(k) is not None}
        fields["SyncKey"] = key
        rows.append(MirrorItem("findings", str(n), f'"{n},1"', fields,
                               content_hash(target, fields)))
    with store.list_sync("findings") as tx:
        tx.upsert(rows)


class _Nothing:
    """Source/writer stand-in: the evaluation never calls them."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"evaluation must not use {name}")


def _ctx(store: MemoryStore, mapping: ListMapping) -> RunContext:
    svc = Services(mapping=mapping, store=store, source=_Nothing(),  # type: ignore[arg-type]
                   writer=_Nothing(), clock=FixedClock(NOW), tz=TZ,  # type: ignore[arg-type]
                   site_url="https://x", stats=RequestStats())
    return RunContext(job="dtc-validate", services=svc, now=NOW, store=store)


def _measure(fn: Any) -> tuple[Any, float, float]:
    """CPU seconds of one call, then the tracemalloc peak of a second call (tracing slows
    Python down several-fold, so it is kept out of the CPU figure)."""
    cpu = time.process_time()
    out = fn()
    cpu = time.process_time() - cpu
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return out, cpu, peak


def evaluation_bench(items: int) -> dict[str, Any]:
    mapping = load_mapping(REPO / "config" / "lists.toml")
    raw = tomllib.loads((REPO / "jobs" / "dtc-validate.toml").read_text(encoding="utf-8"))
    params = ValidateParams(**raw["params"])
    rules, errors = parse_rules(params.rules, mapping)
    assert not errors
    store = MemoryStore()
    counts = fill(store, mapping, items)
    full, full_cpu, full_peak = _measure(lambda: evaluation(_ctx(store, mapping), params, rules))
    mirror_findings(store, mapping, full)
    store.ledger_put("dtc-validate", BASELINE, "evaluated", NOW,
                     {"day": TODAY.isoformat(), "rules": rules_hash(params.rules),
                      "hashes": full.hashes})
    edited = change(store, mapping, 0.01)
    inc, inc_cpu, inc_peak = _measure(lambda: evaluation(_ctx(store, mapping), params, rules))
    assert full.full and not inc.full
    return {
        "items": sum(counts.values()), "per_list": counts, "rules": len(rules),
        "full": {"cpu_s": round(full_cpu, 2), "peak_mb": round(full_peak, 1),
                 "findings": len(full.findings)},
        "one_percent": {"changed": edited, "cpu_s": round(inc_cpu, 2),
                        "peak_mb": round(inc_peak, 1), "re_evaluated": len(inc.findings),
                        "kept": len(inc.kept)},
    }


def writes_bench(findings: int, base: Path) -> dict[str, Any]:
    """``findings`` Befunde rows through the real pipeline on the emulator."""
    from sp_sync.app.wiring import load_config, provision_targets, services
    from sp_sync.config.jobs import JobSpec
    from sp_sync.config.settings import load_settings
    from sp_sync.emulator import Emulator
    from sp_sync.emulator.seeds.demo import demo_seed
    from sp_sync.engine.runner import run_job

    shutil.rmtree(base, ignore_errors=True)  # a fresh tenant and state store every time
    base.mkdir(parents=True, exist_ok=True)
    clock = FixedClock(NOW)
    with Emulator(seed=demo_seed(TODAY), state_dir=base / "emulator") as emu:
        emu.bulk_create("Projekte", [{"Title": f"Projekt ohne Leitung {i}", "Status": "Planung"}
                                     for i in range(findings)])
        overrides = {k.removeprefix("SP_SYNC_").lower(): v for k, v in emu.info.env.items()}
        overrides.update(state_url=f"sqlite:///{base / 'state.db'}", outbox_dir=base / "out",
                         lists_file=REPO / "config" / "lists.toml", jobs_dir=REPO / "jobs")
        config = load_config(load_settings(**overrides))
        rule = {"id": "project-lead-missing", "list": "projects", "severity": "error",
                "check": "required", "column": "lead", "when": {"status": ["Planung"]},
                "message": "Projekt {title} hat keine DTC-Leitung."}
        job = JobSpec("bench-validate", "validate", "every 15m",
                      ValidateParams(rules=[rule]))
        with services(config, clock=clock) as svc:
            provision_targets(svc, config.mapping)
            run_job(svc, config.job("dtc-sync"))
            emu.clear_requests()
            first = run_job(svc, job)
            log = emu.requests()
            batches = [r for r in log if r["path"].endswith("/$batch")]
            emu.clear_requests()
            again = run_job(svc, job)
            rewrites = [r for r in emu.requests() if r["method"] in ("POST", "PATCH", "DELETE")
                        and "/_emulator" not in r["path"]]
    return {"findings": first.stats.get("findings"), "written": first.stats.get("written"),
            "batch_calls": len(batches), "expected_batches": math.ceil(findings / 20),
            "rerun_written": again.stats.get("written"), "rerun_write_requests": len(rewrites),
            "status": [first.status, again.status]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=50_000)
    ap.add_argument("--findings", type=int, default=5_000)
    ap.add_argument("--out", type=Path, default=Path("var/bench/validate.json"))
    args = ap.parse_args()
    result = {"evaluation": evaluation_bench(args.items),
              "writes": writes_bench(args.findings, args.out.parent / "validate-emu")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    ev, wr = result["evaluation"], result["writes"]
    print(f"items {ev['items']} × {ev['rules']} rules")
    print(f"full evaluation: {ev['full']['cpu_s']} CPU s, peak {ev['full']['peak_mb']} MB, "
          f"{ev['full']['findings']} findings")
    print(f"1 % changed ({ev['one_percent']['changed']} items): "
          f"{ev['one_percent']['cpu_s']} CPU s, peak {ev['one_percent']['peak_mb']} MB")
    print(f"writes: {wr['written']} rows in {wr['batch_calls']} $batch calls "
          f"(⌈{args.findings}/20⌉ = {wr['expected_batches']}); re-run wrote "
          f"{wr['rerun_written']} ({wr['rerun_write_requests']} write requests)")


if __name__ == "__main__":
    main()
