"""Repair commands on the emulator: pull --full, lists inspect, items history,
provision --dry-run."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from sp_sync.app.cli import app
from sp_sync.emulator import Emulator


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), terminal_width=200)
    return result.exit_code, result.output


def _json(*args: str) -> object:
    code, out = _cli(*args)
    assert code == 0, out
    return json.loads(out[out.index("[") if out.lstrip().startswith("[") else out.index("{"):])


def test_pull_full_enumerates_again_and_history_shows_an_edit(emu: Emulator) -> None:
    first = _json("pull", "projects")
    assert isinstance(first, dict) and first["list"] == "projects" and first["created"] > 0
    status = "Status"
    item = next(i for i in emu.items("Projekte") if i["fields"].get(status) == "Idee")
    emu.edit("Projekte", item["id"], {status: "Planung"}, "anna.becker@mannheim.de")
    again = _json("pull", "Projekte")  # by title works too
    assert isinstance(again, dict) and again["updated"] == 1 and not again["full_enumerations"]

    full = _json("pull", "--full", "projects")
    assert isinstance(full, dict) and full["full_enumerations"] == 1 and full["updated"] == 0
    assert full["items_seen"] == first["items_seen"]
    runs = _json("runs", "--json", "--job", "pull:projects")
    assert isinstance(runs, list) and runs[0]["status"] == "ok"

    history = _json("items", "history", "projects", item["id"], "--json")
    assert isinstance(history, list)
    assert [(h["column"], h["old"], h["new"]) for h in history] == [("status", "Idee", "Planung")]
    assert history[0]["changed_at"][-6:] in ("+01:00", "+02:00")
    code, table = _cli("items", "history", "projects", item["id"])
    assert code == 0 and "Planung" in table


def test_lists_inspect_shows_columns_types_and_counts(emu: Emulator) -> None:
    _json("pull", "projects")
    data = _json("lists", "inspect", "projects", "--json")
    assert isinstance(data, dict) and data["exists"] and data["mirrored_items"] > 0
    cols = {c["key"]: c for c in data["columns"]}
    assert cols["status"]["name"] == "Status" and cols["status"]["sharepoint_type"]
    assert all(c["problem"] is None for c in cols.values())
    assert all(isinstance(c["indexed"], bool) for c in cols.values())
    code, table = _cli("lists", "inspect", "projects")
    assert code == 0 and "Status" in table and "mapped type" in table
    code, out = _cli("lists", "inspect", "nope")
    assert code == 2 and "no list 'nope'" in out


def test_provision_dry_run_plans_without_writing(emu: Emulator) -> None:
    code, out = _cli("provision", "--dry-run")
    assert code == 0, out
    assert "ProjekteOeffentlich: create" in out and "SyncKey" in out
    code, out = _cli("lists", "inspect", "public_projects", "--json")
    assert code == 0 and json.loads(out)["exists"] is False  # nothing was created
    code, out = _cli("provision")
    assert code == 0 and "ProjekteOeffentlich: created" in out
    code, out = _cli("provision", "--dry-run")
    assert "ProjekteOeffentlich: none" in out
