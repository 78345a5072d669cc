"""A DTC tenant on the emulator and sp-sync pointed at it exactly as an admin would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sp_sync.app.demo import demo_clock
from sp_sync.app.wiring import Config, load_config, provision_targets, services
from sp_sync.clock import FixedClock
from sp_sync.config.settings import Settings, load_settings
from sp_sync.emulator import Emulator
from sp_sync.emulator.seeds.demo import demo_seed
from sp_sync.engine.context import Services

REPO = Path(__file__).resolve().parents[2]
TZ = ZoneInfo("Europe/Berlin")
# A fixed Monday, so the digests' content does not depend on the day the tests run.
MONDAY = date(2026, 11, 30)


@dataclass
class Tenant:
    emu: Emulator
    config: Config
    svc: Services
    clock: FixedClock
    seed: dict[str, Any]

    @property
    def settings(self) -> Settings:
        return self.config.settings


def settings_for(emu: Emulator, tmp: Path, **extra: Any) -> Settings:
    overrides: dict[str, Any] = {
        k.removeprefix("SP_SYNC_").lower(): v for k, v in emu.info.env.items()
    }
    overrides.update(
        state_url=f"sqlite:///{tmp / 'state.db'}",
        outbox_dir=tmp / "outbox",
        lists_file=REPO / "config" / "lists.toml",
        jobs_dir=REPO / "jobs",
        mail_per_minute=1000,
    )
    overrides.update(extra)
    return load_settings(**overrides)


@contextmanager
def open_tenant(tmp_path: Path, **settings: Any) -> Iterator[Tenant]:
    """The demo tenant on a fresh emulator, target lists provisioned, sp-sync connected."""
    clock = demo_clock(MONDAY, TZ)
    seed = demo_seed(MONDAY)
    with Emulator(seed=seed, state_dir=tmp_path / "emulator") as emu:
        config = load_config(settings_for(emu, tmp_path, **settings))
        with services(config, clock=clock) as svc:
            provision_targets(svc, config.mapping)
            yield Tenant(emu, config, svc, clock, seed)


@pytest.fixture
def tenant(tmp_path: Path) -> Iterator[Tenant]:
    with open_tenant(tmp_path) as t:
        yield t
