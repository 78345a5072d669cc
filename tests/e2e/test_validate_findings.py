"""Validation on the emulator (issue 10), asserted by the rows in the Befunde list: the
demo's seeded problems appear with links to their items, fixes close them, owners accept
and postpone them in the Befunde row, bad values become findings, nothing loops, and a
dry run shows what would open and close without writing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sp_sync.app.demo import demo_clock
from sp_sync.app.wiring import load_config, provision_targets, services
from sp_sync.domain.normalize import date_to_wire
from sp_sync.emulator import Emulator
from sp_sync.emulator.seeds.demo import demo_seed
from sp_sync.engine.runner import RunOutcome, run_job

from .conftest import MONDAY, TZ, Tenant, settings_for

BEFUNDE = "Befunde"


def befunde(t: Tenant) -> dict[str, dict[str, Any]]:
    """SyncKey → item (id, fields) of every row sp-sync wrote into Befunde."""
    return {i["fields"]["SyncKey"]: i for i in t.emu.items(BEFUNDE)
            if i["fields"].get("SyncKey")}


def status(t: Tenant, key: str) -> str:
    return str(befunde(t)[key]["fields"]["Status"])


def cycle(t: Tenant, **kw: Any) -> RunOutcome:
    """A pull of every list, then the validate job (as the schedule runs them)."""
    assert run_job(t.svc, t.config.job("dtc-sync")).status == "ok"
    out = run_job(t.svc, t.config.job("dtc-validate"), **kw)
    assert out.status == "ok", (out.message, out.details)
    return out


def writes(t: Tenant) -> list[dict[str, Any]]:
    return [r for r in t.emu.requests() if r["method"] in ("POST", "PATCH", "DELETE")
            and "/_emulator" not in r["path"] and not r["path"].endswith("/delta")]


def email_of(t: Tenant, user_id: Any) -> str | None:
    return next((u["email"] for u in t.seed["users"] if str(u["id"]) == str(user_id)), None)


SEEDED = {  # finding key → the item's list title, for the seed's DATA_PROBLEMS
    "finding:project-lead-missing:projects:5": "Projekte",
    "finding:project-end-before-start:projects:9": "Projekte",
    "finding:project-traffic-light-missing:projects:13": "Projekte",
    "finding:project-milestone-passed:projects:17": "Projekte",
    "finding:project-title-markup:projects:21": "Projekte",
    "finding:department-coordinator-missing:departments:16": "Fachbereiche",
    "finding:training-over-capacity:trainings:3": "Schulungen",
    "finding:training-trainer-missing:trainings:10": "Schulungen",
    "finding:registration-cancelled-training:registrations:94": "Anmeldungen",
    "finding:action-item-overdue:topics:13": "Themen",
    "finding:action-item-owner-missing:topics:17": "Themen",
    "finding:trend-source-link:trend_radar:7": "TrendRadar",
}


def test_seeded_problems_appear_with_links_and_a_second_run_writes_nothing(
    tenant: Tenant,
) -> None:
    out = cycle(tenant)
    rows = befunde(tenant)
    for key, title in SEEDED.items():
        assert key in rows, key
        f = rows[key]["fields"]
        item_id = key.rsplit(":", 1)[1]
        assert f["Status"] == "Offen"
        assert f["Link"]["Url"].endswith(f"/Lists/{title}/DispForm.aspx?ID={item_id}"), f
        assert f["Liste"] == title
        assert f["Schweregrad"] in ("Fehler", "Warnung", "Hinweis")
        assert f["Nachweis"] and f["Regel"] == key.split(":")[1]
    lead_missing = rows["finding:project-lead-missing:projects:5"]["fields"]
    assert lead_missing["Schweregrad"] == "Fehler"
    assert "keine DTC-Leitung" in lead_missing["Title"]
    assert lead_missing["VerantwortlichLookupId"]  # the project's contact person
    assert out.stats["findings_opened"] == len(rows) == out.stats["written"]

    tenant.emu.clear_requests()
    again = cycle(tenant)
    assert again.stats["written"] == 0 and again.stats["findings_opened"] == 0
    assert not writes(tenant)
    assert befunde(tenant).keys() == rows.keys()


def test_fix_closes_deletion_obsoletes_and_failing_again_reopens_the_same_row(
    tenant: Tenant,
) -> None:
    cycle(tenant)
    key = "finding:project-end-before-start:projects:9"
    project = next(i for i in tenant.emu.items("Projekte") if i["id"] == "9")
    lead = email_of(tenant, project["fields"].get("DTC_x002d_LeitungLookupId"))
    start = project["fields"]["Start"]
    old_end = project["fields"]["Geplantes_x0020_Ende"]
    tenant.emu.edit("Projekte", 9, {"Geplantes_x0020_Ende": "2027-12-31T23:00:00Z"}, lead)
    tenant.emu.delete_item("Anmeldungen", 94, None)

    cycle(tenant)
    rows = befunde(tenant)
    assert rows[key]["fields"]["Status"] == "Behoben"
    assert rows[key]["fields"]["Geschlossen_x0020_am"] == date_to_wire(MONDAY, TZ)
    gone = "finding:registration-cancelled-training:registrations:94"
    assert rows[gone]["fields"]["Status"] == "Entfallen"

    tenant.emu.edit("Projekte", 9, {"Geplantes_x0020_Ende": old_end, "Start": start}, lead)
    cycle(tenant)
    rows = befunde(tenant)
    assert rows[key]["fields"]["Status"] == "Offen"
    assert rows[key]["fields"]["Wieder_x0020_ge_x00f6_ffnet"] == 1
    assert not rows[key]["fields"].get("Geschlossen_x0020_am")
    assert len([k for k in rows if k == key]) == 1  # the same row, never a second one


def test_accepted_stays_accepted_until_the_offending_values_change(tenant: Tenant) -> None:
    cycle(tenant)
    key = "finding:training-over-capacity:trainings:3"
    row = befunde(tenant)[key]
    owner = email_of(tenant, row["fields"]["VerantwortlichLookupId"])
    tenant.emu.edit(BEFUNDE, row["id"], {"Ausnahme": "Akzeptieren",
                                         "Begr_x00fc_ndung": "Größerer Raum gebucht"}, owner)
    cycle(tenant)
    assert status(tenant, key) == "Akzeptiert"
    tenant.emu.clear_requests()
    assert cycle(tenant).stats["written"] == 0  # accepted and unchanged: nothing to write
    assert not writes(tenant)

    # new offending values (fewer seats, still overbooked): the acceptance no longer holds
    tenant.emu.edit("Schulungen", 3, {"Max_x002e__x0020_Teilnehmende": 13}, owner)
    cycle(tenant)
    fields = befunde(tenant)[key]["fields"]
    assert fields["Status"] == "Offen" and fields["Wieder_x0020_ge_x00f6_ffnet"] == 1
    assert fields["Ausnahme"] == "Akzeptieren"  # the owner's column is never written
    cycle(tenant)
    assert status(tenant, key) == "Offen"  # stays open until the owner confirms again
    # the owner confirms for the new values: accepted again
    tenant.emu.edit(BEFUNDE, row["id"], {"Begr_x00fc_ndung": "Raum reicht für 14"}, owner)
    cycle(tenant)
    assert status(tenant, key) == "Akzeptiert"


def test_snooze_ends_on_its_date(tenant: Tenant) -> None:
    cycle(tenant)
    key = "finding:department-coordinator-missing:departments:16"
    row = befunde(tenant)[key]
    until = MONDAY + timedelta(days=2)
    tenant.emu.edit(BEFUNDE, row["id"], {"Ausnahme": "Zurückstellen",
                                         "Bis": date_to_wire(until, TZ)}, None)
    cycle(tenant)
    assert status(tenant, key) == "Zurückgestellt"
    tenant.clock.advance(timedelta(days=2))  # on the date itself: still postponed
    cycle(tenant)
    assert status(tenant, key) == "Zurückgestellt"
    tenant.clock.advance(timedelta(days=1))
    cycle(tenant)
    assert status(tenant, key) == "Offen"


def test_bad_values_become_findings_and_never_stop_the_run(tenant: Tenant) -> None:
    cycle(tenant)
    tenant.emu.edit("Projekte", 3, {"Meilenstein_x002d_Datum": "nächste Woche",
                                    "Ampel": "Lila"}, None)
    tenant.emu.edit("Anmeldungen", 1, {"Teilnehmer_x002f_inLookupId": "999"}, None)
    cycle(tenant)
    rows = befunde(tenant)
    project = rows["finding:project-values:projects:3"]["fields"]
    assert project["Status"] == "Offen"
    assert "Meilenstein-Datum" in project["Title"] and "nächste Woche" in project["Title"]
    assert "Ampel" in project["Title"] and "Lila" in project["Title"]
    person = rows["finding:registration-values:registrations:1"]["fields"]
    assert "#999" in person["Title"]
    assert not person.get("VerantwortlichLookupId")  # a person who does not exist


def test_dry_run_shows_what_would_open_and_close_and_writes_nothing(tenant: Tenant) -> None:
    cycle(tenant)
    before = befunde(tenant)
    project = next(i for i in tenant.emu.items("Projekte") if i["id"] == "5")
    tenant.emu.edit("Projekte", 5, {"DTC_x002d_LeitungLookupId": "11"}, None)
    tenant.emu.edit("Projekte", 6, {"Geplantes_x0020_Ende": "2000-01-01T23:00:00Z"}, None)
    assert run_job(tenant.svc, tenant.config.job("dtc-sync")).status == "ok"
    runs_before = len(tenant.svc.store.runs("dtc-validate"))
    tenant.emu.clear_requests()

    out = run_job(tenant.svc, tenant.config.job("dtc-validate"), dry_run=True)

    assert out.status == "ok" and out.dry_run
    assert not writes(tenant)
    assert befunde(tenant) == before
    assert "close finding:project-lead-missing:projects:5 → Behoben" in out.details
    assert any(d.startswith("open finding:project-end-before-start:projects:6")
               for d in out.details)
    plan = out.plan_text or ""
    assert "+ create finding:project-end-before-start:projects:6" in plan
    assert "'Offen' → 'Behoben'" in plan
    assert len(tenant.svc.store.runs("dtc-validate")) == runs_before + 1
    assert project["id"] == "5"
    real = cycle(tenant)
    assert real.stats["findings_closed"] == 1 and real.stats["findings_opened"] == 1


def test_incremental_run_sees_changes_and_their_cross_list_dependents(tenant: Tenant) -> None:
    first = cycle(tenant)
    assert first.stats["full_evaluation"] == 1
    # a training is cancelled: a registration (another list) now points to it
    planned = {i["id"] for i in tenant.emu.items("Schulungen")
               if i["fields"]["Status"] == "Geplant"}
    reg = next(i for i in tenant.emu.items("Anmeldungen")
               if str(i["fields"].get("SchulungLookupId")) in planned
               and i["fields"]["Status"] == "Angemeldet")
    tenant.emu.edit("Schulungen", reg["fields"]["SchulungLookupId"], {"Status": "Abgesagt"},
                    None)
    out = cycle(tenant)
    assert out.stats["full_evaluation"] == 0
    key = f"finding:registration-cancelled-training:registrations:{reg['id']}"
    assert status(tenant, key) == "Offen"
    # unchanged items keep their findings (not re-evaluated, not closed); only findings
    # of the cancelled training itself may close (its rules apply to planned trainings)
    tid = reg["fields"]["SchulungLookupId"]
    closed = [d for d in out.details if d.startswith("close ")]
    assert all(f":trainings:{tid} " in d for d in closed), closed
    assert status(tenant, "finding:project-lead-missing:projects:5") == "Offen"
    # a new day: everything is evaluated again (time-based rules)
    tenant.clock.advance(timedelta(days=1))
    assert cycle(tenant).stats["full_evaluation"] == 1



def test_provision_creates_befunde_and_findings_land_in_it(tmp_path: Path) -> None:
    """A tenant without the Befunde list: `provision` creates it from the mapping (owner
    columns included), and the validate job writes into it."""
    seed = demo_seed(MONDAY)
    for site in seed["sites"]:
        site["lists"] = [lst for lst in site["lists"] if lst["displayName"] != BEFUNDE]
    with Emulator(seed=seed, state_dir=tmp_path / "emulator") as emu:
        config = load_config(settings_for(emu, tmp_path))
        with services(config, clock=demo_clock(MONDAY, TZ)) as svc:
            created = provision_targets(svc, config.mapping)
            assert created[BEFUNDE] is True
            assert run_job(svc, config.job("dtc-sync")).status == "ok"
            out = run_job(svc, config.job("dtc-validate"))
            assert out.status == "ok" and out.stats["written"] == out.stats["findings"] > 0
        rows = emu.items(BEFUNDE)
        assert len(rows) == out.stats["findings"]
        assert all(r["fields"]["Status"] == "Offen" for r in rows)
