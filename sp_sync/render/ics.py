"""Calendar attachments (.ics, METHOD:REQUEST) for reminders, made with ``icalendar``.

The UID is stable per list item and SEQUENCE grows with its modifications, so Outlook
updates the entry it already has instead of adding a second one when a date moves.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vCalAddress, vText

from sp_sync.domain.reminders import CalendarEvent


def to_ics(
    event: CalendarEvent,
    organizer: str,
    attendee: str | None = None,
    tz: str = "Europe/Berlin",
    stamp: datetime | None = None,
    cancel: bool = False,
) -> bytes:
    """One VCALENDAR with one VEVENT (local times with TZID and a VTIMEZONE).

    ``cancel``: the cancellation of that invitation — METHOD:CANCEL, STATUS:CANCELLED, the
    same UID and a SEQUENCE one above the event's, so calendar clients accept it.
    """
    zone = ZoneInfo(tz)
    cal = Calendar()
    cal.add("prodid", "-//sp-sync//DTC//DE")
    cal.add("version", "2.0")
    cal.add("method", "CANCEL" if cancel else "REQUEST")
    vevent = Event()
    vevent.add("uid", event.uid)
    vevent.add("sequence", event.sequence + 1 if cancel else event.sequence)
    if cancel:
        vevent.add("status", "CANCELLED")
    vevent.add("dtstamp", (stamp or datetime.now(UTC)).astimezone(UTC))
    vevent.add("summary", event.summary)
    vevent.add("dtstart", event.start.astimezone(zone))
    vevent.add("dtend", event.end.astimezone(zone))
    if event.location:
        vevent.add("location", event.location)
    if event.description:
        vevent.add("description", event.description)
    if event.url:
        vevent.add("url", event.url)
    org = vCalAddress(f"mailto:{organizer}")
    org.params["cn"] = vText("Digital Transformation Center")
    vevent.add("organizer", org)
    if attendee:
        who = vCalAddress(f"mailto:{attendee}")
        if not cancel:
            who.params["role"] = vText("REQ-PARTICIPANT")
            who.params["rsvp"] = vText("FALSE")
        vevent.add("attendee", who)
    cal.add_component(vevent)
    # VTIMEZONE rules for about a year around the event only (keeps the file small)
    cal.add_missing_timezones(first_date=event.start.date() - timedelta(days=366),
                              last_date=event.end.date() + timedelta(days=366))
    return bytes(cal.to_ical())
