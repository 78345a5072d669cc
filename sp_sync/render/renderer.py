"""The renderer behind :class:`~sp_sync.ports.Renderer`: Jinja2 templates, css-inline,
icalendar. The engine reaches it through the port (wired in ``sp_sync.app``)."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

from sp_sync.domain.digest import WeeklyDigest
from sp_sync.domain.mail_content import Notices, NoticeText, Rendered
from sp_sync.domain.personal import CoordinatorDigest, LeadDigest
from sp_sync.domain.reminders import CalendarEvent, Reminder
from sp_sync.render.ics import to_ics
from sp_sync.render.mail import (
    build_message,
    render_coordinator,
    render_lead,
    render_reminder,
    render_weekly,
)
from sp_sync.render.notices import render_notice


class TemplateRenderer:
    """Implements :class:`~sp_sync.ports.Renderer` with the packaged templates."""

    def weekly(self, digest: WeeklyDigest, locale: str, templates_dir: Path | None,
               organisation: str | None, notices: Notices | None = None) -> Rendered:
        return render_weekly(digest, locale, templates_dir, organisation, notices)

    def lead(self, digest: LeadDigest, tz: str, locale: str, templates_dir: Path | None,
             organisation: str | None, notices: Notices | None = None) -> Rendered:
        return render_lead(digest, tz, locale, templates_dir, organisation, notices)

    def coordinator(self, digest: CoordinatorDigest, tz: str, locale: str,
                    templates_dir: Path | None, organisation: str | None,
                    notices: Notices | None = None) -> Rendered:
        return render_coordinator(digest, tz, locale, templates_dir, organisation, notices)

    def reminder(self, reminder: Reminder, tz: str, locale: str, templates_dir: Path | None,
                 organisation: str | None, notices: Notices | None = None) -> Rendered:
        return render_reminder(reminder, tz, locale, templates_dir, organisation, notices)

    def notice(self, text: NoticeText, tz: str, locale: str) -> Rendered:
        return render_notice(text, tz, locale)

    def message(self, rendered: Rendered, sender: str, recipient: str, key: str,
                ics: bytes | None = None, date: datetime | None = None,
                method: str = "REQUEST") -> EmailMessage:
        return build_message(rendered, sender, recipient, key, ics=ics, date=date,
                             method=method)

    def invitation(self, event: CalendarEvent, organizer: str, attendee: str | None,
                   tz: str, stamp: datetime | None = None) -> bytes:
        return to_ics(event, organizer, attendee, tz, stamp)

    def cancellation(self, event: CalendarEvent, organizer: str, attendee: str | None,
                     tz: str, stamp: datetime | None = None) -> bytes:
        return to_ics(event, organizer, attendee, tz, stamp, cancel=True)
