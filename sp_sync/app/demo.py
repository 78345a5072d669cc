"""``sp-sync demo``: one whole DTC cycle on the embedded emulator.

Starts the local Microsoft 365 emulator (HTTPS on 127.0.0.1, generated CA) seeded with the
DTC demo tenant, points sp-sync at it exactly as an admin would point it at a tenant
(the emulator hands out the ``SP_SYNC_…`` settings), provisions the target lists, runs the
jobs once and prints what it did. The clock is set to this week's Monday 07:00
Europe/Berlin (the weekly digest's slot), so the digest is the one the DTC got this week.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

from sp_sync.app.wiring import Config, load_config, provision_targets, services
from sp_sync.clock import FixedClock
from sp_sync.config.settings import load_settings
from sp_sync.domain.model import ListMapping
from sp_sync.emulator import Emulator
from sp_sync.emulator.seeds.demo import demo_seed
from sp_sync.engine.context import Services
from sp_sync.engine.runner import RunOutcome, run_job

DEMO_DIR = Path("var/demo")
# The cycle: last week's state is synced, people edit their lists during the week, then
# Monday's run syncs again (history old → new, who, when) and sends what is due.
DEMO_JOBS = (
    "dtc-validate",  # findings into Befunde before the digests read them
    "public-projects",
    "weekly-digest",
    "lead-digests",
    "coordinator-digests",
    "reminders",
)
# The roll-up lists (Portfolio, Schulungsstatistik, Teilnahmequote) from the same mirror.
ROLLUP_JOBS = ("portfolio", "training-stats", "attendance-rate")


def demo_clock(today: date | None, tz: ZoneInfo) -> FixedClock:
    """Monday 07:00:30 local of the week containing ``today`` (default: this week)."""
    day = today or datetime.now(tz).date()
    monday = day - timedelta(days=day.weekday())
    return FixedClock(datetime(monday.year, monday.month, monday.day, 7, 0, 30, tzinfo=tz))


@dataclass
class DemoResult:
    """What one demo cycle did; the end-to-end test asserts on it."""

    outcomes: list[RunOutcome]
    mirrored: dict[str, int]  # list key → live items in the state store
    served: dict[str, int]  # list title → items in the emulator
    cursors: dict[str, str | None]
    requests: int
    mails: list[Any]
    digest_html: Path | None
    seconds: float
    base: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(o.status == "ok" for o in self.outcomes)


def run_demo(
    console: Console | None = None,
    *,
    base: Path = DEMO_DIR,
    keep: bool = False,
    today: date | None = None,
) -> DemoResult:
    started = time.perf_counter()
    console = console or Console(quiet=True)
    if base.exists() and not keep:
        shutil.rmtree(base)
    base.mkdir(parents=True, exist_ok=True)
    tz = ZoneInfo("Europe/Berlin")
    clock = demo_clock(today, tz)
    seed = demo_seed(clock.now().astimezone(tz).date())
    console.print("[bold]sp-sync demo[/] — starting the local Microsoft 365 emulator …")
    with Emulator(seed=seed, state_dir=base / "emulator") as emu:
        info = emu.info
        overrides: dict[str, Any] = {
            k.removeprefix("SP_SYNC_").lower(): v for k, v in info.env.items()
        }
        overrides.update(
            state_url=f"sqlite:///{base / 'state.db'}",
            outbox_dir=base / "outbox",
            mail_transport="graph",
            # The emulator has no Exchange sending limit; the 30/minute default would only
            # make the demo wait (the limiter itself is covered by tests).
            mail_per_minute=1000,
        )
        settings = load_settings(**overrides)
        config = load_config(settings)
        console.print(f"  emulator: {info.graph_url}  site: {info.site_url}")
        outcomes: list[RunOutcome] = []
        with services(config, clock=clock) as svc:
            provision_targets(svc, config.mapping)
            outcomes.append(run_job(svc, config.job("dtc-sync")))
            edits = people_edit_the_lists(emu, config.mapping, seed)
            outcomes.append(run_job(svc, config.job("dtc-sync")))
            for name in DEMO_JOBS:
                if name == "lead-digests":
                    # the personal digests are due at their own schedule's time (07:30)
                    clock.advance(timedelta(minutes=30))
                outcomes.append(run_job(svc, config.job(name)))
            for name in ROLLUP_JOBS:
                outcomes.append(run_job(svc, config.job(name)))
            cycle = round_table_cycle(svc, config, emu, clock)
            outcomes.extend(cycle.pop("outcomes"))
            # Last: the run history into SyncProtokoll, one row per run above (issue 13).
            run_log = run_job(svc, config.job("run-log"))
            outcomes.append(run_log)
            mirrored = {
                s.key: svc.store.count(s.key) for s in config.mapping.lists if s.role == "source"
            }
            cursors = {s.key: svc.store.cursor(s.key) for s in config.mapping.lists}
        served = {s.title: len(emu.items(s.title)) for s in config.mapping.lists}
        requests = len(emu.requests())
        mails = list(emu.mail())
    html = sorted((base / "outbox").glob("*.html"))
    weekly = [p for p in html if "wochen" in p.name.lower() or "weekly" in p.name.lower()]
    result = DemoResult(
        outcomes=outcomes,
        mirrored=mirrored,
        served=served,
        cursors=cursors,
        requests=requests,
        mails=mails,
        digest_html=(weekly or html)[0] if (weekly or html) else None,
        seconds=time.perf_counter() - started,
        base=base,
        extra={
            "edits": edits,
            "cycle": cycle,
            "source_titles": [s.title for s in config.mapping.lists if s.role == "source"],
            "run_log": run_log.stats.get("written", 0),
        },
    )
    _summary(console, result)
    return result


def people_edit_the_lists(emu: Emulator, mapping: ListMapping, seed: dict[str, Any]) -> int:
    """A week of edits by named people, through the mapping like everything else."""
    emails = {str(u["id"]): u["email"] for u in seed.get("users", [])}
    projects = mapping.get("projects")
    status, light, report = (projects.column(k).name for k in ("status", "traffic_light",
                                                                  "status_report"))
    lead = projects.column("lead").field_name
    milestone = projects.column("next_milestone").name
    items = emu.items(projects.title)
    edits = 0

    def by_lead(item: dict[str, Any]) -> str | None:
        return emails.get(str(item["fields"].get(lead)))

    for item in [i for i in items if i["fields"].get(status) == "Planung"][:2]:
        emu.edit(projects.title, item["id"], {status: "Umsetzung"}, by_lead(item))
        edits += 1
    for item in [i for i in items if i["fields"].get(light) == "Gelb"][:1]:
        note = "Lieferverzug beim Dienstleister; Eskalation im Lenkungskreis."
        emu.edit(projects.title, item["id"], {light: "Rot", report: note}, by_lead(item))
        edits += 1
    for item in [i for i in items if i["fields"].get(status) == "Umsetzung"][2:3]:
        emu.edit(projects.title, item["id"], {milestone: "Abnahme durch den Fachbereich"},
                 by_lead(item))
        edits += 1
    radar = mapping.get("trend_radar")
    emu.create_item(radar.title, {
        radar.column("title").name: "Sprachassistenz für Bürgeranfragen",
        radar.column("status").name: "Neu",
        radar.column("category").name: "KI",
        radar.column("description").name: "Pilot einer anderen Großstadt; für das Bürgerbüro "
                                           "prüfen.",
    }, next(iter(emails.values()), None))
    return edits + 1


def round_table_cycle(svc: Services, config: Config, emu: Emulator,
                      clock: FixedClock) -> dict[str, Any]:
    """The round-table and training cycle (issue 12): the series ahead, an agenda with the
    open actions carried, attendance rows once the meeting has begun, and a promotion from
    the waiting list after a person cancels a registration."""
    mapping = config.mapping
    rt_spec = mapping.get("round_tables")
    date_f = rt_spec.column("date").field_name
    today = clock.now().astimezone(ZoneInfo("Europe/Berlin")).date()
    # The seed dates its meetings from today (the next one on Wednesday); anchor the series
    # on that rhythm so it continues the meetings people entered instead of falling between.
    job = config.job("round-tables")
    job = replace(job, params=job.params.model_copy(update={"first": today + timedelta(days=2)}))
    outcomes = [run_job(svc, job)]
    regs = mapping.get("registrations")
    status, training = regs.column("status").field_name, regs.column("training").field_name
    taken = [i for i in emu.items(regs.title) if i["fields"].get(status) == "Angemeldet"
             and str(i["fields"].get(training)) == "5"]  # a full training with a waiting list
    promoted_before = {i["id"] for i in emu.items(regs.title)
                       if i["fields"].get(status) == "Angemeldet"}
    if taken:
        emu.edit(regs.title, taken[0]["id"], {status: "Storniert"}, None)
    outcomes.append(run_job(svc, config.job("trainings")))
    clock.advance(timedelta(days=2, hours=5))  # Wednesday noon: the meeting has begun
    outcomes.append(run_job(svc, job))
    rows = {k: emu.items(mapping.get(k).title) for k in ("round_tables", "topics", "attendance")}
    prefix = f"series:{job.name}:"
    ahead = sorted(i["fields"][date_f][:10] for i in rows["round_tables"]
                   if str(i["fields"].get("SyncKey") or "").startswith(prefix))
    agenda = [i["fields"].get("Title") for i in rows["topics"]
              if str(i["fields"].get("SyncKey") or "").startswith(f"agenda:{job.name}:")]
    attendance = [i for i in rows["attendance"]
                  if str(i["fields"].get("SyncKey") or "").startswith(f"attendance:{job.name}:")]
    promoted = [i["fields"].get("Title") for i in emu.items(regs.title)
                if i["fields"].get(status) == "Angemeldet" and i["id"] not in promoted_before]
    return {"outcomes": outcomes, "series": ahead, "agenda": agenda,
            "attendance": len(attendance), "promoted": promoted}


def _summary(console: Console, r: DemoResult) -> None:
    table = Table("job", "status", "requests", "RU", "what happened")
    for o in r.outcomes:
        what = ", ".join(
            f"{k}={v}" for k, v in o.stats.items()
            if k not in ("requests", "resource_units", "retries", "throttled", "waited_seconds")
            and v and isinstance(v, int | float)
        )
        table.add_row(o.job, o.status, str(o.stats.get("requests", "")),
                      str(o.stats.get("resource_units", "")), what or (o.message or ""))
    console.print(table)
    console.print(
        f"lists mirrored: {len(r.mirrored)} with {sum(r.mirrored.values())} items "
        f"({', '.join(f'{k} {v}' for k, v in r.mirrored.items())})"
    )
    targets = {t: n for t, n in r.served.items() if t not in r.extra.get("source_titles", ())}
    console.print("rows written by sp-sync: " + ", ".join(f"{t} {n}" for t, n in targets.items()))
    console.print(
        f"edits by people during the week: {r.extra.get('edits', 0)} · requests served by the "
        f"emulator: {r.requests} · mails received: {len(r.mails)}"
    )
    cycle = r.extra.get("cycle") or {}
    if cycle:
        console.print(f"round tables: series meetings created {', '.join(cycle['series'])}; "
                      f"agenda items {len(cycle['agenda'])} (carried: "
                      f"{sum(1 for a in cycle['agenda'] if str(a).startswith('Offene'))}); "
                      f"attendance rows {cycle['attendance']}; moved up from the waiting "
                      f"list: {', '.join(map(str, cycle['promoted'])) or 'nobody'}")
    if r.extra.get("run_log"):
        console.print(f"run history: {r.extra['run_log']} runs listed in SyncProtokoll "
                      "(sp-sync runs show them too)")
    console.print(f"rendered digest: [bold]{r.digest_html or '(none)'}[/]")
    console.print(f"outbox: {r.base / 'outbox'}  state: {r.base / 'state.db'}")
    console.print(f"done in {r.seconds:.1f} s")
