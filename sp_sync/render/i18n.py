"""Message catalogue (German default, English) and Babel formatting in the site's tz.

Kept as plain dicts: a handful of mail templates do not justify a gettext toolchain.
Templates call ``_("key", n=3)``; a missing English text falls back to German, a missing
key shows the key (a visible bug, not a crash). List values (choices like "Umsetzung")
are data and are never translated.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_time
from babel.numbers import format_currency, format_decimal

DE: dict[str, str] = {
    "subject.weekly": "DTC-Wochenüberblick KW {week}/{year}",
    "subject.lead": "Ihre DTC-Projekte – KW {week}/{year}",
    "subject.coordinator": "IT-Koordination: Ihr Wochenüberblick KW {week}/{year}",
    "subject.training": "Erinnerung: {title} am {date}",
    "subject.round_table": "Erinnerung: {title} am {date}",
    "late_prefix": "[verspätet] ",
    "stale_prefix": "[Daten nicht aktuell] ",
    "stale_note": "Achtung: Diese Daten sind nicht aktuell. Nicht rechtzeitig "
                  "synchronisiert: {lists}.",
    "late_note_mail": "Diese E-Mail kommt verspätet (geplant: {when}).",
    "week": "KW {week}/{year}",
    "since": "Änderungen seit {since}",
    "hello": "Guten Morgen,",
    "hello_name": "Hallo {name},",
    "intro.weekly": "hier ist der Überblick über Portfolio, Schulungen und Runde Tische.",
    "intro.lead": "das hat sich in Ihren Projekten getan, und das ist offen.",
    "intro.coordinator": "das betrifft Ihren Fachbereich ({departments}).",
    "intro.training": "Sie sind zu dieser Schulung angemeldet:",
    "intro.round_table": "der nächste Runde Tisch der IT-Koordination steht an:",
    "h.portfolio": "Portfolio auf einen Blick",
    "h.milestones": "Meilensteine: überfällig oder in {days} Tagen fällig",
    "h.changes": "Was sich geändert hat",
    "h.trainings": "Schulungen in den nächsten {days} Tagen",
    "h.round_table": "Nächster Runder Tisch",
    "h.actions": "Offene Aufgaben",
    "h.topics": "Themen",
    "h.trends": "TrendRadar: neue Einträge",
    "h.health": "Betrieb",
    "h.projects": "Ihre Projekte",
    "h.open_points": "Offene Punkte",
    "h.registrations": "Anmeldungen aus Ihrem Fachbereich",
    "projects_total": "{total} Projekte, davon {active} aktiv",
    "by_status": "Nach Status",
    "by_light": "Ampel (aktive Projekte)",
    "by_dezernat": "Nach Dezernat",
    "by_field": "Nach Handlungsfeld",
    "none": "keine",
    "nothing_changed": "Keine Änderungen.",
    "overdue_days": "seit {n} Tagen überfällig",
    "overdue_one": "seit 1 Tag überfällig",
    "due_today": "heute fällig",
    "due_in": "in {n} Tagen",
    "due_in_one": "morgen",
    "lead": "Leitung",
    "created": "neu",
    "updated": "geändert",
    "deleted": "gelöscht",
    "by_at": "von {who} am {when}",
    "at": "am {when}",
    "other_fields": "weitere Felder",
    "more": "… und {n} weitere",
    "seats": "Plätze: {taken} von {total} belegt",
    "seats_open": "Plätze: {taken} belegt (ohne Obergrenze)",
    "waiting": "Warteliste: {n}",
    "trainer": "Trainer/in",
    "no_trainer": "ohne Trainer/in",
    "cancelled": "abgesagt",
    "location": "Ort",
    "online": "Online",
    "moderator": "Moderation",
    "owner": "Verantwortlich",
    "open_for": "seit {n} Tagen offen",
    "due": "fällig {date}",
    "overdue": "überfällig",
    "own_department": "Ihr Fachbereich",
    "no_round_table": "Kein Runder Tisch geplant.",
    "no_department": "Noch keinem Fachbereich zugeordnet",
    "last_sync": "Letzte erfolgreiche Synchronisation",
    "never": "nie",
    "failed_runs": "Fehlgeschlagene oder unvollständige Läufe",
    "skipped": "Ausgelassene Wochen",
    "late_note": "Dieser Überblick kommt verspätet (geplant: {when}).",
    "all_ok": "Alles in Ordnung.",
    "open_link": "Öffnen",
    "to_list": "zur Liste",
    "calendar_hint": "Der Termin hängt als Kalendereintrag an.",
    "footer": "Automatisch erstellt von sp-sync für das Digital Transformation Center{org}.",
    "light": "Ampel",
    "status": "Status",
    "participant": "Teilnehmer/in",
    "start": "Beginn",
    "list.projects": "Projekte",
    "list.trainings": "Schulungen",
    "list.registrations": "Anmeldungen",
    "list.round_tables": "Runde Tische",
    "list.topics": "Themen und Aufgaben",
    "list.trend_radar": "TrendRadar",
    "list.departments": "Fachbereiche",
    "list.users": "Personen",
    "list.attendance": "Teilnahme",
    "list.public_projects": "Projekte (öffentlich)",
    "h.findings": "Befunde zur Datenqualität",
    "h.my_findings": "Ihre offenen Befunde",
    "findings.open": "{n} offen",
    "findings.by_list": "Nach Liste",
    "findings.new": "Neu seit dem letzten Überblick ({n})",
    "findings.resolved": "Erledigt seit dem letzten Überblick ({n})",
    "findings.first_seen": "seit {date}",
    "findings.all": "Alle Befunde in der Liste Befunde",
    "findings.hint": "Bitte korrigieren Sie die Einträge; ein Befund schließt sich dann von "
                     "selbst. Ist etwas so gewollt, können Sie den Befund in der Liste "
                     "Befunde zurückstellen oder akzeptieren.",
    "list.findings": "Befunde",
    "col.status": "Status",
    "col.traffic_light": "Ampel",
    "col.lead": "DTC-Leitung",
    "col.next_milestone": "Nächster Meilenstein",
    "col.milestone_date": "Meilenstein-Datum",
    "col.planned_end": "Geplantes Ende",
    "col.start": "Beginn",
    "col.end": "Ende",
    "col.trainer": "Trainer/in",
    "col.max_participants": "Max. Teilnehmende",
    "col.location": "Ort",
    "col.participant": "Teilnehmer/in",
    "col.date": "Termin",
    "col.moderator": "Moderation",
    "col.owner": "Verantwortlich",
    "col.due": "Fällig am",
    "col.kind": "Art",
    "col.maturity": "Reifegrad",
    "col.coordinator": "IT-Koordination",
    "col.deputy": "Vertretung",
    "col.active": "Aktiv",
    "col.title": "Titel",
    "col.topic": "Thema",
    "col.status_report": "Statusbericht",
    "col.budget": "Budget",
    "col.description": "Beschreibung",
    "col.minutes": "Protokoll",
}

EN: dict[str, str] = {
    "subject.weekly": "DTC weekly overview, week {week}/{year}",
    "subject.lead": "Your DTC projects, week {week}/{year}",
    "subject.coordinator": "IT coordination: your weekly overview, week {week}/{year}",
    "subject.training": "Reminder: {title} on {date}",
    "subject.round_table": "Reminder: {title} on {date}",
    "late_prefix": "[late] ",
    "stale_prefix": "[data not current] ",
    "stale_note": "Warning: this data is not current. Not synchronised in time: {lists}.",
    "late_note_mail": "This e-mail is late (scheduled: {when}).",
    "week": "week {week}/{year}",
    "since": "Changes since {since}",
    "hello": "Good morning,",
    "hello_name": "Hello {name},",
    "intro.weekly": "here is the overview of the portfolio, trainings and round tables.",
    "intro.lead": "this is what happened in your projects, and what is open.",
    "intro.coordinator": "this concerns your department ({departments}).",
    "intro.training": "You are registered for this training:",
    "intro.round_table": "the next round table of the IT coordinators is coming up:",
    "h.portfolio": "Portfolio at a glance",
    "h.milestones": "Milestones: overdue or due within {days} days",
    "h.changes": "What changed",
    "h.trainings": "Trainings in the next {days} days",
    "h.round_table": "Next round table",
    "h.actions": "Open action items",
    "h.topics": "Topics",
    "h.trends": "Trend radar: new items",
    "h.health": "Service health",
    "h.projects": "Your projects",
    "h.open_points": "Open points",
    "h.registrations": "Registrations from your department",
    "projects_total": "{total} projects, {active} of them active",
    "by_status": "By status",
    "by_light": "Traffic light (active projects)",
    "by_dezernat": "By Dezernat",
    "by_field": "By strategic field",
    "none": "none",
    "nothing_changed": "No changes.",
    "overdue_days": "overdue by {n} days",
    "overdue_one": "overdue by 1 day",
    "due_today": "due today",
    "due_in": "in {n} days",
    "due_in_one": "tomorrow",
    "lead": "Lead",
    "created": "new",
    "updated": "changed",
    "deleted": "deleted",
    "by_at": "by {who} on {when}",
    "at": "on {when}",
    "other_fields": "other fields",
    "more": "… and {n} more",
    "seats": "Seats: {taken} of {total} taken",
    "seats_open": "Seats: {taken} taken (no limit)",
    "waiting": "Waiting list: {n}",
    "trainer": "Trainer",
    "no_trainer": "no trainer",
    "cancelled": "cancelled",
    "location": "Place",
    "online": "Online",
    "moderator": "Moderator",
    "owner": "Owner",
    "open_for": "open for {n} days",
    "due": "due {date}",
    "overdue": "overdue",
    "own_department": "your department",
    "no_round_table": "No round table planned.",
    "no_department": "Not assigned to a department yet",
    "last_sync": "Last successful sync",
    "never": "never",
    "failed_runs": "Failed or partial runs",
    "skipped": "Skipped weeks",
    "late_note": "This overview is late (scheduled: {when}).",
    "all_ok": "All good.",
    "open_link": "Open",
    "to_list": "to the list",
    "calendar_hint": "The appointment is attached as a calendar entry.",
    "footer": "Generated by sp-sync for the Digital Transformation Center{org}.",
    "light": "Traffic light",
    "participant": "Participant",
    "start": "Start",
    "list.projects": "Projects",
    "list.trainings": "Trainings",
    "list.registrations": "Registrations",
    "list.round_tables": "Round tables",
    "list.topics": "Topics and action items",
    "list.trend_radar": "Trend radar",
    "list.departments": "Departments",
    "list.users": "People",
    "list.attendance": "Attendance",
    "list.public_projects": "Projects (public)",
    "h.findings": "Data quality findings",
    "h.my_findings": "Your open findings",
    "findings.open": "{n} open",
    "findings.by_list": "By list",
    "findings.new": "New since the last overview ({n})",
    "findings.resolved": "Closed since the last overview ({n})",
    "findings.first_seen": "since {date}",
    "findings.all": "All findings in the list Befunde",
    "findings.hint": "Please correct the items; a finding then closes itself. If something "
                     "is intended, you can postpone or accept the finding in the list "
                     "Befunde.",
    "list.findings": "Findings",
    "col.traffic_light": "Traffic light",
    "col.lead": "DTC lead",
    "col.next_milestone": "Next milestone",
    "col.milestone_date": "Milestone date",
    "col.planned_end": "Planned end",
    "col.start": "Start",
    "col.end": "End",
    "col.max_participants": "Max. participants",
    "col.location": "Place",
    "col.participant": "Participant",
    "col.date": "Date",
    "col.moderator": "Moderator",
    "col.owner": "Owner",
    "col.due": "Due",
    "col.kind": "Kind",
    "col.maturity": "Maturity",
    "col.coordinator": "IT coordinator",
    "col.deputy": "Deputy",
    "col.active": "Active",
    "col.title": "Title",
    "col.topic": "Topic",
    "col.status_report": "Status report",
    "col.description": "Description",
    "col.minutes": "Minutes",
}

CATALOGUES = {"de": DE, "en": EN}


class Formatter:
    """Texts and date/number formats for one locale ("de", "de_DE", "en" …) and tz."""

    def __init__(self, locale: str = "de_DE", tz: str = "Europe/Berlin") -> None:
        self.locale = locale.replace("-", "_")
        self.language = self.locale.split("_")[0].lower()
        if self.language not in CATALOGUES:
            raise ValueError(
                f"no mail texts for locale {locale!r}; use one of {sorted(CATALOGUES)}")
        self.tz = ZoneInfo(tz)
        self._texts = CATALOGUES[self.language]

    def text(self, key: str, **values: object) -> str:
        template = self._texts.get(key) or DE.get(key) or key
        return template.format(**values) if values else template

    def list_name(self, list_key: str) -> str:
        """A list's name for readers; an unknown key shows as itself."""
        return self.text(f"list.{list_key}") if f"list.{list_key}" in DE else list_key

    def column(self, column: str) -> str:
        return self.text(f"col.{column}") if f"col.{column}" in DE else column

    def _local(self, value: datetime) -> datetime:
        return value.astimezone(self.tz) if value.tzinfo else value.replace(tzinfo=self.tz)

    def long_date(self, value: date | datetime) -> str:
        """"Montag, 30. November 2026"."""
        day = self._local(value).date() if isinstance(value, datetime) else value
        return format_date(day, "full", locale=self.locale)

    def short_date(self, value: date | datetime) -> str:
        """"30.11.2026"."""
        day = self._local(value).date() if isinstance(value, datetime) else value
        return format_date(day, "medium" if self.language == "en" else "dd.MM.yyyy",
                           locale=self.locale)

    def time(self, value: datetime) -> str:
        return format_time(self._local(value), "short", locale=self.locale)

    def date_time(self, value: datetime) -> str:
        """"Do., 03.12.2026, 09:00" in local time."""
        local = self._local(value)
        day = format_datetime(local, "EEE", tzinfo=self.tz, locale=self.locale)
        return f"{day} {self.short_date(local)}, {self.time(local)}"

    def long_date_time(self, value: datetime) -> str:
        return f"{self.long_date(value)}, {self.time(value)}"

    def number(self, value: float | int | Decimal) -> str:
        return format_decimal(value, locale=self.locale)

    def money(self, value: float | int | Decimal, currency: str = "EUR") -> str:
        """"1.234,50 €"."""
        return format_currency(value, currency, locale=self.locale)

    def week(self, period: str) -> str:
        year, week = period.split("-W")
        return self.text("week", week=int(week), year=year)
