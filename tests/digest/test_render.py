"""Rendering: golden text part, English, escaping, links, MIME structure, admin templates."""

from __future__ import annotations

import os
from dataclasses import replace
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest

from sp_sync.domain.digest import build_weekly
from sp_sync.domain.model import Link
from sp_sync.domain.reminders import training_reminders
from sp_sync.render.env import safe_url
from sp_sync.render.i18n import Formatter
from sp_sync.render.ics import to_ics
from sp_sync.render.mail import build_message, html_part, render_reminder, render_weekly, text_part
from tests.digest.dataset import NOW, PERIOD, SINCE, TZ, changes, dataset, health, rec, utc

GOLDEN = Path(__file__).parent / "golden"
REPO = Path(__file__).resolve().parents[2]


def weekly(**kw):  # type: ignore[no-untyped-def]
    return build_weekly(kw.pop("records", None) or dataset(), changes(), health(), PERIOD, NOW,
                        TZ, SINCE)


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("SP_SYNC_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def test_weekly_text_part_golden_german() -> None:
    r = render_weekly(weekly(), "de_DE", organisation="Stadt Mannheim")
    assert r.subject == "DTC-Wochenüberblick KW 49/2026"
    check_golden("weekly_de.txt", r.text)


def test_weekly_in_english() -> None:
    r = render_weekly(weekly(), "en", organisation="City of Mannheim")
    assert r.subject == "DTC weekly overview, week 49/2026"
    assert "Monday, November 30, 2026" in r.text
    assert "== What changed ==" in r.text and "Traffic light: Grün → Gelb" in r.text
    assert 'lang="en"' in r.html


def test_babel_formats_dates_weeks_and_money() -> None:
    fmt = Formatter("de_DE", TZ)
    assert fmt.long_date(utc(2026, 11, 30, 6)) == "Montag, 30. November 2026"
    assert fmt.week("2026-W49") == "KW 49/2026"
    assert fmt.money(1234.5).replace("\xa0", " ") == "1.234,50 €"
    assert fmt.time(utc(2026, 7, 1, 5)) == "07:00"  # CEST


def test_late_digest_says_so_in_subject_and_body() -> None:
    d = build_weekly(dataset(), [], health(late=True, scheduled=NOW,
                                           skipped_periods=("2026-W47", "2026-W48")),
                     PERIOD, utc(2026, 11, 30, 9), TZ, SINCE)
    r = render_weekly(d)
    assert r.subject.startswith("[verspätet] ")
    assert "Dieser Überblick kommt verspätet (geplant: Montag, 30. November 2026, 07:00)" \
        in r.text
    assert "Ausgelassene Wochen: KW 47/2026, KW 48/2026" in r.text
    assert "KW 48/2026" in r.html


def test_list_values_are_data_never_markup() -> None:
    records = dataset()
    records["projects"].append(rec(
        "projects", 66, title="<script>alert(1)</script> & <b>fett</b>", status="Planung",
        milestone_date=utc(2026, 12, 2).date(), next_milestone='"><img src=x onerror=y>'))
    # neither an unsafe source link nor an unsafe item address may become a link
    records["trend_radar"].append(replace(
        rec("trend_radar", 9, title="Böse", status="Neu", source_link=Link("javascript:x()")),
        web_url="javascript:alert(2)"))
    html = render_weekly(weekly(records=records)).html
    assert "<script>" not in html and "<b>fett</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;fett&lt;/b&gt;" in html
    assert "<img" not in html
    assert "javascript:" not in html
    assert "Böse" in html


@pytest.mark.parametrize(
    ("url", "ok"),
    [("https://a.example/x?y=1", True), ("http://a", True), ("mailto:dtc@mannheim.de", True),
     ("javascript:alert(1)", False), (" JavaScript:alert(1)", False), ("data:text/html,x", False),
     ("vbscript:x", False), ("/relative", False), ("https://a\nb", False), (None, False)],
)
def test_safe_url(url: str | None, ok: bool) -> None:
    assert (safe_url(url) is not None) is ok


def test_message_is_multipart_alternative_with_our_headers() -> None:
    r = render_weekly(weekly())
    msg = build_message(r, "dtc@mannheim.de", "team@mannheim.de",
                        "weekly-digest/2026-W49/team@mannheim.de", date=NOW)
    parsed = message_from_bytes(bytes(msg), policy=default)
    assert isinstance(parsed, EmailMessage)
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert parsed["Message-ID"].endswith("@mannheim.de>")
    assert parsed["X-SP-Sync-Key"] == "weekly-digest/2026-W49/team@mannheim.de"
    assert parsed["Subject"] == "DTC-Wochenüberblick KW 49/2026"
    assert parsed["Date"] == "Mon, 30 Nov 2026 06:00:00 +0000"
    assert text_part(parsed) == r.text.replace("\r\n", "\n")
    html = html_part(parsed) or ""
    assert "<style" not in html and 'style="' in html  # CSS inlined for Outlook
    assert len(html.encode()) < 100_000


def test_reminder_carries_an_ics_request() -> None:
    (rem, _) = training_reminders(dataset(), utc(2026, 12, 1, 7), TZ)
    r = render_reminder(rem)
    assert r.subject == "Erinnerung: SharePoint Grundlagen am Do. 03.12.2026, 09:00"
    ics = to_ics(rem.event, "dtc@mannheim.de", rem.recipient, TZ, stamp=NOW)
    msg = build_message(r, "dtc@mannheim.de", rem.recipient, "reminders/x/y", ics=ics)
    parsed = message_from_bytes(bytes(msg), policy=default)
    types = [p.get_content_type() for p in parsed.walk()]
    assert types == ["multipart/mixed", "multipart/alternative", "text/plain", "text/html",
                     "text/calendar"]
    cal = next(p for p in parsed.walk() if p.get_content_type() == "text/calendar")
    assert cal.get_param("method") == "REQUEST"
    body = cal.get_payload(decode=True).decode()  # type: ignore[union-attr]
    for line in ("METHOD:REQUEST", "UID:trainings-17@sp-sync", "SUMMARY:SharePoint Grundlagen",
                 "DTSTART;TZID=Europe/Berlin:20261203T090000",
                 "DTEND;TZID=Europe/Berlin:20261203T120000", "LOCATION:Raum 101",
                 "TZID:Europe/Berlin", f"SEQUENCE:{rem.event.sequence}"):
        assert line in body


def test_admin_template_extends_the_packaged_default(tmp_path: Path) -> None:
    (tmp_path / "weekly.html").write_text(
        '{% extends "default/weekly.html" %}'
        '{% block intro %}<p>Moin {{ "<DTC>" }}!</p>{% endblock %}', encoding="utf-8")
    (tmp_path / "weekly.txt").write_text(
        '{% extends "default/weekly.txt" %}{% block intro %}Moin DTC!\n{% endblock %}',
        encoding="utf-8")
    r = render_weekly(weekly(), templates_dir=tmp_path)
    assert "Moin &lt;DTC&gt;!" in r.html and "Portfolio auf einen Blick" in r.html
    assert "Moin DTC!" in r.text and "Guten Morgen" not in r.text
    # the repository's copies render exactly like the defaults
    default_r = render_weekly(weekly())
    repo_r = render_weekly(weekly(), templates_dir=REPO / "jobs" / "templates")
    assert (repo_r.text, repo_r.html) == (default_r.text, default_r.html)
