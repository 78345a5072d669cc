"""The command line: ``sp-sync …``. The edge of the system: reads files, builds adapters,
prints results. Exit codes: 0 ok, 1 a job failed, 2 bad configuration, 3 Entra ID refused
us, 4 a job ended partial (it resumes on its next run)."""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from sp_sync import __version__
from sp_sync.errors import AuthError, ConfigError, SpSyncError

EXIT_FAILED, EXIT_CONFIG, EXIT_AUTH, EXIT_PARTIAL = 1, 2, 3, 4

app = typer.Typer(
    help="sp-sync: sync, digests and reminders behind the DTC's SharePoint lists.",
    no_args_is_help=True,
    add_completion=False,
)
digest_app = typer.Typer(help="Digest e-mails.", no_args_is_help=True)
emulator_app = typer.Typer(help="The local Microsoft 365 emulator.", no_args_is_help=True)
app.add_typer(digest_app, name="digest")
app.add_typer(emulator_app, name="emulator")

console = Console()
err = Console(stderr=True)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False, rich_tracebacks=False)],
        force=True,
    )
    for noisy in ("urllib3", "msal", "office365", "apscheduler.executors", "uvicorn", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _fail(exc: SpSyncError) -> typer.Exit:
    if isinstance(exc, ConfigError):
        err.print("[bold red]sp-sync cannot start: the configuration has problems[/]")
        for problem in exc.problems:
            err.print(f"  - {problem}", markup=False, highlight=False)
        return typer.Exit(EXIT_CONFIG)
    if isinstance(exc, AuthError):
        err.print("[bold red]Entra ID refused the sign-in[/]")
        err.print(f"  {exc}", markup=False, highlight=False)
        return typer.Exit(EXIT_AUTH)
    err.print(f"[bold red]error:[/] {exc}", highlight=False)
    return typer.Exit(EXIT_FAILED)


def _config() -> Any:
    from sp_sync.app.wiring import load_config
    from sp_sync.config.settings import load_settings

    return load_config(load_settings())


@app.callback()
def main_callback(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    _setup_logging(verbose)


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


@app.command()
def check(
    connect: Annotated[
        bool, typer.Option(help="Also sign in and look every mapped list up.")
    ] = False,
) -> None:
    """Validate settings, list mapping and job files (and the connection with --connect)."""
    try:
        config = _config()
        console.print_json(data={"settings": config.settings.describe()})
        console.print(
            f"{len(config.mapping.lists)} lists mapped, {len(config.jobs)} jobs: "
            + ", ".join(j.name for j in config.jobs)
        )
        if connect:
            from sp_sync.app.wiring import services
            from sp_sync.engine.runner import ref_for

            with services(config) as svc:
                for spec in config.mapping.lists:
                    cols = svc.source.columns(ref_for(svc, spec))
                    console.print(f"  {spec.key}: '{spec.title}' found, {len(cols)} columns")
        console.print("[green]configuration OK[/]")
    except SpSyncError as exc:
        raise _fail(exc) from None


@app.command("jobs")
def list_jobs(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the configured jobs with their schedule and next run."""
    from sp_sync.app.scheduling import next_runs
    from sp_sync.clock import SystemClock

    try:
        config = _config()
    except SpSyncError as exc:
        raise _fail(exc) from None
    tz = config.settings.zone
    nxt = next_runs(config.jobs, tz, SystemClock().now())
    rows = [
        {
            "name": j.name,
            "kind": j.kind,
            "schedule": j.schedule,
            "enabled": j.enabled,
            "next_run": _iso(nxt[j.name]),
            "description": j.description,
        }
        for j in config.jobs
    ]
    if as_json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table("job", "kind", "schedule", "next run", "description")
    for r in rows:
        table.add_row(r["name"], r["kind"], r["schedule"], r["next_run"] or "disabled",
                      r["description"])
    console.print(table)


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


@app.command("run-job")
def run_job_cmd(
    name: str,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan, write nothing.")
    ] = False,
    allow_mass_delete: Annotated[
        bool,
        typer.Option("--allow-mass-delete", help="Let this run delete more than the guard allows."),
    ] = False,
) -> None:
    """Run one job now."""
    from sp_sync.app.scheduling import interrupt_job_orphans
    from sp_sync.app.wiring import services
    from sp_sync.engine.runner import run_job

    try:
        config = _config()
        job = config.job(name)
        with services(config) as svc, svc.store.job_lock(job.name, wait=False) as free:
            if not free:  # PostgreSQL: a replica or another run-job runs it right now
                err.print(f"{job.name} is running in another sp-sync process; waiting for "
                          "it to finish, then running it here", highlight=False)
                with svc.store.job_lock(job.name):
                    interrupt_job_orphans(svc.store, job.name)
                    outcome = run_job(svc, job, dry_run=dry_run,
                                      allow_mass_delete=allow_mass_delete)
            else:
                interrupt_job_orphans(svc.store, job.name)
                outcome = run_job(svc, job, dry_run=dry_run,
                                  allow_mass_delete=allow_mass_delete)
    except SpSyncError as exc:
        raise _fail(exc) from None
    if outcome.plan_text:
        console.print(outcome.plan_text, markup=False, highlight=False)
    for line in outcome.details:
        console.print(f"  {line}", markup=False, highlight=False)
    console.print_json(data={"job": outcome.job, "status": outcome.status, "stats": outcome.stats,
                             "message": outcome.message})
    if outcome.status == "failed":
        raise typer.Exit(EXIT_FAILED)
    if outcome.status == "partial":
        raise typer.Exit(EXIT_PARTIAL)


@app.command()
def run(
    once_at_start: Annotated[
        bool, typer.Option(help="Run mail jobs once at start to catch up missed periods.")
    ] = True,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on 127.0.0.1:PORT.")
    ] = None,
) -> None:
    """Start the daemon: every enabled job on its schedule (Ctrl-C stops).

    On PostgreSQL several replicas may run: jobs fire only in the one holding the leader
    lease; the others stand by and take over within ``lease_seconds``."""
    import threading

    from sp_sync.app.observability import Metrics
    from sp_sync.app.scheduling import (
        Leadership,
        build_scheduler,
        interrupt_job_orphans,
        interrupt_orphans,
    )
    from sp_sync.app.wiring import services
    from sp_sync.engine.runner import run_job

    daemon_log = logging.getLogger("sp_sync.daemon")
    try:
        config = _config()
        with services(config) as svc:
            if metrics_port is not None:
                metrics = Metrics()
                svc.on_run.append(metrics.record)
                metrics.serve(metrics_port)
            lead: Leadership | None = None

            def fire(job: Any) -> None:
                if lead is not None and not lead.leading():
                    daemon_log.debug("%s: not the leader, standing by", job.name)
                    return
                try:
                    with svc.store.job_lock(job.name, wait=False) as free:
                        if not free:  # a run-job of the same job in another process
                            daemon_log.info("%s: running in another process, skipped",
                                            job.name)
                            return
                        interrupt_job_orphans(svc.store, job.name)
                        outcome = run_job(svc, job)
                    daemon_log.info("%s: %s %s", job.name, outcome.status, outcome.message or "")
                except Exception:  # the daemon keeps running; the run history has it
                    daemon_log.exception("%s crashed", job.name)

            def catch_up() -> None:  # the ledger makes this idempotent: only what is due
                for job in config.jobs:
                    if job.enabled and job.kind in ("digest", "reminders"):
                        fire(job)

            store = svc.store
            if getattr(store, "dialect", None) == "postgresql":
                holder = str(getattr(store, "owner", "sp-sync"))

                def gained(token: int) -> None:
                    interrupt_orphans(store, holder)
                    if once_at_start:  # not in the lease thread: renewals go on meanwhile
                        threading.Thread(target=catch_up, name="sp-sync-catch-up",
                                         daemon=True).start()

                lead = Leadership(store, holder, float(config.settings.lease_seconds), gained)
                lead.start()
                if not lead.leading():
                    console.print("another replica leads: standing by")
            elif once_at_start:
                catch_up()
            scheduler = build_scheduler(config.jobs, config.settings.zone, fire)
            # SIGTERM (systemd, kill) stops like Ctrl-C: running jobs finish their
            # transaction, then the store and its lock are released.
            signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
            console.print(f"sp-sync {__version__}: {len(config.jobs)} jobs scheduled")
            try:
                with contextlib.suppress(KeyboardInterrupt, SystemExit):
                    scheduler.start()
                if scheduler.running:
                    scheduler.shutdown(wait=True)
            finally:
                if lead is not None:
                    lead.stop()
            console.print("sp-sync stopped")
    except SpSyncError as exc:
        raise _fail(exc) from None


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@app.command()
def runs(
    job: Annotated[str | None, typer.Option(help="Only this job.")] = None,
    limit: int = 20,
) -> None:
    """Show the run history (newest first)."""
    from sp_sync.adapters.store import open_store
    from sp_sync.config.settings import load_settings

    try:
        settings = load_settings()
        store = open_store(settings.state_url)
    except SpSyncError as exc:
        raise _fail(exc) from None
    try:
        table = Table("id", "job", "started", "status", "requests", "RU", "message")
        for r in store.runs(job, limit):
            table.add_row(str(r.id), r.job, r.started_at.isoformat(timespec="seconds"), r.status,
                          str(r.stats.get("requests", "")), str(r.stats.get("resource_units", "")),
                          r.message or "")
        console.print(table)
    finally:
        store.close()


@app.command()
def provision() -> None:
    """Create the lists sp-sync writes (targets) and add missing columns."""
    from sp_sync.app.wiring import provision_targets, services

    try:
        config = _config()
        with services(config) as svc:
            for title, created in provision_targets(svc, config.mapping).items():
                console.print(f"{title}: {'created' if created else 'up to date'}")
    except SpSyncError as exc:
        raise _fail(exc) from None


@digest_app.command("preview")
def digest_preview(
    job: Annotated[str, typer.Argument(help="Digest job name.")] = "weekly-digest",
    period: Annotated[str | None, typer.Option(help="ISO week such as 2026-W49.")] = None,
) -> None:
    """Render a digest from the state store without sending; print the HTML file's path."""
    from sp_sync.app.mail_wiring import preview_digest

    try:
        config = _config()
        path = preview_digest(config, job, period)
    except SpSyncError as exc:
        raise _fail(exc) from None
    console.print(str(path), markup=False, highlight=False)


@emulator_app.command("serve")
def emulator_serve(
    port: int = 0,
    seed: Annotated[str, typer.Option(help="demo, tiny, empty or a JSON snapshot file.")] = "demo",
    data_dir: Annotated[Path | None, typer.Option(help="Keep the tenant's data here.")] = None,
    latency_ms: int = 0,
    jitter_ms: int = 0,
    ru_per_minute: Annotated[int | None, typer.Option(help="Throttle above this budget.")] = None,
    token_lifetime: int = 3600,
    state_dir: Path = Path("var/emulator"),
) -> None:
    """Serve the emulator on 127.0.0.1; prints one JSON line with how to reach it."""
    from sp_sync.emulator.serve import serve

    serve(port=port, seed=seed, data_dir=data_dir, latency_ms=latency_ms, jitter_ms=jitter_ms,
          ru_per_minute=ru_per_minute, token_lifetime=token_lifetime, state_dir=state_dir)


@app.command()
def snapshot(file: Path) -> None:
    """Copy the mapped lists of the configured site into an emulator seed file."""
    from sp_sync.adapters.graph.snapshot import snapshot as take
    from sp_sync.app.wiring import graph_lists, services

    try:
        config = _config()
        with services(config) as svc:
            data = take(graph_lists(svc), config.mapping, config.settings.site_url)
    except SpSyncError as exc:
        raise _fail(exc) from None
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    items = sum(len(lst["items"]) for site in data["sites"] for lst in site["lists"])
    console.print(f"wrote {file} ({items} items)")


@app.command()
def demo(
    keep: Annotated[bool, typer.Option(help="Keep var/demo from an earlier run.")] = False,
    today: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Pretend it is this day.")
    ] = None,
) -> None:
    """Run one whole DTC cycle on the embedded emulator (seeded with the DTC demo tenant)."""
    from sp_sync.app.demo import run_demo

    if logging.getLogger().level > logging.DEBUG:  # the summary says it all; -v shows the log
        logging.getLogger("sp_sync").setLevel(logging.WARNING)
    try:
        result = run_demo(console, keep=keep, today=today.date() if today else None)
    except SpSyncError as exc:
        raise _fail(exc) from None
    raise typer.Exit(0 if result.ok else EXIT_FAILED)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
