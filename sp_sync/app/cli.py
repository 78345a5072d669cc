"""The command line: ``sp-sync …``. The edge of the system: reads files, builds adapters,
prints results. Exit codes: 0 ok, 1 a job failed, 2 bad configuration, 3 Entra ID refused
us, 4 a job ended partial (it resumes on its next run)."""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from typer.core import TyperOption

from sp_sync import __version__
from sp_sync.app import status as views
from sp_sync.app.logging_setup import apply_settings, setup_logging
from sp_sync.errors import AuthError, ConfigError, PermissionDenied, SpSyncError

EXIT_FAILED, EXIT_CONFIG, EXIT_AUTH, EXIT_PARTIAL = 1, 2, 3, 4

app = typer.Typer(
    help="sp-sync: sync, digests and reminders behind the DTC's SharePoint lists.",
    no_args_is_help=True,
    add_completion=False,
)
digest_app = typer.Typer(help="Digest e-mails.", no_args_is_help=True)
emulator_app = typer.Typer(help="The local Microsoft 365 emulator.", no_args_is_help=True)
runs_app = typer.Typer(help="Run history (newest first); `runs show ID` for one run.")
lists_app = typer.Typer(help="Mapped lists.", no_args_is_help=True)
items_app = typer.Typer(help="Mirrored list items.", no_args_is_help=True)
app.add_typer(digest_app, name="digest")
app.add_typer(emulator_app, name="emulator")
app.add_typer(runs_app, name="runs")
app.add_typer(lists_app, name="lists")
app.add_typer(items_app, name="items")

def _flag_type(self: TyperOption, ctx: Any) -> str | None:
    """Plain flags show no type in --help (typer 0.2x prints ``<bool>`` after every flag)."""
    return None if self.is_flag else _typer_type(self, ctx)


_typer_type = TyperOption.display_type_rich
TyperOption.display_type_rich = _flag_type  # type: ignore[method-assign]

console = Console(soft_wrap=True)  # a path or message is never cut into lines
err = Console(stderr=True, soft_wrap=True)
_verbose = {"on": False}


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

    return load_config(_settings())


def _settings() -> Any:
    from sp_sync.config.settings import load_settings

    settings = load_settings()
    apply_settings(settings.log_level, settings.zone, _verbose["on"])
    return settings


@app.callback()
def main_callback(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Debug logging, with tracebacks.")
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Settings file (else SP_SYNC_CONFIG, "
                     "else config/settings.toml).", metavar="PATH"),
    ] = None,
    log_format: Annotated[
        Literal["plain", "json"],
        typer.Option("--log-format", envvar="SP_SYNC_LOG_FORMAT",
                     help="plain: one line per event; json: one object per line."),
    ] = "plain",
) -> None:
    if config is not None:
        from sp_sync.config.settings import CONFIG_ENV

        if not config.is_file():
            err.print(f"--config: settings file not found '{config}' — give the path of "
                      "settings.toml", markup=False, highlight=False)
            raise typer.Exit(EXIT_CONFIG)
        os.environ[CONFIG_ENV] = str(config)
    _verbose["on"] = verbose
    setup_logging(logging.DEBUG if verbose else logging.INFO, log_format)


@app.command("kinds")
def list_kinds() -> None:
    """List the job kinds a job file may use (``kind = "…"``) and their parameters."""
    from sp_sync.kinds import KINDS

    table = views.table("kind", "what it does", "params")
    for kind in KINDS.values():
        table.add_row(kind.name, kind.summary, ", ".join(kind.params_model.model_fields))
    console.print(table)


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


@app.command()
def check(
    connect: Annotated[
        bool, typer.Option("--connect", help="Also sign in, look up the site, every mapped "
                           "list and column, and the mailbox.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    show_settings: Annotated[
        bool, typer.Option("--settings", help="Also print every setting and its source.")
    ] = False,
) -> None:
    """Find every problem at once (settings, credentials, store, mapping, jobs; --connect:
    tenant, site, lists, columns, mailbox). Exit 2 if there is any."""
    from sp_sync.app.checks import run_checks

    report, config = run_checks(connect=connect)
    if as_json:
        data: dict[str, Any] = {"ok": not report.failed,
                                "findings": [f.as_dict() for f in report.findings]}
        if config is not None:
            data["settings"] = config.settings.describe()
        views.print_json(data)
    else:
        out = views.out_console()
        if show_settings and config is not None:
            out.print_json(data={"settings": config.settings.describe()})
        marks = {"ok": "[green]ok[/]  ", "warning": "[yellow]warn[/]", "error": "[red]FAIL[/]"}
        for f in report.findings:
            out.print(f"{marks[f.level]} {f.topic}: ", end="")
            out.print(f.text, markup=False, highlight=False)
        errors, warnings = report.count("error"), report.count("warning")
        if report.failed:
            out.print(f"[bold red]{errors} problem(s)[/], {warnings} warning(s): fix them and "
                      "run `sp-sync check` again")
        else:
            out.print(f"[green]configuration OK[/] ({warnings} warning(s))")
    if report.failed:
        raise typer.Exit(EXIT_CONFIG)


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
            "next_run": views.local(nxt[j.name], tz),
            "description": j.description,
        }
        for j in config.jobs
    ]
    if as_json:
        views.print_json(rows)
        return
    table = views.table("job", "kind", "schedule", "next run", "description")
    for r in rows:
        table.add_row(r["name"], r["kind"], r["schedule"], r["next_run"] or "disabled",
                      r["description"])
    views.out_console().print(table)


@app.command("run-job")
def run_job_cmd(
    name: str,
    dry_run: Annotated[
        bool, typer.Option("--dry-run",
                           help="Print the plan; send, write and record nothing.")
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
    if outcome.dry_run:
        console.print("[bold]dry run:[/] nothing was written, sent or recorded as done")
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
        int | None, typer.Option(help="Serve /healthz, /readyz and /metrics on "
                                 "metrics_host:PORT (default: the metrics_port setting).")
    ] = None,
) -> None:
    """Start the daemon: every enabled job on its schedule (Ctrl-C or SIGTERM stops)."""
    from sp_sync.app.daemon import run_daemon

    try:
        config = _config()
        run_daemon(config, once_at_start=once_at_start, metrics_port=metrics_port)
    except SpSyncError as exc:
        raise _fail(exc) from None


def _read_store(settings: Any) -> Any:
    from sp_sync.adapters.store import open_store

    return open_store(settings.state_url, read_only=True)


@runs_app.callback(invoke_without_command=True)
def runs(
    ctx: typer.Context,
    job: Annotated[str | None, typer.Option(help="Only this job.")] = None,
    limit: Annotated[int, typer.Option(help="How many runs.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show the run history (newest first). Works while the daemon runs."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        settings = _settings()
        store = _read_store(settings)
    except SpSyncError as exc:
        raise _fail(exc) from None
    try:
        rows = [views.run_dict(r, settings.zone) for r in store.runs(job, limit)]
    except SpSyncError as exc:
        raise _fail(exc) from None
    finally:
        store.close()
    if as_json:
        views.print_json(rows)
    else:
        views.out_console().print(views.runs_table(rows))


@runs_app.command("show")
def runs_show(
    run_id: Annotated[int, typer.Argument(metavar="ID", help="The run's id (see `runs`).")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """One run with all its figures."""
    try:
        settings = _settings()
        store = _read_store(settings)
    except SpSyncError as exc:
        raise _fail(exc) from None
    try:
        found = views.find_run(store, run_id)
    finally:
        store.close()
    if found is None:
        err.print(f"there is no run {run_id} — `sp-sync runs` lists them", markup=False)
        raise typer.Exit(EXIT_FAILED)
    if as_json:
        views.print_json(views.run_dict(found, settings.zone))
    else:
        views.out_console().print(views.run_detail(found, settings.zone))


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Per job: last run, last success, failing since, next run; per list: last sync and
    cursor age; mails pending. Works while the daemon runs."""
    from sp_sync.clock import SystemClock

    try:
        config = _config()
        store = _read_store(config.settings)
        try:
            data = views.collect(store, config, SystemClock().now())
        finally:
            store.close()
    except SpSyncError as exc:
        raise _fail(exc) from None
    if as_json:
        views.print_json(data)
    else:
        views.render(views.out_console(), data)


@app.command()
def provision(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan of lists and columns; change nothing.")
    ] = False,
) -> None:
    """Create the lists sp-sync writes (targets) and add missing columns."""
    from sp_sync.app.repair import provision_plan
    from sp_sync.app.wiring import provision_targets, services

    try:
        config = _config()
        with services(config) as svc:
            if dry_run:
                for step in provision_plan(svc.source, config.mapping, svc.site_url):
                    console.print(f"{step['list']}: {step['action']}", markup=False)
                    for col in step["columns"]:
                        console.print(f"  {col}", markup=False, highlight=False)
                return
            for title, created in provision_targets(svc, config.mapping).items():
                console.print(f"{title}: {'created' if created else 'up to date'}")
    except PermissionDenied as exc:
        raise _fail(PermissionDenied(
            f"{exc} — provision creates lists and columns: the app needs the 'manage' (or "
            "'fullcontrol') role on the site, 'write' is not enough (docs/admin-setup.md, "
            "section 3)")) from None
    except SpSyncError as exc:
        raise _fail(exc) from None


@app.command()
def pull(
    list_name: Annotated[str, typer.Argument(metavar="LIST", help="List key or title.")],
    full: Annotated[
        bool, typer.Option("--full", help="Forget the delta cursor and read the whole list.")
    ] = False,
) -> None:
    """Pull one list now (--full: enumerate it again, e.g. after a restore)."""
    from sp_sync.app.repair import find_list, pull_now
    from sp_sync.app.wiring import services

    try:
        config = _config()
        spec = find_list(config.mapping, list_name, config.settings.lists_file)
        with services(config) as svc:
            outcome = pull_now(svc, spec, full)
    except SpSyncError as exc:
        raise _fail(exc) from None
    views.print_json({"list": spec.key, "status": outcome.status, **outcome.stats,
                      "message": outcome.message})
    if outcome.status != "ok":
        raise typer.Exit(EXIT_FAILED if outcome.status == "failed" else EXIT_PARTIAL)


@lists_app.command("inspect")
def lists_inspect(
    list_name: Annotated[str, typer.Argument(metavar="LIST", help="List key or title.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The mapping of one list next to SharePoint's columns, types, indexes; item count."""
    from sp_sync.app.repair import find_list, inspect_list
    from sp_sync.app.wiring import services

    try:
        config = _config()
        spec = find_list(config.mapping, list_name, config.settings.lists_file)
        with services(config) as svc:
            data = inspect_list(svc.source, svc.store, spec, svc.site_url)
    except SpSyncError as exc:
        raise _fail(exc) from None
    tz = config.settings.zone
    data["last_synced"] = views.local(data["last_synced"], tz)
    if as_json:
        views.print_json(data)
        return
    out = views.out_console()
    out.print(f"{data['list']}: {data['title']!r} ({data['role']}) on {data['site']}; "
              f"{'exists' if data['exists'] else 'MISSING'}; {data['mirrored_items']} items "
              f"mirrored, last synced {data['last_synced'] or 'never'}",
              markup=False, highlight=False)
    table = views.table("column", "internal name", "mapped type", "SharePoint type", "indexed",
                        "problem")
    for c in data["columns"]:
        table.add_row(c["key"], c["name"], c["mapped_type"], c["sharepoint_type"] or "-",
                      {True: "yes", False: "no", None: "-"}[c["indexed"]], c["problem"] or "")
    out.print(table)


@items_app.command("history")
def items_history(
    list_name: Annotated[str, typer.Argument(metavar="LIST", help="List key or title.")],
    item_id: Annotated[str, typer.Argument(metavar="ID", help="SharePoint item id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Every recorded field change of one item (old → new, who, when), from the store."""
    from sp_sync.app.repair import find_list, item_history

    try:
        config = _config()
        spec = find_list(config.mapping, list_name, config.settings.lists_file)
        store = _read_store(config.settings)
        try:
            rows = item_history(store, spec, item_id)
        finally:
            store.close()
    except SpSyncError as exc:
        raise _fail(exc) from None
    tz = config.settings.zone
    for r in rows:
        r["changed_at"] = views.local(r["changed_at"], tz)
    if as_json:
        views.print_json(rows)
        return
    table = views.table("changed", "by", "kind", "column", "old", "new",
                        title=f"{spec.key} item {item_id}")
    for r in rows:
        table.add_row(r["changed_at"], r["changed_by"] or "", r["kind"], r["column"],
                      json.dumps(r["old"], ensure_ascii=False),
                      json.dumps(r["new"], ensure_ascii=False))
    views.out_console().print(table)


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


@digest_app.command("check")
def digest_check() -> None:
    """Per mail job: when it is due, when it is late, what it waits for, whom it may mail."""
    from sp_sync.app.digest_ops import explain

    try:
        lines = explain(_config())
    except SpSyncError as exc:
        raise _fail(exc) from None
    for line in lines:
        console.print(line, markup=False, highlight=False)


@digest_app.command("skip")
def digest_skip(
    job: Annotated[str, typer.Argument(help="Digest job name.")],
    period: Annotated[str, typer.Option(help="ISO week such as 2026-W49.")],
) -> None:
    """Record a week as skipped by the operator: it is never sent (ledger)."""
    from sp_sync.app.digest_ops import skip
    from sp_sync.clock import SystemClock

    try:
        console.print(skip(_config(), job, period, SystemClock().now()), markup=False)
    except SpSyncError as exc:
        raise _fail(exc) from None


@digest_app.command("resend")
def digest_resend(
    job: Annotated[str, typer.Argument(help="Mail job name.")],
    period: Annotated[str, typer.Option(help="Period such as 2026-W49.")],
    to: Annotated[str | None, typer.Option(help="Send one copy to this address only.")] = None,
) -> None:
    """Send a period's mail again (recorded in the ledger as <job>#resend)."""
    from sp_sync.app.digest_ops import resend_with_services

    try:
        for line in resend_with_services(_config(), job, period, to):
            console.print(f"{line['recipient']}: {line['status']}", markup=False)
    except SpSyncError as exc:
        raise _fail(exc) from None


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
    from sp_sync.app.wiring import take_snapshot

    try:
        data = take_snapshot(_config())
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
    # State files (previews, outbox files, the SQLite database) hold list data and whole
    # mails: readable by the service user only.
    os.umask(0o077)
    app()


if __name__ == "__main__":
    main()
