"""The findings section of the digests and the owner's notice, rendered (German default,
English): links, escaping, the cap, personal digests with only the recipient's own
findings, and a lead whose only news is a finding."""

from __future__ import annotations

from datetime import date
from typing import Any

from sp_sync.domain.digest import build_weekly
from sp_sync.domain.model import Link, Record
from sp_sync.domain.personal import build_coordinator_digests, build_lead_digests
from sp_sync.render.mail import render_coordinator, render_lead, render_weekly
from sp_sync.render.notices import NoticeText, render_notice
from tests.digest.dataset import NOW, PERIOD, SINCE, SITE, TZ, changes, dataset, health, person

BEFUNDE = f"{SITE}/Lists/Befunde"


def finding(n: int, **v: Any) -> Record:
    values: dict[str, Any] = {
        "message": f"Befund {n}", "severity": "Warnung", "list": "Projekte", "status": "Offen",
        "first_seen": date(2026, 11, 2), "owner": person(1),
        "link": Link(f"{SITE}/Lists/Projekte/DispForm.aspx?ID={n}", f"Projekt {n}"),
    }
    values.update(v)
    return Record("findings", str(n), values, web_url=f"{BEFUNDE}/DispForm.aspx?ID={n}")


def records(*rows: Record) -> dict[str, list[Record]]:
    return {**dataset(), "findings": list(rows)}


FINDINGS = (
    finding(1, severity="Fehler", message="Projekt „A“ <b>hat</b> keine DTC-Leitung.",
            first_seen=date(2026, 11, 27)),
    finding(2),
    finding(3, status="Behoben", closed_at=date(2026, 11, 25)),
    finding(4, status="Akzeptiert"),
    finding(5, list="Schulungen", severity="Hinweis", owner=person(2)),
    finding(6, first_seen=date(2026, 11, 23)),  # the day of the last digest: new again
)


def weekly(*rows: Record):  # type: ignore[no-untyped-def]
    return build_weekly(records(*rows), changes(), health(), PERIOD, NOW, TZ, SINCE)


def section(text: str, heading: str) -> str:
    start = text.index(f"== {heading} ==")
    end = text.find("\n== ", start + 1)
    return text[start:end]


def test_weekly_section_new_resolved_and_open_by_severity_and_list() -> None:
    d = weekly(*FINDINGS)
    assert d.findings is not None
    assert [f.message for f in d.findings.new] == [FINDINGS[0].values["message"], "Befund 6"]
    r = render_weekly(d, "de_DE")
    part = section(r.text, "Befunde zur Datenqualität")
    assert "4 offen: Fehler 1 · Warnung 2 · Hinweis 1" in part
    assert "Nach Liste: Projekte 3 · Schulungen 1" in part
    assert "Neu seit dem letzten Überblick (2)" in part
    assert "Erledigt seit dem letzten Überblick (1)" in part
    assert "- [Warnung] Befund 3 (Projekte, Behoben 25.11.2026)" in part
    for n in (1, 2, 3, 5, 6):
        assert f"{SITE}/Lists/Projekte/DispForm.aspx?ID={n}" in part
    assert "ID=4" not in part  # accepted: not nagged
    assert part.index("Fehler (1):") < part.index("Warnung (2):") < part.index("Hinweis (1):")
    assert f"Alle Befunde in der Liste Befunde: {BEFUNDE}" in part
    # HTML: the same section, values escaped, links as links
    assert "Befunde zur Datenqualität" in r.html
    assert "&lt;b&gt;hat&lt;/b&gt;" in r.html and "<b>hat</b>" not in r.html
    assert f'<a href="{SITE}/Lists/Projekte/DispForm.aspx?ID=1" ' in r.html


def test_weekly_section_in_english_and_absent_without_findings() -> None:
    r = render_weekly(weekly(*FINDINGS), "en")
    assert "== Data quality findings ==" in r.text and "4 open: Fehler 1" in r.text
    assert "New since the last overview (2)" in r.text
    plain = render_weekly(weekly(), "de_DE")
    assert "Befunde" not in plain.text and "Befunde" not in plain.html


def test_weekly_section_caps_long_lists() -> None:
    many = [finding(100 + i, first_seen=date(2026, 11, 1)) for i in range(45)]
    part = section(render_weekly(weekly(*many), "de_DE").text, "Befunde zur Datenqualität")
    assert "45 offen" in part and "… und 15 weitere" in part
    assert part.count("/Lists/Projekte/DispForm.aspx") == 30


def test_personal_digests_show_only_the_recipients_own_open_findings() -> None:
    leads = {d.recipient: d for d in build_lead_digests(records(*FINDINGS), changes(), PERIOD,
                                                         NOW, TZ, SINCE)}
    anna = leads["anna.becker@mannheim.de"]
    assert [f.message for f in anna.findings] == [
        FINDINGS[0].values["message"], "Befund 2", "Befund 6"]
    text = render_lead(anna, TZ, "de_DE").text
    part = section(text, "Ihre offenen Befunde")
    assert "Befund 2 (Projekte, seit 02.11.2026)" in part and "Befund 5" not in part
    assert "Verantwortlich" not in part  # the recipient is the owner
    assert "zurückstellen oder akzeptieren" in part
    assert "Befund 2" in render_lead(anna, TZ, "en").text
    assert "Your open findings" in render_lead(anna, TZ, "en").text


def test_open_findings_alone_make_a_personal_digest() -> None:
    quiet = build_lead_digests(dataset(), [], PERIOD, NOW, TZ, SINCE)
    noisy = build_lead_digests(records(finding(9, owner=person(2))), [], PERIOD, NOW, TZ,
                               SINCE)
    assert "ben.koch@mannheim.de" not in {d.recipient for d in quiet}
    (ben,) = [d for d in noisy if d.recipient == "ben.koch@mannheim.de"]
    assert [f.message for f in ben.findings] == ["Befund 9"]
    coordinators = build_coordinator_digests(records(finding(9, owner=person(3))), [],
                                             PERIOD, NOW, TZ, SINCE)
    (clara,) = [c for c in coordinators if c.recipient == "clara.wolf@mannheim.de"]
    assert [f.message for f in clara.findings] == ["Befund 9"]
    assert "Befund 9" in section(render_coordinator(clara, TZ, "de_DE").text,
                                 "Ihre offenen Befunde")


def test_owner_notice_german_and_english() -> None:
    text = NoticeText(kind="finding", name="Anna Becker", title="Bürgerportal\n2.0",
                      start=NOW, link=f"{SITE}/Lists/Projekte/DispForm.aspx?ID=1",
                      message="Projekt „Bürgerportal 2.0“ hat keine DTC-Leitung.",
                      list="Projekte", severity="Fehler")
    de = render_notice(text)
    assert de.subject == "Fehler in Projekte: „Bürgerportal 2.0“"  # one header line
    assert "Hallo Anna Becker," in de.text and "keine DTC-Leitung" in de.text
    assert f"{SITE}/Lists/Projekte/DispForm.aspx?ID=1" in de.text
    assert "Befunde zurückstellen oder akzeptieren" in de.text
    en = render_notice(text, locale="en")
    assert en.subject == "Error in Projekte: “Bürgerportal 2.0”"
    assert "a finding (error)" in en.text and 'lang="en"' in en.html
