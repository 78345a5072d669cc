"""``sp-sync digest check`` and ``digest skip`` (issue 9)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sp_sync.adapters.store import open_store
from sp_sync.app.cli import EXIT_CONFIG, app
from tests.cli.test_cli_config import env  # noqa: F401 - the fixture


def test_digest_check_explains_due_and_late_per_mail_job(env: dict[str, str]) -> None:  # noqa: F811
    result = CliRunner().invoke(app, ["digest", "check"])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "weekly-digest: due Monday 07:00 Europe/Berlin each ISO week" in out
    assert "lead-digests: due Monday 07:30" in out
    assert "reminders: due 08:00" in out
    assert "more than 60 min after that" in out and "0:45:00" in out


def test_digest_skip_records_the_week_and_refuses_bad_input(
    env: dict[str, str], tmp_path: Path,  # noqa: F811
) -> None:
    result = CliRunner().invoke(app, ["digest", "skip", "weekly-digest", "--period", "2026-W52"])
    assert result.exit_code == 0, result.output
    store = open_store(env["SP_SYNC_STATE_URL"])
    try:
        assert store.ledger_periods("weekly-digest") == [("2026-W52", "skipped")]
        store.ledger_put("weekly-digest", "2026-W49", "sent",
                         store.ledger_get("weekly-digest", "2026-W52")["at"])  # type: ignore[index]
    finally:
        store.close()
    for args in (["weekly-digest", "--period", "2026-W49"],  # already sent
                 ["weekly-digest", "--period", "2026-49"],
                 ["reminders", "--period", "2026-W50"]):
        bad = CliRunner().invoke(app, ["digest", "skip", *args])
        assert bad.exit_code == EXIT_CONFIG, (args, bad.output)


@pytest.mark.parametrize("job", ["nope"])
def test_digest_skip_of_an_unknown_job(env: dict[str, str], job: str) -> None:  # noqa: F811
    bad = CliRunner().invoke(app, ["digest", "skip", job, "--period", "2026-W50"])
    assert bad.exit_code == EXIT_CONFIG and "no job named" in bad.output
