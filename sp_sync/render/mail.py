"""Digest models → e-mails: subject, text part, HTML part (CSS inlined for Outlook).

    render_weekly(digest, locale=…, templates_dir=…, organisation=…) -> Rendered
    render_lead / render_coordinator / render_reminder                  -> Rendered
    build_message(rendered, sender=…, recipient=…, key=…, ics=…)        -> EmailMessage

Templates are looked up in ``templates_dir`` first (a job's admin copies), then in the
packaged defaults (``sp_sync/render/templates/default``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import lru_cache
from pathlib import Path
from typing import Any

import css_inline

from sp_sync.domain.digest import WINDOW_DAYS, WeeklyDigest
from sp_sync.domain.mail_content import Notices, Rendered
from sp_sync.domain.mailsafe import clean_header
from sp_sync.domain.periods import parse_period
from sp_sync.domain.personal import CoordinatorDigest, LeadDigest
from sp_sync.domain.reminders import Reminder
from sp_sync.render.env import formatter_globals, make_environment
from sp_sync.render.i18n import Formatter

SYNC_KEY_HEADER = "X-SP-Sync-Key"


def _subject_prefix(notes: Notices, fmt: Formatter, late_in_subject: bool = True) -> str:
    prefix = fmt.text("stale_prefix") if notes.stale_lists else ""
    if notes.late_since is not None and late_in_subject:
        prefix += fmt.text("late_prefix")
    return prefix


def _notice_lines(notes: Notices, fmt: Formatter, late_in_body: bool = True) -> list[str]:
    out = []
    if notes.stale_lists:
        out.append(fmt.text("stale_note", lists=", ".join(
            fmt.list_name(k) for k in notes.stale_lists)))
    if notes.late_since is not None and late_in_body:
        out.append(fmt.text("late_note_mail", when=fmt.long_date_time(notes.late_since)))
    return out


_BODY = re.compile(r"(<body[^>]*>)", re.IGNORECASE)
_BANNER = ('<div style="background:#fef3c7;color:#92400e;border:2px solid #b45309;'
           'padding:10px 16px;margin:0;font-family:Arial,sans-serif;font-size:14px;'
           'font-weight:bold">{}</div>')


def _with_notices(rendered: Rendered, lines: Sequence[str]) -> Rendered:
    """The notices first in both parts (whatever the template does), so nobody misses them."""
    if not lines:
        return rendered
    from markupsafe import escape

    text = "\n".join(f"!! {line}" for line in lines) + "\n\n" + rendered.text
    banner = _BANNER.format("<br>".join(str(escape(line)) for line in lines))
    html, n = _BODY.subn(lambda m: m.group(1) + banner, rendered.html, count=1)
    return Rendered(rendered.subject, text, html if n else banner + rendered.html)


@lru_cache(maxsize=1)
def _inliner() -> Any:
    return css_inline.CSSInliner(load_remote_stylesheets=False, minify_css=True)


def _render(
    name: str, subject: str, fmt: Formatter, templates_dir: Path | str | None,
    organisation: str | None, **context: Any,
) -> Rendered:
    env = make_environment(str(templates_dir) if templates_dir else None)
    values = {
        **formatter_globals(fmt), "subject": subject, "window": WINDOW_DAYS,
        "org": f", {organisation}" if organisation else "", **context,
    }
    text = env.get_template(f"{name}.txt").render(values)
    html = env.get_template(f"{name}.html").render(values)
    return Rendered(subject, text, _inliner().inline(html))


def _week_subject(key: str, fmt: Formatter, period: str, late: bool = False) -> str:
    year, week = parse_period(period)
    subject = fmt.text(key, week=week, year=year)
    return fmt.text("late_prefix") + subject if late else subject


def render_weekly(
    digest: WeeklyDigest, locale: str = "de_DE", templates_dir: Path | str | None = None,
    organisation: str | None = None, notices: Notices | None = None,
) -> Rendered:
    """The weekly template says "late" itself (health section); ``notices`` add the rest."""
    fmt = Formatter(locale, digest.tz)
    notes = notices or Notices()
    subject = _subject_prefix(notes, fmt, late_in_subject=False) + _week_subject(
        "subject.weekly", fmt, digest.period, digest.health.late)
    rendered = _render("weekly", subject, fmt, templates_dir, organisation, d=digest)
    return _with_notices(rendered, _notice_lines(notes, fmt, late_in_body=False))


def _noticed(name: str, subject: str, fmt: Formatter, templates_dir: Path | str | None,
             organisation: str | None, notices: Notices | None, **context: Any) -> Rendered:
    notes = notices or Notices()
    rendered = _render(name, _subject_prefix(notes, fmt) + subject, fmt, templates_dir,
                       organisation, **context)
    return _with_notices(rendered, _notice_lines(notes, fmt))


def render_lead(
    digest: LeadDigest, tz: str = "Europe/Berlin", locale: str = "de_DE",
    templates_dir: Path | str | None = None, organisation: str | None = None,
    notices: Notices | None = None,
) -> Rendered:
    fmt = Formatter(locale, tz)
    subject = _week_subject("subject.lead", fmt, digest.period)
    return _noticed("lead", subject, fmt, templates_dir, organisation, notices, d=digest)


def render_coordinator(
    digest: CoordinatorDigest, tz: str = "Europe/Berlin", locale: str = "de_DE",
    templates_dir: Path | str | None = None, organisation: str | None = None,
    notices: Notices | None = None,
) -> Rendered:
    fmt = Formatter(locale, tz)
    subject = _week_subject("subject.coordinator", fmt, digest.period)
    return _noticed("coordinator", subject, fmt, templates_dir, organisation, notices,
                    d=digest)


def render_reminder(
    reminder: Reminder, tz: str = "Europe/Berlin", locale: str = "de_DE",
    templates_dir: Path | str | None = None, organisation: str | None = None,
    notices: Notices | None = None,
) -> Rendered:
    fmt = Formatter(locale, tz)
    subject = fmt.text(f"subject.{reminder.kind}", title=reminder.event.summary,
                       date=fmt.date_time(reminder.event.start))
    name = "training_reminder" if reminder.kind == "training" else "round_table_reminder"
    return _noticed(name, subject, fmt, templates_dir, organisation, notices, r=reminder)


def build_message(
    rendered: Rendered,
    sender: str,
    recipient: str,
    key: str,
    ics: bytes | None = None,
    date: datetime | None = None,
    method: str = "REQUEST",
) -> EmailMessage:
    """multipart/alternative (text, HTML), plus a text/calendar part when ``ics`` is given
    (``method``: REQUEST for an invitation, CANCEL for a cancellation).

    ``key`` is ``<job>/<period>/<recipient>``; the Message-ID is ours (domain of the
    sender), so a resend after a crash carries the same id. Header values are cleaned
    (no line breaks, control or bidi characters; bounded): list data can never add a
    header or make the message unbuildable.
    """
    msg = EmailMessage()
    msg["From"] = clean_header(sender)
    msg["To"] = clean_header(recipient, 320)
    msg["Subject"] = clean_header(rendered.subject)
    msg["Date"] = format_datetime((date or datetime.now(UTC)).astimezone(UTC))
    msg["Message-ID"] = make_msgid(idstring="spsync", domain=sender.rpartition("@")[2] or None)
    msg[SYNC_KEY_HEADER] = clean_header(key, 900)
    msg.set_content(rendered.text, subtype="plain", charset="utf-8")
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8")
    if ics is not None:
        msg.make_mixed()
        msg.add_attachment(ics, maintype="text", subtype="calendar",
                           params={"method": method}, filename="termin.ics")
    return msg


def html_part(msg: EmailMessage) -> str | None:
    """The HTML body of a message built by ``build_message``."""
    part = msg.get_body(preferencelist=("html",))
    return None if part is None else str(part.get_content())


def text_part(msg: EmailMessage) -> str | None:
    part = msg.get_body(preferencelist=("plain",))
    return None if part is None else str(part.get_content())
