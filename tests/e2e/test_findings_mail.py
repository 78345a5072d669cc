"""Where people see findings (issue 10), end to end on the emulator: the owner's mail when
an error finding opens (once per opening, through the outbox), the weekly digest's
findings section with links, and a lead's digest with only the lead's own open findings."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from sp_sync.engine.runner import run_job

from .conftest import Tenant, open_tenant
from .test_validate_findings import befunde, cycle, email_of

END_BEFORE_START = "finding:project-end-before-start:projects:9"


def mails(t: Tenant) -> list[dict[str, Any]]:
    return t.emu.mail()


def finding_mails(t: Tenant) -> list[dict[str, Any]]:
    return [m for m in mails(t) if re.match(r"^(Fehler|Warnung|Hinweis) in ", m["subject"])]


def owned_errors(t: Tenant) -> dict[str, str]:
    """SyncKey → owner address of the open error findings whose owner is a live user."""
    out = {}
    for key, row in befunde(t).items():
        f = row["fields"]
        owner = email_of(t, f.get("VerantwortlichLookupId"))
        if f["Schweregrad"] == "Fehler" and f["Status"] == "Offen" and owner:
            out[key] = owner.lower()
    return out


def test_an_error_finding_mails_its_owner_once_per_opening(tenant: Tenant) -> None:
    t = tenant
    first = cycle(t)
    expected = owned_errors(t)
    assert END_BEFORE_START in expected and len(expected) >= 2
    sent = finding_mails(t)
    # one mail per error finding with an owner; warnings and infos mail nobody (default)
    assert sorted(r for m in sent for r in m["recipients"]) == sorted(expected.values())
    assert all(m["subject"].startswith("Fehler in ") for m in sent)
    assert first.stats["sent"] == len(expected)
    row = befunde(t)[END_BEFORE_START]["fields"]
    lead = expected[END_BEFORE_START]
    (mail,) = [m for m in sent if m["recipients"] == [lead]
               and row["Eintrag"] in m["subject"]]
    assert row["Title"] in mail["text"] and row["Link"]["Url"] in mail["text"]
    assert mail["subject"] == f"Fehler in Projekte: „{row['Eintrag']}“"
    assert t.svc.store.outbox_get("dtc-validate", f"{END_BEFORE_START}#0", lead) is not None

    again = cycle(t)  # nothing opened: no mail
    assert len(finding_mails(t)) == len(sent) and again.stats.get("sent", 0) == 0

    project = next(i for i in t.emu.items("Projekte") if i["id"] == "9")
    old_end = project["fields"]["Geplantes_x0020_Ende"]
    t.emu.edit("Projekte", 9, {"Geplantes_x0020_Ende": "2027-12-31T23:00:00Z"}, lead)
    cycle(t)  # fixed: closed, no mail
    assert befunde(t)[END_BEFORE_START]["fields"]["Status"] == "Behoben"
    assert len(finding_mails(t)) == len(sent)

    t.emu.edit("Projekte", 9, {"Geplantes_x0020_Ende": old_end}, lead)
    reopened = cycle(t)  # failing again: the same row re-opens, and one more mail
    assert befunde(t)[END_BEFORE_START]["fields"]["Wieder_x0020_ge_x00f6_ffnet"] == 1
    new = finding_mails(t)[len(sent):]
    assert [(m["recipients"], m["subject"]) for m in new] == [([lead], mail["subject"])]
    assert reopened.stats["sent"] == 1
    assert t.svc.store.outbox_get("dtc-validate", f"{END_BEFORE_START}#1", lead) is not None
    cycle(t)
    assert len(finding_mails(t)) == len(sent) + 1


def test_a_dry_run_lists_the_owner_mails_and_sends_nothing(tenant: Tenant) -> None:
    t = tenant
    assert run_job(t.svc, t.config.job("dtc-sync")).status == "ok"
    dry = run_job(t.svc, t.config.job("dtc-validate"), dry_run=True)
    assert dry.status == "ok" and dry.dry_run
    planned = [p for p in (dry.plan_text or "").splitlines() + dry.details
               if p.startswith("mail finding:")]
    assert any(p.startswith(f"mail {END_BEFORE_START}#0 → ") for p in planned), planned
    assert mails(t) == []
    assert t.svc.store.outbox_pending() == []
    assert dry.stats["planned_mails"] >= 2

    real = cycle(t)  # the real run sends what the dry run listed
    assert real.stats["sent"] == dry.stats["planned_mails"] == len(finding_mails(t))


def test_owner_mails_can_be_turned_off(tenant: Tenant) -> None:
    t = tenant
    job = t.config.job("dtc-validate")
    quiet = replace(job, params=job.params.model_copy(update={"notify_owner_on": []}))
    assert run_job(t.svc, t.config.job("dtc-sync")).status == "ok"
    assert run_job(t.svc, quiet).status == "ok"
    assert befunde(t) and mails(t) == []


def section(text: str, heading: str) -> str:
    """The text of one ``== heading ==`` section of a text digest."""
    start = text.index(f"== {heading} ==")
    end = text.find("\n== ", start + 1)
    return text[start:end if end >= 0 else None]


def validated(t: Tenant) -> None:
    """Two validate runs: the second one's pull mirrors the Befunde rows the first wrote
    (digests read the mirror, as the schedule's 15-minute validate runs keep it)."""
    cycle(t)
    cycle(t)


def test_weekly_digest_shows_the_findings_section_with_links(tenant: Tenant) -> None:
    t = tenant
    validated(t)
    out = run_job(t.svc, t.config.job("weekly-digest"))
    assert out.status == "ok" and out.stats["sent"] == 1
    (digest,) = [m for m in mails(t) if m["subject"].startswith("DTC-Wochenüberblick")]
    part = section(digest["text"], "Befunde zur Datenqualität")
    rows = [r["fields"] for r in befunde(t).values()]
    open_rows = [f for f in rows if f["Status"] == "Offen"]
    assert f"{len(open_rows)} offen: Fehler " in part
    assert f"Neu seit dem letzten Überblick ({len(open_rows)})" in part  # all first seen today
    assert "Erledigt seit dem letzten Überblick (0)" in part
    lead_missing = befunde(t)["finding:project-lead-missing:projects:5"]["fields"]
    assert lead_missing["Title"] in part and lead_missing["Link"]["Url"] in part
    assert "/Lists/Befunde" in part  # the link to every finding
    assert part.index("Fehler (") < part.index("Warnung (")  # by severity, errors first


def test_a_leads_digest_shows_only_the_leads_own_open_findings(tenant: Tenant) -> None:
    t = tenant
    validated(t)
    t.clock.advance(timedelta(minutes=30))  # lead digests are due at 07:30
    assert run_job(t.svc, t.config.job("dtc-sync")).status == "ok"
    out = run_job(t.svc, t.config.job("lead-digests"))
    assert out.status == "ok" and out.stats["sent"] >= 1
    rows = befunde(t)
    lead = email_of(t, rows[END_BEFORE_START]["fields"]["VerantwortlichLookupId"])
    assert lead is not None
    by_to = {m["recipients"][0]: m for m in mails(t)
             if m["subject"].startswith("Ihre DTC-Projekte")}
    checked = 0
    for to, mail in by_to.items():
        mine = {k: r["fields"] for k, r in rows.items() if r["fields"]["Status"] == "Offen"
                and (email_of(t, r["fields"].get("VerantwortlichLookupId")) or "").lower()
                == to}
        if not mine:
            assert "== Ihre offenen Befunde ==" not in mail["text"]
            continue
        part = section(mail["text"], "Ihre offenen Befunde")
        for f in mine.values():
            assert f["Title"] in part and f["Link"]["Url"] in part
        others = [r["fields"]["Title"] for k, r in rows.items() if k not in mine]
        assert not [o for o in others if o in part and not any(o in m for m in
                                                                 (f["Title"] for f in
                                                                  mine.values()))]
        checked += 1
    assert lead.lower() in by_to and checked >= 1
    assert rows[END_BEFORE_START]["fields"]["Title"] in by_to[lead.lower()]["text"]


def test_owner_mails_follow_the_recipient_rules(tmp_path: Path) -> None:
    with open_tenant(tmp_path, mail_allowed_domains=["stadt.example"]) as t:
        out = cycle(t)
        assert befunde(t) and finding_mails(t) == []
        assert out.stats["recipients_skipped"] >= 2 and out.stats.get("sent", 0) == 0
        assert any("not in the allowed recipient domains" in d for d in out.details)
        assert t.svc.store.outbox_pending() == []
