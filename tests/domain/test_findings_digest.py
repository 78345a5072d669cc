"""The findings section of the digests (pure): new, resolved, open by severity and list,
and a recipient's own open findings."""

from __future__ import annotations

from datetime import date
from typing import Any

from sp_sync.domain.findings_digest import personal_findings, weekly_findings
from sp_sync.domain.model import Link, Person, Record

ANNA = Person("Anna Becker", "anna.becker@mannheim.de", 11)
OLAF = Person("Olaf Kurz", "olaf.kurz@mannheim.de", 12)
SINCE = date(2026, 11, 23)


def row(n: int, **v: Any) -> Record:
    base: dict[str, Any] = {"message": f"Befund {n}", "severity": "Warnung", "list": "Projekte",
                            "status": "Offen", "first_seen": date(2026, 11, 1),
                            "link": Link(f"https://x/{n}", "x"), "owner": ANNA}
    base.update(v)
    return Record("findings", str(n), base)


def test_weekly_new_resolved_and_open_counts() -> None:
    rows = [
        row(1, first_seen=date(2026, 11, 25), severity="Fehler"),
        row(2),
        row(3, status="Behoben", closed_at=date(2026, 11, 24)),
        row(4, status="Behoben", closed_at=date(2026, 11, 2)),
        row(5, status="Akzeptiert"),
        row(6, list="Schulungen", severity="Hinweis", owner=OLAF),
    ]
    d = weekly_findings(rows, SINCE)
    assert [f.message for f in d.new] == ["Befund 1"]
    assert [f.message for f in d.resolved] == ["Befund 3"]
    assert [f.message for f in d.open] == ["Befund 1", "Befund 2", "Befund 6"]
    assert d.open_by_severity == (("Fehler", 1), ("Warnung", 1), ("Hinweis", 1))
    assert d.open_by_list == (("Projekte", 2), ("Schulungen", 1))
    assert d.open[0].link == "https://x/1" and d.open[0].owner == "Anna Becker"
    assert not d.empty and weekly_findings([], SINCE).empty


def test_personal_only_own_open_findings() -> None:
    rows = [row(1), row(2, owner=OLAF), row(3, status="Zurückgestellt"),
            row(4, severity="Fehler")]
    mine = personal_findings(rows, "Anna.Becker@mannheim.de")
    assert [f.message for f in mine] == ["Befund 4", "Befund 1"]


def test_open_ones_grouped_by_severity_then_list_within_a_cap() -> None:
    rows = [row(n, severity="Fehler" if n < 3 else "Warnung",
                list="Schulungen" if n % 2 else "Projekte") for n in range(1, 8)]
    url = "https://x/Lists/Befunde/DispForm.aspx?ID="
    rows = [Record(r.list_key, r.id, r.values, web_url=url + r.id) for r in rows]
    d = weekly_findings(rows, SINCE)
    groups = d.grouped(cap=4)
    assert [(g.severity, g.count) for g in groups] == [("Fehler", 2), ("Warnung", 5)]
    assert [lg.list for lg in groups[0].lists] == ["Projekte", "Schulungen"]
    shown = sum(len(lg.lines) for g in groups for lg in g.lists)
    left = sum(lg.more for g in groups for lg in g.lists)
    assert (shown, left) == (4, 3)
    assert d.list_url == "https://x/Lists/Befunde"
    assert weekly_findings([row(1)], SINCE).list_url is None
