"""The DTC demo tenant: the City of Mannheim's Digital Transformation Center site.

Generated from small tables and a fixed random seed, so it is deterministic; every date is
relative to ``today``, so digests and reminders always have something to show. The site's
lists and columns are described in ``dtc_site.toml`` beside this file (the emulator's own
description of the tenant); the builders below name columns by that file's keys.
The data contains deliberate problems (:data:`DATA_PROBLEMS`) for validation to find.
Item ids and counts do not depend on ``today``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sp_sync.emulator.seeds.site_schema import SiteList, column_definitions, load_site

BERLIN = ZoneInfo("Europe/Berlin")
HOSTNAME = "mannheim.sharepoint.com"
SITE_PATH = "sites/dtc"
MAILBOX = "dtc@mannheim.de"

FIRST = ["Anna", "Jonas", "Leonie", "Mehmet", "Sophie", "Lukas", "Marie", "Felix", "Elif",
         "Paul", "Hannah", "David", "Laura", "Tobias", "Julia", "Niklas", "Sarah", "Stefan",
         "Katharina", "Murat", "Lena", "Andreas", "Miriam", "Thomas"]
LAST = ["Becker", "Schneider", "Yilmaz", "Wagner", "Hoffmann", "Schäfer", "Koch", "Richter",
        "Klein", "Wolf", "Neumann", "Schwarz", "Zimmermann", "Krüger", "Hartmann", "Lange",
        "Werner", "Krause", "Meier", "Lehmann", "Kaya", "Schmitt", "Weber", "Braun"]
_TRANSLIT: dict[str, str | int | None] = {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"}

# (name, code, Dezernat)
DEPARTMENTS = [
    ("Organisation und Personal", "FB 11", "I"), ("Informationstechnologie", "FB 15", "I"),
    ("Finanzen, Steuern und Beteiligungen", "FB 20", "II"),
    ("Sicherheit und Ordnung", "FB 31", "II"), ("Bürgerdienste", "FB 32", "II"),
    ("Feuerwehr und Katastrophenschutz", "FB 37", "II"), ("Bildung", "FB 40", "III"),
    ("Kultur", "FB 41", "III"), ("Arbeit und Soziales", "FB 50", "III"),
    ("Jugendamt und Gesundheitsamt", "FB 51", "III"), ("Sport und Freizeit", "FB 52", "IV"),
    ("Baurecht, Bauverwaltung und Denkmalschutz", "FB 60", "IV"),
    ("Geoinformation und Stadtplanung", "FB 61", "IV"), ("Klima, Natur, Umwelt", "FB 67", "V"),
    ("Wirtschafts- und Strukturförderung", "FB 80", "VI"),
    ("Demokratie und Strategie", "FB 12", "VII"),
]
FIELDS = ["Digitale Verwaltung", "Smart City", "Bildung", "Mobilität", "Klima und Umwelt",
          "Teilhabe"]
# "title|department index (1-based)|field index"
PROJECTS = """E-Akte in den Bürgerdiensten|5|0
Online-Terminvergabe Bürgerbüros|5|0
Digitaler Bauantrag|12|0
Open-Data-Portal Mannheim|16|5
Parkraumsensorik Innenstadt|4|3
KI-Assistenz im Bürgerservice|5|0
Digitale Schulverwaltung|7|2
WLAN an allen Schulen|7|2
Smart Meter in städtischen Gebäuden|14|4
Baumkataster mit Bodenfeuchtesensoren|14|4
Beteiligungsplattform Mannheim gestalten|16|5
Digitales Fundbüro|4|0
Elektronische Rechnungsbearbeitung|3|0
Personalgewinnung online|1|0
Mobiles Arbeiten in der Feuerwehr|6|1
Digitale Einsatzdokumentation|6|1
Kita-Platzvergabe online|10|2
Digitaler Zwilling Innenstadt|13|1
Dashboard Hitzeaktionsplan|14|4
Barrierefreie Webangebote|16|5
Chatbot Abfallberatung|14|4
Relaunch Ratsinformationssystem|16|0
Digitale Sitzungsräume|2|0
Fahrradzählstellen mit offenen Daten|13|3
Monitoring Ladeinfrastruktur|15|3
Digitale Stadtbibliothek|8|2
Museumsführer als App|8|5
Sportstättenbuchung online|11|5
Gewerbeanmeldung digital|15|0
Förderportal Wirtschaft|15|0
Wohngeld online|9|0
Digitales Jugendhilfeverfahren|10|0
Meldewesen Gesundheitsamt|10|0
Schulwegplanung digital|13|3
Geodatenportal 3D|13|1
Intelligente Straßenbeleuchtung|13|4
Datenkompetenz für Führungskräfte|1|2
Prozessmanagement in der Verwaltung|1|0
Einführung Microsoft 365|2|0
Digitale Signatur im Rathaus|2|0"""
STATUSES = ["Umsetzung"] * 18 + ["Planung"] * 8 + ["Idee"] * 4 + ["Abgeschlossen"] * 5 + [
    "Pausiert"] * 3 + ["Abgebrochen"] * 2
MILESTONES = ["Anforderungsanalyse abgeschlossen", "Ausschreibung veröffentlicht",
              "Pilotbetrieb startet", "Schulung der Anwender", "Go-live", "Datenschutz-Freigabe",
              "Lenkungskreis-Entscheidung", "Schnittstelle produktiv"]
REPORTS = ["Plan eingehalten, keine Risiken.", "Lieferverzug beim Dienstleister, Termin wackelt.",
           "Personalengpass im Fachbereich, Abstimmung läuft.", "Budget freigegeben, Start steht.",
           "Pilot erfolgreich, Rollout wird vorbereitet."]
# (topic, category, day offset, start hour, seats, registrations, status)
TRAININGS = [
    ("SharePoint Grundlagen", "SharePoint", -40, 9, 15, 12, "Durchgeführt"),
    ("Microsoft Teams effizient nutzen", "Microsoft 365", -20, 13, 20, 14, "Durchgeführt"),
    ("SharePoint-Listen und Ansichten", "SharePoint", 3, 9, 12, 14, "Geplant"),
    ("Datenschutz im digitalen Arbeitsalltag", "Datenschutz", 5, 13, 25, 9, "Geplant"),
    ("KI-Werkzeuge sicher einsetzen", "KI", 2, 9, 16, 20, "Geplant"),
    ("Barrierefreie Dokumente erstellen", "Barrierefreiheit", 9, 13, 14, 16, "Geplant"),
    ("Agile Methoden in der Verwaltung", "Agiles Arbeiten", 12, 9, 18, 8, "Geplant"),
    ("Power Automate Einstieg", "Microsoft 365", 7, 9, 12, 3, "Abgesagt"),
    ("OneNote und Planner im Team", "Microsoft 365", 20, 13, 15, 5, "Geplant"),
    ("Prompting für Verwaltungstexte", "KI", 13, 9, 20, 6, "Geplant"),
    ("SharePoint für Fortgeschrittene", "SharePoint", 30, 9, 12, 3, "Geplant"),
    ("Informationssicherheit Basics", "Datenschutz", -6, 13, 30, 13, "Durchgeführt"),
]
OVERBOOKED, CANCELLED, NO_TRAINER = 3, 8, 10  # training ids
TOPICS = ["Stand Einführung Microsoft 365", "Erfahrungen mit der E-Akte", "Neue Schulungsangebote",
          "Datenschutz-Folgenabschätzung für KI", "Barrierefreiheit der Formulare",
          "Rollout Digitale Signatur", "Lizenzmanagement", "Berechtigungskonzept SharePoint",
          "Open Data: Datensätze der Fachbereiche", "IT-Sicherheitsvorfälle melden"]
ACTIONS = ["Ansprechpersonen benennen", "Checkliste verteilen", "Bedarf an Schulungen melden",
           "Datensätze inventarisieren", "Rückmeldung zum Entwurf geben",
           "Testnutzer bereitstellen"]
# (title, category, maturity, status)
TRENDS = [
    ("Generative KI für Bescheidentwürfe", "KI", "Erproben", "Neu"),
    ("Urbane Datenplattform", "Daten", "Einsetzen", "Weitergeleitet"),
    ("Souveräne Cloud für Kommunen", "Cloud", "Beobachten", "Neu"),
    ("LoRaWAN-Sensornetz", "IoT", "Einsetzen", "Bewertet"),
    ("Passkeys statt Passwörter", "Sicherheit", "Erproben", "Neu"),
    ("KI-gestützte Übersetzung im Bürgerservice", "KI", "Erproben", "Bewertet"),
    ("Digitale Whiteboards", "Zusammenarbeit", "Einsetzen", "Verworfen"),
    ("Verkehrsprognosen mit maschinellem Lernen", "Daten", "Beobachten", "Neu"),
    ("Open-Source-Arbeitsplatz openDesk", "Zusammenarbeit", "Erproben", "Weitergeleitet"),
    ("Zero-Trust-Netzwerke", "Sicherheit", "Beobachten", "Bewertet"),
    ("Digitale Zwillinge für Gebäude", "IoT", "Beobachten", "Weitergeleitet"),
    ("Barrierefreiheit durch KI-Vorlesefunktion", "KI", "Erproben", "Neu"),
]
SOURCES = ["https://www.bsi.bund.de", "https://www.kgst.de", "https://www.it-planungsrat.de",
           "https://www.fraunhofer.de", "https://www.staedtetag.de"]
XSS_TITLE = 'Bürgerportal <script>alert(1)</script> Relaunch'
DTC_TEAM = 6  # the first users are the DTC team (leads, trainers, moderators)


@dataclass(frozen=True)
class DataProblem:
    description: str
    list: str  # logical list key
    item_id: str


@dataclass
class _Builder:
    """Collects items per list, converting logical values into Graph wire values."""

    site: dict[str, SiteList]
    now: datetime
    rnd: random.Random
    users: list[dict[str, Any]]
    items: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    problems: list[DataProblem] = field(default_factory=list)

    def add(self, key: str, values: dict[str, Any], age_days: int = 30,
            problem: str | None = None) -> int:
        rows = self.items.setdefault(key, [])
        item_id = len(rows) + 1
        fields: dict[str, Any] = {}
        lst = self.site.get(key)
        for ckey, value in values.items():
            col = lst.columns.get(ckey) if lst is not None else None
            if col is not None and value is not None:
                fields[col.field_name] = _wire(col.type, value)
        author, editor = self.rnd.choice(self.users[:DTC_TEAM]), self.rnd.choice(self.users)
        created = self.now - timedelta(days=age_days, minutes=self.rnd.randint(0, 600))
        modified = min(created + timedelta(days=self.rnd.randint(0, age_days)),
                       self.now - timedelta(hours=2))
        rows.append({"id": str(item_id), "fields": fields, "createdBy": author["email"],
                     "modifiedBy": editor["email"], "created": _z(created),
                     "modified": _z(max(modified, created))})
        if problem:
            self.problems.append(DataProblem(problem, key, str(item_id)))
        return item_id


def _z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _local(day: date, hour: int = 0, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=BERLIN)


def _wire(kind: str, value: Any) -> Any:
    """A Python value in the shape Graph returns for a column of type ``kind``."""
    if kind == "date":
        return _z(_local(value))
    if kind == "datetime":
        return _z(value)
    if kind in ("person", "lookup"):
        return str(value)
    if kind == "multilookup":
        return [{"LookupId": i, "LookupValue": t} for i, t in value]
    if kind == "url":
        url, desc = value
        return {"Url": url, "Description": desc}
    return value


def _email(name: str) -> str:
    plain = name.lower().translate(str.maketrans(_TRANSLIT))
    return plain.replace(" ", ".") + "@mannheim.de"


def _people(rnd: random.Random) -> list[dict[str, Any]]:
    names: list[str] = []
    while len(names) < 40:
        name = f"{rnd.choice(FIRST)} {rnd.choice(LAST)}"
        if name not in names:
            names.append(name)
    return [{"id": 10 + i, "name": n, "email": _email(n)} for i, n in enumerate(names)]


SITE_FILE = Path(__file__).with_name("dtc_site.toml")


def site() -> dict[str, SiteList]:
    """The demo site's lists (``dtc_site.toml``)."""
    return load_site(SITE_FILE)


# --------------------------------------------------------------------------- the lists


def _departments(b: _Builder, staff: list[dict[str, Any]]) -> dict[int, int]:
    """Returns department id → IT coordinator's user id."""
    coordinators = {}
    for i, (name, code, dez) in enumerate(DEPARTMENTS):
        coord, deputy = staff[2 * i]["id"], staff[2 * i + 1]["id"]
        missing = i == len(DEPARTMENTS) - 1
        dept = b.add("departments", {
            "name": name, "code": code, "dezernat": f"Dezernat {dez}",
            "coordinator": None if missing else coord, "deputy": deputy, "active": True,
        }, age_days=400, problem="department without IT coordinator" if missing else None)
        coordinators[dept] = deputy if missing else coord
    return coordinators


def _projects(b: _Builder, today: date, coordinators: dict[int, int]) -> None:
    rnd = b.rnd
    statuses = STATUSES[:]
    rnd.shuffle(statuses)
    # id → (forced status, problem description)
    forced = {5: ("Umsetzung", "project without DTC lead"),
              9: ("Planung", "planned end before start"),
              13: ("Umsetzung", "status Umsetzung without traffic light"),
              17: ("Umsetzung", "milestone date in the past on an active project"),
              21: ("Planung", "title contains a script tag")}
    soon = 0
    for n, line in enumerate(PROJECTS.splitlines(), start=1):
        title, dept, fld = line.split("|")
        status, problem = forced.get(n, (statuses[n - 1], None))
        active = status in ("Planung", "Umsetzung", "Pausiert")
        start = today + timedelta(days=rnd.randint(20, 90) if status == "Idee"
                                  else -rnd.randint(30, 500))
        end = start + timedelta(days=rnd.randint(180, 720))
        if status in ("Abgeschlossen", "Abgebrochen"):
            end = today - timedelta(days=rnd.randint(10, 120))
            start = end - timedelta(days=rnd.randint(180, 500))
        light = rnd.choices(["Grün", "Gelb", "Rot"], [6, 3, 2])[0] if active else (
            "Grün" if status == "Abgeschlossen" else None)
        milestone: date | None = None
        if active:
            soon += 1
            ahead = rnd.randint(1, 14) if soon % 3 == 0 else rnd.randint(15, 90)
            milestone = today + timedelta(days=ahead)
        if n == 9:
            end = start - timedelta(days=30)
        if n == 13:
            light = None
        if n == 17:
            milestone = today - timedelta(days=10)
        b.add("projects", {
            "number": f"DTC-{2024 + n % 3}-{n:03d}",
            "title": XSS_TITLE if n == 21 else title,
            "department": int(dept), "field": FIELDS[int(fld)],
            "lead": None if n == 5 else b.users[n % DTC_TEAM]["id"],
            "contact": coordinators[int(dept)],
            "support": rnd.choice(["Vollbegleitung", "Punktuelle Beratung"]),
            "status": status, "traffic_light": light, "start": start, "planned_end": end,
            "next_milestone": rnd.choice(MILESTONES) if milestone else None,
            "milestone_date": milestone,
            "status_report": f"{today:%d.%m.%Y}: {rnd.choice(REPORTS)}" if active else None,
            "budget": None if status == "Idee" else float(rnd.randint(10, 900) * 500),
            "public": status != "Idee" and rnd.random() < 0.6,
        }, age_days=rnd.randint(20, 300), problem=problem)


def _trainings(b: _Builder, today: date, staff: list[dict[str, Any]],
               dept_of: Callable[[int], int]) -> None:
    rnd = b.rnd
    for n, (topic, cat, offset, hour, seats, _, status) in enumerate(TRAININGS, start=1):
        start = _local(today + timedelta(days=offset), hour)
        online = n % 3 == 0
        b.add("trainings", {
            "topic": topic, "category": cat, "start": start,
            "end": start + timedelta(hours=3),
            "location": "Online" if online else f"Rathaus E 5, Raum {rnd.randint(101, 420)}",
            "online_link": (f"https://teams.microsoft.com/l/meetup-join/dtc-{n:02d}",
                            "Teams-Besprechung") if online else None,
            "trainer": None if n == NO_TRAINER else b.users[n % DTC_TEAM]["id"],
            "max_participants": seats, "status": status,
        }, age_days=60, problem={OVERBOOKED: "more registrations Angemeldet than seats",
                                 NO_TRAINER: "training without trainer"}.get(n))
    for n, (topic, _, offset, _, seats, count, status) in enumerate(TRAININGS, start=1):
        for k, person in enumerate(rnd.sample(staff, count)):
            if status == "Durchgeführt":
                state = rnd.choices(["Teilgenommen", "Nicht erschienen", "Storniert"],
                                    [8, 1, 1])[0]
            elif status == "Abgesagt":
                state = "Angemeldet" if k == 0 else "Storniert"
            else:
                state = "Angemeldet" if k < seats or n == OVERBOOKED else "Warteliste"
            b.add("registrations", {
                "title": f"{person['name']} – {topic}", "training": n,
                "participant": person["id"], "department": dept_of(person["id"]),
                "status": state,
                "registered_at": _local(today + timedelta(days=min(offset, 0) - 30 + k), 10),
            }, age_days=30 - min(k, 25),
                problem="registration for a cancelled training"
                if status == "Abgesagt" and k == 0 else None)


def _round_tables(b: _Builder, today: date, coordinators: dict[int, int]) -> None:
    rnd = b.rnd
    first_next = today + timedelta(days=2)  # one always within the reminder window
    overdue_done = no_owner_done = False
    for k in range(-5, 3):
        day = first_next + timedelta(days=14 * k)
        status = "Geplant" if k >= 0 else ("Ausgefallen" if k == -3 else "Durchgeführt")
        rt = b.add("round_tables", {
            "title": f"Runder Tisch IT-Koordination {day:%d.%m.%Y}",
            "date": _local(day, 10), "status": status,
            "location": "Rathaus E 5, Ratssaal" if k % 2 else "https://teams.microsoft.com/dtc-rt",
            "moderator": b.users[k % 2]["id"],
            "minutes": "Protokoll:\n- " + "\n- ".join(rnd.sample(TOPICS, 2))
            if status == "Durchgeführt" else None,
        }, age_days=max(10, 30 - 14 * k))
        for topic in rnd.sample(TOPICS, 3 if k == 0 else (1 if k > 0 else 2)):
            b.add("topics", {"title": topic, "round_table": rt, "kind": "Thema",
                             "owner": b.users[rnd.randrange(DTC_TEAM)]["id"],
                             "status": "Erledigt" if k < 0 else "Offen"}, age_days=20)
        if status != "Durchgeführt":
            continue
        for j, action in enumerate(rnd.sample(ACTIONS, 2)):
            dept = rnd.randint(1, len(DEPARTMENTS))
            due = day + timedelta(days=14 + 7 * j)
            problem = None
            if k == -1 and j == 0 and not no_owner_done:
                problem, no_owner_done = "action item without owner", True
            elif k == -2 and not overdue_done:
                problem, overdue_done = "overdue open action item", True
            b.add("topics", {
                "title": action, "round_table": rt, "kind": "Aufgabe",
                "owner": None if problem == "action item without owner" else coordinators[dept],
                "department": dept, "due": due,
                "status": "Offen" if problem or due >= today else "Erledigt",
            }, age_days=14, problem=problem)
        for dept, coord in coordinators.items():
            b.add("attendance", {
                "title": f"{DEPARTMENTS[dept - 1][1]} – {day:%d.%m.%Y}", "round_table": rt,
                "department": dept, "person": coord, "present": rnd.random() < 0.8,
            }, age_days=14)


def _trend_radar(b: _Builder) -> None:
    rnd = b.rnd
    for n, (title, cat, maturity, status) in enumerate(TRENDS, start=1):
        depts = sorted(rnd.sample(range(1, len(DEPARTMENTS) + 1), rnd.randint(1, 3)))
        link = ("javascript:alert(1)", "Quelle") if n == 7 else (
            f"{rnd.choice(SOURCES)}/trend-{n}", "Quelle")
        b.add("trend_radar", {
            "title": title, "category": cat, "maturity": maturity, "status": status,
            "description": f"{title}: Einschätzung des DTC und mögliche Anwendungsfälle "
                           "in der Stadtverwaltung.",
            "departments": [(d, DEPARTMENTS[d - 1][0]) for d in depts],
            "source_link": link,
        }, age_days=3 if status == "Neu" else 60,
            problem="javascript: source link" if n == 7 else None)


# --------------------------------------------------------------------------- the seed


def _build(today: date) -> _Builder:
    rnd = random.Random(20261201)  # fixed: the same tenant every time
    users = _people(rnd)
    now = _local(today, 6)
    b = _Builder(site=site(), now=now, rnd=rnd, users=users)
    staff = users[DTC_TEAM:]
    coordinators = _departments(b, staff)
    dept_by_user = {p["id"]: 1 + (i // 2) % len(DEPARTMENTS) for i, p in enumerate(staff)}
    _projects(b, today, coordinators)
    _trainings(b, today, staff, lambda uid: dept_by_user[uid])
    _round_tables(b, today, coordinators)
    _trend_radar(b)
    return b


def demo_seed(today: date | None = None) -> dict[str, Any]:
    """The demo tenant in the emulator's seed format, dated relative to ``today``: the
    people's lists with their items (the lists sp-sync writes are created by
    ``sp-sync provision``, as on a real site)."""
    b = _build(today or date.today())
    lists = [
        {"displayName": lst.title, "hidden": False,
         "columns": column_definitions(lst, b.site), "items": b.items.get(lst.key, [])}
        for lst in b.site.values()
    ]
    return {
        "hostname": HOSTNAME,
        "sites": [{"path": SITE_PATH, "displayName": "Digital Transformation Center",
                   "lists": lists}],
        "users": b.users,
        "mailboxes": [MAILBOX],
    }


def demo_counts() -> dict[str, int]:
    """Items per logical list key (the same for every ``today``), plus "users"."""
    b = _build(date(2026, 1, 5))
    return {"users": len(b.users), **{k: len(v) for k, v in b.items.items()}}


DEMO_COUNTS: dict[str, int] = {
    "users": 40, "departments": 16, "projects": 40, "trainings": 12, "registrations": 123,
    "round_tables": 8, "topics": 23, "attendance": 64, "trend_radar": 12,
}


#: The deliberate data problems (description, list key, item id).
DATA_PROBLEMS: tuple[DataProblem, ...] = tuple(_build(date(2026, 1, 5)).problems)
