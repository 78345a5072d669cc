"""Choosing adapters from settings: the one place where ports meet their implementations."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sp_sync.adapters.graph.client import GraphConnection
from sp_sync.adapters.graph.config import GraphConfig
from sp_sync.adapters.graph.snapshot import snapshot
from sp_sync.adapters.graph.source import GraphLists
from sp_sync.adapters.store import open_store
from sp_sync.adapters.store.scratch import ScratchStore
from sp_sync.app.mail_wiring import mail_jobs
from sp_sync.clock import SystemClock
from sp_sync.config.jobs import JobSpec, load_jobs
from sp_sync.config.mapping import load_mapping
from sp_sync.config.settings import Settings
from sp_sync.domain.model import ListMapping
from sp_sync.engine.context import Services
from sp_sync.engine.provision import provision
from sp_sync.errors import ConfigError
from sp_sync.kinds import KINDS
from sp_sync.ports import Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Config:
    """Everything read from files at start: settings, list mapping, jobs."""

    settings: Settings
    mapping: ListMapping
    jobs: list[JobSpec]

    def job(self, name: str) -> JobSpec:
        for job in self.jobs:
            if job.name == name:
                return job
        known = ", ".join(j.name for j in self.jobs) or "none"
        raise ConfigError(f"{self.settings.jobs_dir}: no job named {name!r} — known jobs: {known}")


def load_config(settings: Settings) -> Config:
    """Mapping and jobs; every problem in every file reported at once."""
    problems: list[str] = []
    mapping: ListMapping | None = None
    try:
        mapping = load_mapping(settings.lists_file)
    except ConfigError as exc:
        problems.extend(exc.problems)
    jobs: list[JobSpec] = []
    if mapping is not None:
        try:
            jobs = load_jobs(
                settings.jobs_dir,
                mapping,
                timezone=settings.timezone,
                dtc_recipients=tuple(settings.dtc_recipients),
            )
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems or mapping is None:
        raise ConfigError(problems)
    return Config(settings, mapping, jobs)


def graph_config(settings: Settings) -> GraphConfig:
    """Settings → the Graph adapter's own config (certificate text read here)."""
    settings.require_connection()
    pem: str | None = None
    if settings.certificate_pem is not None:
        pem = settings.certificate_pem.get_secret_value()
    elif settings.certificate_path is not None:
        path = Path(settings.certificate_path)
        try:
            pem = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"{settings.source_of('certificate_path')}: certificate_path: cannot read "
                f"{path}: {exc.strerror} — point it at a PEM file with key and certificate"
            ) from None
    assert settings.tenant_id is not None and settings.client_id is not None
    return GraphConfig(
        tenant_id=settings.tenant_id,
        client_id=settings.client_id,
        client_secret=(
            settings.client_secret.get_secret_value() if settings.client_secret else None
        ),
        certificate_pem=pem,
        certificate_passphrase=(
            settings.certificate_passphrase.get_secret_value()
            if settings.certificate_passphrase
            else None
        ),
        authority_host=settings.authority_host,
        graph_url=settings.graph_url,
        ca_bundle=str(settings.ca_bundle) if settings.ca_bundle else None,
        proxy_url=settings.proxy_url,
        organisation=settings.organisation,
        run_time_budget_s=float(settings.run_time_budget_s),
    )


@contextmanager
def services(config: Config, clock: Clock | None = None) -> Iterator[Services]:
    """Open the store and the Graph connection for one process; close both afterwards.

    The Graph lists adapter serves as source, writer and admin (provisioning)."""
    settings = config.settings
    conn = GraphConnection(graph_config(settings))
    assert settings.site_url is not None
    lists = GraphLists(conn, settings.site_url)
    clock = clock or SystemClock()
    # The store stamps "last synced" with the same clock the jobs run on, so the mail
    # jobs' freshness check compares like with like (also under a fixed demo clock).
    store = open_store(settings.state_url, clock=clock.now)
    lists.keep_in(store)  # site/list ids survive the process (cron: one request per list)
    try:
        svc = Services(
            mapping=config.mapping,
            store=store,
            source=lists,
            writer=lists,
            clock=clock,
            tz=settings.zone,
            site_url=settings.site_url,
            stats=lists.stats,
            admin=lists,
            scratch_store=ScratchStore,
            kinds=KINDS,
        )
        svc.mail_jobs = mail_jobs(config, svc, conn)
        yield svc
    finally:
        store.close()
        conn.close()


def graph_lists(svc: Services) -> GraphLists:
    """The Graph adapter behind the ports, for admin commands (provision, snapshot)."""
    if not isinstance(svc.writer, GraphLists):
        raise TypeError("this command needs the Graph adapter")
    return svc.writer


def provision_targets(svc: Services, mapping: ListMapping) -> dict[str, bool]:
    """Create or complete every target list (lookup targets first); title → changed."""
    if svc.admin is None:
        raise ConfigError("provisioning needs a list admin (the Graph connection)")
    return provision(svc.admin, mapping, svc.site_url)


def take_snapshot(config: Config) -> dict[str, Any]:
    """The mapped lists of the configured site as an emulator seed (``sp-sync snapshot``)."""
    settings = config.settings
    with GraphConnection(graph_config(settings)) as conn:
        assert settings.site_url is not None
        return snapshot(GraphLists(conn, settings.site_url), config.mapping, settings.site_url)
