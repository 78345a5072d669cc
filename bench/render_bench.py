"""How long the weekly digest takes to build and render for a demo-sized portfolio.

    .venv/bin/python -m bench.render_bench [--rounds 20] [--locale de]

Demo size: 40 projects, 12 departments, 20 trainings with 240 registrations,
6 round tables with 40 topics, 25 trend-radar items, 300 field changes in the week.
"Cold" is the first digest in the process (template compilation included; imports
excluded), "warm" the median of the following rounds. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from datetime import UTC, date, datetime, timedelta

from sp_sync.domain.digest import HealthInput, build_weekly
from sp_sync.domain.model import FieldChange, Link, Lookup, Person, Record
from sp_sync.render.env import make_environment
from sp_sync.render.mail import build_message, render_weekly

NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
SITE = "https://mannheim.sharepoint.com/sites/dtc/Lists"
STATUSES = ("Idee", "Planung", "Umsetzung", "Umsetzung", "Umsetzung", "Abgeschlossen",
            "Pausiert")
FIELDS = ("Digitale Verwaltung", "Smart City", "Bildung", "Mobilität", "Klima und Umwelt",
          "Teilhabe")


def _rec(list_key: str, list_title: str, i: int, **values: object) -> Record:
    return Record(list_key, str(i), values,  # type: ignore[arg-type]
                  web_url=f"{SITE}/{list_title}/DispForm.aspx?ID={i}", modified=NOW)


def demo_records(rng: random.Random) -> dict[str, list[Record]]:
    people = [Person(f"Person {i}", f"person{i}@mannheim.de", i) for i in range(1, 31)]
    depts = [_rec("departments", "Fachbereiche", i, name=f"Fachbereich {i}",
                  dezernat=f"Dezernat {'I' * (1 + i % 3)}", coordinator=people[i], active=True)
             for i in range(1, 13)]
    projects = [
        _rec("projects", "Projekte", i, number=f"P-{i:03d}", title=f"Projekt {i}",
             department=Lookup(1 + i % 12), field=FIELDS[i % len(FIELDS)],
             lead=people[i % 8], status=STATUSES[i % len(STATUSES)],
             traffic_light=("Grün", "Gelb", "Rot")[i % 3], next_milestone=f"Meilenstein {i}",
             milestone_date=date(2026, 11, 20) + timedelta(days=rng.randint(0, 40)))
        for i in range(1, 41)]
    trainings = [
        _rec("trainings", "Schulungen", i, topic=f"Schulung {i}",
             start=NOW + timedelta(days=i, hours=2), end=NOW + timedelta(days=i, hours=5),
             location="Raum 101", trainer=people[i % 5] if i % 4 else None,
             max_participants=12.0, status="Geplant",
             online_link=Link("https://teams.example/x"))
        for i in range(1, 21)]
    regs = [
        _rec("registrations", "Anmeldungen", i, training=Lookup(1 + i % 20),
             participant=people[i % 30], department=Lookup(1 + i % 12),
             status=("Angemeldet", "Angemeldet", "Warteliste", "Teilgenommen")[i % 4])
        for i in range(1, 241)]
    tables = [_rec("round_tables", "RundeTische", i, title=f"Runder Tisch {i}",
                   date=NOW + timedelta(days=14 * (i - 3)), location="Raum 3.14",
                   moderator=people[0], status="Geplant") for i in range(1, 7)]
    topics = [_rec("topics", "Themen", i, title=f"Thema {i}", round_table=Lookup(1 + i % 6),
                   kind=("Thema", "Aufgabe")[i % 2], owner=people[i % 30],
                   department=Lookup(1 + i % 12), due=date(2026, 12, 1) + timedelta(days=i - 20),
                   status=("Offen", "Erledigt")[i % 3 == 0]) for i in range(1, 41)]
    trends = [_rec("trend_radar", "TrendRadar", i, title=f"Trend {i}", category="KI",
                   maturity="Beobachten", departments=(Lookup(1 + i % 12), Lookup(1 + i % 5)),
                   status=("Neu", "Bewertet")[i % 2]) for i in range(1, 26)]
    return {"departments": depts, "projects": projects, "trainings": trainings,
            "registrations": regs, "round_tables": tables, "topics": topics,
            "trend_radar": trends}


def demo_changes(rng: random.Random, n: int = 300) -> list[FieldChange]:
    cols = [("projects", "status"), ("projects", "traffic_light"), ("projects", "planned_end"),
            ("trainings", "status"), ("registrations", "status"), ("topics", "status")]
    out = []
    for k in range(n):
        list_key, col = rng.choice(cols)
        out.append(FieldChange(list_key, str(rng.randint(1, 40)), col, f"alt {k}", f"neu {k}",
                               f"Person {k % 30}", NOW - timedelta(minutes=10 * (n - k))))
    return out


def one_digest(locale: str, records: dict[str, list[Record]],
               changes: list[FieldChange]) -> tuple[float, int]:
    t0 = time.perf_counter()
    digest = build_weekly(records, changes, HealthInput(), "2026-W49", NOW, "Europe/Berlin",
                          NOW - timedelta(weeks=1))
    rendered = render_weekly(digest, locale)
    msg = build_message(rendered, "dtc@mannheim.de", "team@mannheim.de", "w/2026-W49/team")
    bytes(msg)  # serialising is part of the cost
    return (time.perf_counter() - t0) * 1000, len(rendered.html.encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--locale", default="de")
    args = parser.parse_args()
    rng = random.Random(49)
    records, changes = demo_records(rng), demo_changes(rng)
    make_environment.cache_clear()
    cold_ms, html_bytes = one_digest(args.locale, records, changes)
    warm = [one_digest(args.locale, records, changes)[0] for _ in range(args.rounds)]
    print(json.dumps({
        "bench": "render_weekly", "projects": len(records["projects"]),
        "changes": len(changes), "cold_ms": round(cold_ms, 1),
        "warm_ms_median": round(statistics.median(warm), 1),
        "warm_ms_max": round(max(warm), 1), "html_bytes": html_bytes,
    }))


if __name__ == "__main__":
    main()
