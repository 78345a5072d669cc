"""Notices of the round-table and training cycle → e-mails (German default, English).

    render_notice(notice, tz=…, locale=…)                 -> Rendered

Short, plain notices: a promotion from the waiting list (with the invitation), a cancelled
training (with a calendar file that cancels the invitation: same UID, METHOD:CANCEL), a
request to record training attendance, a reminder to the moderator to file minutes, and
the owner's notice of a new error finding (issue 10: what is wrong, the item's link, and
how to postpone or accept it in the Befunde list).
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from sp_sync.domain.mail_content import NoticeText, Rendered
from sp_sync.domain.mailsafe import clean_header

_SEVERITY_EN = {"Fehler": "Error", "Warnung": "Warning", "Hinweis": "Info"}

_TEXTS: dict[str, dict[str, str]] = {
    "de": {
        "promoted.subject": "Platz frei: Sie sind für „{title}“ am {date} angemeldet",
        "promoted.body": "in der Schulung „{title}“ am {date} ist ein Platz frei geworden. "
                         "Sie standen auf der Warteliste und sind jetzt angemeldet. Den Termin "
                         "finden Sie im Anhang.",
        "cancelled.subject": "Abgesagt: „{title}“ am {date}",
        "cancelled.body": "die Schulung „{title}“ am {date} ist abgesagt. Der Termin wird mit "
                          "der angehängten Kalenderdatei aus Ihrem Kalender entfernt.",
        "attendance.subject": "Bitte Teilnahme erfassen: „{title}“ am {date}",
        "attendance.body": "die Schulung „{title}“ am {date} ist vorbei, aber {count} "
                           "Anmeldung(en) stehen noch auf „Angemeldet“. Bitte tragen Sie in "
                           "der Liste ein, wer teilgenommen hat (Teilgenommen oder Nicht "
                           "erschienen):",
        "minutes.subject": "Protokoll fehlt: „{title}“ am {date}",
        "minutes.body": "der Runde Tisch „{title}“ am {date} hat noch kein Protokoll. Bitte "
                        "tragen Sie es in der Liste RundeTische ein:",
        "finding.subject": "{severity} in {list}: „{title}“",
        "finding.body": "sp-sync hat in der Liste „{list}“ einen Befund ({severity}) zu "
                        "einem Eintrag, für den Sie verantwortlich sind:\n\n{message}\n\n"
                        "Bitte korrigieren Sie den Eintrag; der Befund schließt sich beim "
                        "nächsten Lauf von selbst. Ist er so gewollt, können Sie ihn in der "
                        "Liste Befunde zurückstellen oder akzeptieren (mit Begründung).",
        "hello": "Hallo {name},",
        "bye": "Viele Grüße\nIhr Digital Transformation Center",
        "auto": "Diese Nachricht wurde automatisch von sp-sync erstellt.",
    },
    "en": {
        "promoted.subject": "A seat is free: you are registered for “{title}” on {date}",
        "promoted.body": "a seat has become free in the training “{title}” on {date}. You "
                         "were on the waiting list and are now registered. The calendar "
                         "entry is attached.",
        "cancelled.subject": "Cancelled: “{title}” on {date}",
        "cancelled.body": "the training “{title}” on {date} is cancelled. The attached "
                          "calendar file removes it from your calendar.",
        "attendance.subject": "Please record attendance: “{title}” on {date}",
        "attendance.body": "the training “{title}” on {date} is over, but {count} "
                           "registration(s) are still “Angemeldet”. Please record who took "
                           "part (Teilgenommen or Nicht erschienen) in the list:",
        "minutes.subject": "Minutes missing: “{title}” on {date}",
        "minutes.body": "the round table “{title}” on {date} has no minutes yet. Please add "
                        "them in the list RundeTische:",
        "finding.subject": "{severity} in {list}: “{title}”",
        "finding.body": "sp-sync has a finding ({severity_lower}) on an item in the list "
                        "“{list}” you are responsible for:\n\n{message}\n\nPlease correct the "
                        "item; the finding closes itself on the next run. If it is "
                        "intended, you can postpone or accept it (with a reason) in the "
                        "list Befunde.",
        "hello": "Hello {name},",
        "bye": "Kind regards\nThe Digital Transformation Center",
        "auto": "This message was created automatically by sp-sync.",
    },
}


def _lang(locale: str) -> str:
    return "en" if locale.lower().startswith("en") else "de"


def _date(start: datetime, tz: str, lang: str) -> str:
    local = start.astimezone(ZoneInfo(tz))
    return local.strftime("%d.%m.%Y, %H:%M Uhr" if lang == "de" else "%Y-%m-%d %H:%M")


def render_notice(notice: NoticeText, tz: str = "Europe/Berlin", locale: str = "de") -> Rendered:
    lang = _lang(locale)
    t = _TEXTS[lang]
    severity = _SEVERITY_EN.get(notice.severity, notice.severity) if lang == "en" \
        else notice.severity
    values = {"title": notice.title, "date": _date(notice.start, tz, lang),
              "count": notice.count, "name": notice.name, "message": notice.message,
              "list": notice.list, "severity": severity, "severity_lower": severity.lower()}
    subject = clean_header(t[f"{notice.kind}.subject"].format(**values))
    body = t[f"{notice.kind}.body"].format(**values)
    hello, bye = t["hello"].format(**values), t["bye"]
    lines = [hello, "", body]
    if notice.link:
        lines += ["", notice.link]
    lines += ["", bye, "", "-- ", t["auto"]]
    link = (f'<p><a href="{escape(notice.link, quote=True)}">{escape(notice.link)}</a></p>'
            if notice.link else "")
    html = (f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
            f"<title>{escape(subject)}</title></head><body>"
            f"<p>{escape(hello)}</p><p>{escape(body).replace(chr(10), '<br>')}</p>{link}"
            f"<p>{escape(bye).replace(chr(10), '<br>')}</p>"
            f'<p style="color:#666;font-size:12px">{escape(t["auto"])}</p></body></html>')
    return Rendered(subject, "\n".join(lines) + "\n", html)
