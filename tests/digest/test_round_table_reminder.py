"""The round-table reminder lists every open action, the recipient's department's marked
(issue 12: it used to say "Offene Aufgaben: keine" while the weekly digest listed them)."""

from __future__ import annotations

from sp_sync.domain.reminders import round_table_reminders
from sp_sync.render.mail import build_message, html_part, render_reminder

from .dataset import dataset
from .test_model import TZ, utc


def test_reminder_lists_all_open_actions_and_highlights_the_own_department() -> None:
    rs = round_table_reminders(dataset(), utc(2026, 12, 4, 7), TZ)
    clara, deniz = rs
    assert [a.title for a in clara.all_actions] == ["Checkliste Gerätewechsel", "Druckerkonzept"]
    assert clara.all_actions == deniz.all_actions
    text = render_reminder(clara).text
    assert "- Checkliste Gerätewechsel [IHR FACHBEREICH]" in text
    assert "- Druckerkonzept (" in text and "keine" not in text.split("Offene Aufgaben:")[1]
    other = render_reminder(deniz).text
    assert "- Druckerkonzept [IHR FACHBEREICH]" in other
    assert "- Checkliste Gerätewechsel [IHR FACHBEREICH]" not in other
    html = html_part(build_message(render_reminder(clara), "dtc@mannheim.de",
                                   clara.recipient, "k")) or ""
    assert "Druckerkonzept" in html and html.count("Ihr Fachbereich") == 1


def test_english_reminder_marks_your_department() -> None:
    clara = round_table_reminders(dataset(), utc(2026, 12, 4, 7), TZ)[0]
    assert "[YOUR DEPARTMENT]" in render_reminder(clara, locale="en").text
