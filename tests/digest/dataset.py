"""A small, fixed DTC dataset and clock for digest tests (Monday 2026-11-30, KW 49)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sp_sync.domain.digest import HealthInput
from sp_sync.domain.model import FieldChange, Link, Lookup, Person, Record, Value
from sp_sync.ports import RunRecord

TZ = "Europe/Berlin"
NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)  # Monday 07:00 local
SINCE = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
PERIOD = "2026-W49"
SITE = "https://mannheim.sharepoint.com/sites/dtc"
TITLES = {"projects": "Projekte", "trainings": "Schulungen", "registrations": "Anmeldungen",
          "round_tables": "RundeTische", "topics": "Themen", "trend_radar": "TrendRadar",
          "departments": "Fachbereiche", "users": "User Information List"}

USERS = {
    1: ("Anna Becker", "anna.becker@mannheim.de"),
    2: ("Ben Koch", "ben.koch@mannheim.de"),
    3: ("Clara Wolf", "clara.wolf@mannheim.de"),
    4: ("Deniz Yilmaz", "deniz.yilmaz@mannheim.de"),
    5: ("Eva Schmidt", "eva.schmidt@mannheim.de"),
}


def person(uid: int) -> Person:
    name, email = USERS[uid]
    return Person(name, email, uid)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def rec(list_key: str, item_id: int, modified: datetime | None = None, **values: Value) -> Record:
    url = f"{SITE}/Lists/{TITLES[list_key]}/DispForm.aspx?ID={item_id}"
    return Record(list_key, str(item_id), values, web_url=url,
                  modified=modified or utc(2026, 11, 1))


def dataset() -> dict[str, list[Record]]:
    d1, d2, d3 = Lookup(1, "Bürgerdienste"), Lookup(2, "Bildung"), Lookup(3, "IT-Service")
    return {
        "users": [rec("users", i, name=n, email=e) for i, (n, e) in USERS.items()],
        "departments": [
            rec("departments", 1, name="Bürgerdienste", code="FB11", dezernat="Dezernat I",
                coordinator=person(3), active=True),
            rec("departments", 2, name="Bildung", code="FB40", dezernat="Dezernat III",
                coordinator=person(4), active=True),
            rec("departments", 3, name="IT-Service", code="FB12", dezernat="Dezernat I",
                coordinator=person(5), active=False),
        ],
        "projects": [
            rec("projects", 1, number="P-01", title="Bürgerportal 2.0", department=d1,
                field="Digitale Verwaltung", lead=person(1), status="Umsetzung",
                traffic_light="Gelb", next_milestone="Go-live", milestone_date=date(2026, 11, 27),
                budget=1234.5),
            rec("projects", 2, number="P-02", title="Schul-WLAN", department=d2, field="Bildung",
                lead=person(2), status="Umsetzung", traffic_light="Grün",
                next_milestone="Ausschreibung", milestone_date=date(2026, 12, 7)),
            rec("projects", 3, number="P-03", title="E-Akte", department=d1,
                field="Digitale Verwaltung", lead=person(1), status="Planung",
                traffic_light="Rot", next_milestone="Konzept", milestone_date=date(2027, 1, 15)),
            rec("projects", 4, number="P-04", title="Sensorik Parks", department=d3,
                field="Smart City", lead=person(2), status="Abgeschlossen", traffic_light="Grün",
                next_milestone="Abnahme", milestone_date=date(2026, 11, 20)),
            rec("projects", 5, number="P-05", title="Mitmach-Plattform", department=d2,
                field="Teilhabe", status="Idee"),
        ],
        "trainings": [
            rec("trainings", 17, topic="SharePoint Grundlagen", category="SharePoint",
                start=utc(2026, 12, 3, 8), end=utc(2026, 12, 3, 11), location="Raum 101",
                trainer=person(5), max_participants=3.0, status="Geplant",
                modified=utc(2026, 11, 20, 9)),
            rec("trainings", 18, topic="KI im Büro", category="KI", start=utc(2026, 12, 10, 12),
                end=utc(2026, 12, 10, 15), online_link=Link("https://teams.example/ki"),
                max_participants=10.0, status="Geplant"),
            rec("trainings", 19, topic="Datenschutz kompakt", category="Datenschutz",
                start=utc(2027, 1, 10, 8), max_participants=20.0, status="Geplant"),
        ],
        "registrations": [
            rec("registrations", 1, training=Lookup(17), participant=person(1), department=d1,
                status="Angemeldet"),
            rec("registrations", 2, training=Lookup(17), participant=person(2), department=d2,
                status="Angemeldet"),
            rec("registrations", 3, training=Lookup(17), participant=person(3), department=d1,
                status="Warteliste"),
            rec("registrations", 4, training=Lookup(17), participant=person(4), department=d2,
                status="Storniert"),
            rec("registrations", 5, training=Lookup(18), participant=person(4), department=d2,
                status="Angemeldet"),
        ],
        "round_tables": [
            rec("round_tables", 5, title="Runder Tisch 23", date=utc(2026, 11, 23, 9),
                status="Durchgeführt"),
            rec("round_tables", 6, title="Runder Tisch 24", date=utc(2026, 12, 7, 9),
                location="Raum 3.14 und Teams", moderator=person(5), status="Geplant",
                modified=utc(2026, 11, 25, 12)),
        ],
        "topics": [
            rec("topics", 1, title="M365-Rollout", round_table=Lookup(6), kind="Thema",
                department=d1, status="Offen"),
            rec("topics", 2, title="Passwort-Richtlinie", round_table=Lookup(6), kind="Thema",
                department=d2, status="Offen"),
            rec("topics", 3, title="Checkliste Gerätewechsel", round_table=Lookup(5),
                kind="Aufgabe", owner=person(3), department=d1, due=date(2026, 11, 27),
                status="Offen"),
            rec("topics", 4, title="Druckerkonzept", round_table=Lookup(5), kind="Aufgabe",
                owner=person(4), department=d2, due=date(2026, 12, 15), status="Offen"),
            rec("topics", 5, title="Alte Aufgabe", round_table=Lookup(5), kind="Aufgabe",
                owner=person(4), status="Erledigt"),
        ],
        "trend_radar": [
            rec("trend_radar", 1, title="Copilot-Agenten", category="KI", maturity="Erproben",
                departments=(d1, d2), status="Neu",
                source_link=Link("https://example.org/copilot")),
            rec("trend_radar", 2, title="Digitaler Zwilling", category="IoT",
                maturity="Beobachten", status="Neu"),
            rec("trend_radar", 3, title="Alt", status="Bewertet"),
        ],
    }


def fc(list_key: str, item_id: int, column: str, old: Any, new: Any, who: str | None,
       at: datetime, kind: str = "updated") -> FieldChange:
    return FieldChange(list_key, str(item_id), column, old, new, who, at, kind)


def changes() -> list[FieldChange]:
    return [
        fc("projects", 1, "status", "Planung", "Umsetzung", "Anna Becker", utc(2026, 11, 24, 9)),
        fc("projects", 1, "traffic_light", "Grün", "Rot", "Anna Becker", utc(2026, 11, 25, 9)),
        fc("projects", 1, "traffic_light", "Rot", "Gelb", "Ben Koch", utc(2026, 11, 26, 9)),
        fc("projects", 1, "status_report", "alt", "neu", "Anna Becker", utc(2026, 11, 26, 10)),
        fc("projects", 2, "milestone_date", "2026-11-30T23:00:00Z", "2026-12-06T23:00:00Z",
           "Ben Koch", utc(2026, 11, 27, 14, 30)),
        fc("projects", 2, "lead", "1", "2", "Ben Koch", utc(2026, 11, 27, 14, 30)),
        # netted away: red and back again
        fc("projects", 3, "traffic_light", "Gelb", "Rot", "Anna Becker", utc(2026, 11, 24, 8)),
        fc("projects", 3, "traffic_light", "Rot", "Gelb", "Anna Becker", utc(2026, 11, 25, 8)),
        # before the window: ignored
        fc("projects", 4, "status", "Umsetzung", "Abgeschlossen", "Ben Koch", utc(2026, 11, 20)),
        fc("trainings", 18, "topic", None, "KI im Büro", "Eva Schmidt", utc(2026, 11, 28, 10),
           kind="created"),
        fc("registrations", 9, "title", "Anmeldung Zoe", None, "Eva Schmidt",
           utc(2026, 11, 29, 16), kind="deleted"),
    ]


def health(**kw: Any) -> HealthInput:
    last = {k: utc(2026, 11, 30, 5, 55) for k in ("projects", "trainings", "registrations")}
    runs: Sequence[RunRecord] = [
        RunRecord(1, "pull", utc(2026, 11, 26, 3), utc(2026, 11, 26, 3, 1), "failed", {},
                  "Graph 503"),
        RunRecord(2, "pull", utc(2026, 11, 26, 3, 5), utc(2026, 11, 26, 3, 6), "ok", {}),
    ]
    base: Mapping[str, Any] = {"last_sync": last, "runs": runs}
    return HealthInput(**{**base, **kw})
