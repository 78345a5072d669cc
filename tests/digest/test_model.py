"""The digest models: counts, netting, capping, 14-day windows, personal digests, reminders."""

from __future__ import annotations

from datetime import date, timedelta

from sp_sync.domain.digest import build_weekly, net_changes
from sp_sync.domain.model import Lookup
from sp_sync.domain.personal import build_coordinator_digests, build_lead_digests
from sp_sync.domain.reminders import round_table_reminders, training_reminders
from tests.digest.dataset import (
    NOW,
    PERIOD,
    SINCE,
    TZ,
    changes,
    dataset,
    fc,
    health,
    person,
    rec,
    utc,
)


def weekly():  # type: ignore[no-untyped-def]
    return build_weekly(dataset(), changes(), health(), PERIOD, NOW, TZ, SINCE)


def bars(items) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {b.label: b.count for b in items}


def test_portfolio_counts() -> None:
    p = weekly().portfolio
    assert (p.total, p.active) == (5, 4)
    assert bars(p.by_status) == {"Idee": 1, "Planung": 1, "Umsetzung": 2, "Abgeschlossen": 1}
    assert [b.label for b in p.by_status] == ["Idee", "Planung", "Umsetzung", "Abgeschlossen"]
    assert bars(p.by_light) == {"Grün": 1, "Gelb": 1, "Rot": 1, "—": 1}  # active only
    assert bars(p.by_dezernat) == {"Dezernat I": 3, "Dezernat III": 2}
    assert bars(p.by_field)["Digitale Verwaltung"] == 2
    assert max(b.percent for b in p.by_status) == 100


def test_milestones_overdue_or_within_14_days_of_active_projects() -> None:
    ms = weekly().milestones
    assert [(m.project, m.days, m.overdue) for m in ms] == [
        ("Bürgerportal 2.0", -3, True),
        ("Schul-WLAN", 7, False),
    ]  # E-Akte is 46 days out, Sensorik Parks is finished
    assert ms[0].web_url and ms[0].web_url.endswith("ID=1")


def test_changes_are_netted_per_item_and_column() -> None:
    by_list = {lc.list_key: lc for lc in weekly().changes}
    projects = by_list["projects"]
    assert [i.title for i in projects.items] == ["Schul-WLAN", "Bürgerportal 2.0"]  # newest first
    portal = projects.items[1]
    assert [(c.column, c.old, c.new) for c in portal.columns] == [
        ("status", "Planung", "Umsetzung"),
        ("traffic_light", "Grün", "Gelb"),  # Grün → Rot → Gelb nets to Grün → Gelb
    ]
    assert portal.other_columns == ("status_report",)
    assert portal.changed_by == ("Anna Becker", "Ben Koch")
    wlan = projects.items[0]
    assert [(c.column, c.old, c.new) for c in wlan.columns] == [
        ("lead", "Anna Becker", "Ben Koch"),
        ("milestone_date", "01.12.2026", "07.12.2026"),
    ]
    # E-Akte went red and back: nothing to report; P-04's change was before ``since``
    assert "E-Akte" not in [i.title for i in projects.items]
    assert by_list["trainings"].items[0].kind == "created"
    deleted = by_list["registrations"].items[0]
    assert (deleted.kind, deleted.title, deleted.web_url) == ("deleted", "Anmeldung Zoe", None)


def test_changes_are_capped_per_list_with_a_link_to_the_list() -> None:
    records = {"projects": [rec("projects", i, title=f"P{i}") for i in range(1, 16)]}
    history = [fc("projects", i, "status", "Idee", "Planung", "X", utc(2026, 11, 24, i))
               for i in range(1, 16)]
    (lc,) = net_changes(history, records, lambda _l, _c, v: str(v), since=SINCE, cap=10)
    assert len(lc.items) == 10 and lc.more == 5
    assert lc.items[0].title == "P15"
    assert lc.list_url == "https://mannheim.sharepoint.com/sites/dtc/Lists/Projekte"


def test_trainings_in_the_next_14_days_with_seats_and_waiting_list() -> None:
    ts = weekly().trainings
    assert [t.topic for t in ts] == ["SharePoint Grundlagen", "KI im Büro"]
    sp, ki = ts
    assert (sp.taken, sp.total, sp.waiting, sp.free, sp.no_trainer) == (2, 3, 1, 1, False)
    assert (ki.taken, ki.total, ki.waiting, ki.no_trainer) == (1, 10, 0, True)


def test_next_round_table_agenda_and_open_actions() -> None:
    d = weekly()
    rt = d.round_table
    assert rt is not None and rt.title == "Runder Tisch 24"
    assert [t.title for t in rt.topics] == ["M365-Rollout", "Passwort-Richtlinie"]
    assert [(a.title, a.owner, a.age_days, a.overdue) for a in d.actions] == [
        ("Checkliste Gerätewechsel", "Clara Wolf", 7, True),
        ("Druckerkonzept", "Deniz Yilmaz", 7, False),
    ]


def test_trend_radar_new_items_grouped_by_department() -> None:
    groups = {g.department: [i.title for i in g.items] for g in weekly().trends}
    assert groups == {"Bildung": ["Copilot-Agenten"], "Bürgerdienste": ["Copilot-Agenten"],
                      None: ["Digitaler Zwilling"]}


def test_health_shows_failed_runs_since_and_skipped_weeks() -> None:
    d = build_weekly(dataset(), [], health(skipped_periods=("2026-W47",), late=True),
                     PERIOD, NOW, TZ, SINCE)
    h = d.health
    assert [(r.job, r.status) for r in h.failed_runs] == [("pull", "failed")]
    assert h.skipped_periods == ("2026-W47",) and h.late and not h.ok
    assert d.changes == ()


def test_lead_digests_only_own_projects_and_only_with_news() -> None:
    leads = {d.recipient: d for d in build_lead_digests(dataset(), changes(), PERIOD, NOW, TZ,
                                                        SINCE)}
    anna = leads["anna.becker@mannheim.de"]
    assert [m.project for m in anna.overdue] == ["Bürgerportal 2.0"]
    assert [p.title for p in anna.attention] == ["E-Akte", "Bürgerportal 2.0"]  # red first
    assert [i.title for lc in anna.changes for i in lc.items] == ["Bürgerportal 2.0"]
    # Ben: a change to Schul-WLAN; nothing on Sensorik Parks (finished, green)
    ben = leads["ben.koch@mannheim.de"]
    assert [i.title for lc in ben.changes for i in lc.items] == ["Schul-WLAN"]
    quiet = build_lead_digests(dataset(), [], PERIOD, NOW, TZ, SINCE)
    assert [d.recipient for d in quiet] == ["anna.becker@mannheim.de"]  # Ben has nothing
    opted = build_lead_digests(dataset(), changes(), PERIOD, NOW, TZ, SINCE,
                               opt_out=["Anna.Becker@mannheim.de"])
    assert [d.recipient for d in opted] == ["ben.koch@mannheim.de"]


def test_coordinator_digests_per_department() -> None:
    cs = {c.recipient: c for c in build_coordinator_digests(dataset(), changes(), PERIOD, NOW,
                                                            TZ, SINCE)}
    # Eva coordinates an inactive department: no digest
    assert sorted(cs) == ["clara.wolf@mannheim.de", "deniz.yilmaz@mannheim.de"]
    clara = cs["clara.wolf@mannheim.de"]
    assert clara.departments == ("Bürgerdienste",)
    assert [a.title for a in clara.actions] == ["Checkliste Gerätewechsel"]
    assert [(r.participant, r.status) for r in clara.registrations] == [
        ("Anna Becker", "Angemeldet"), ("Clara Wolf", "Warteliste")]
    assert clara.round_table is not None


def test_training_reminders_two_days_before_to_registered_participants() -> None:
    two_days_before = utc(2026, 12, 1, 7)
    rs = training_reminders(dataset(), two_days_before, TZ)
    assert [(r.recipient, r.period) for r in rs] == [
        ("anna.becker@mannheim.de", "2026-12-03:training:17"),
        ("ben.koch@mannheim.de", "2026-12-03:training:17"),
    ]  # not the waiting list, not the cancelled registration
    ev = rs[0].event
    assert ev.uid == "trainings-17@sp-sync" and ev.sequence > 0
    assert ev.start == utc(2026, 12, 3, 8) and ev.end == utc(2026, 12, 3, 11)
    assert training_reminders(dataset(), utc(2026, 11, 30, 7), TZ) == []  # 3 days ahead
    assert training_reminders(dataset(), utc(2026, 12, 3, 7), TZ) == []  # the day itself


def test_round_table_reminders_three_days_before_to_coordinators() -> None:
    rs = round_table_reminders(dataset(), utc(2026, 12, 4, 7), TZ)
    assert [r.recipient for r in rs] == ["clara.wolf@mannheim.de", "deniz.yilmaz@mannheim.de"]
    assert {r.period for r in rs} == {"2026-12-07:round_table:6"}
    assert [a.title for a in rs[0].actions] == ["Checkliste Gerätewechsel"]
    assert rs[0].event.description == "- M365-Rollout\n- Passwort-Richtlinie"


def test_item_values_with_types_the_model_does_not_know_are_tolerated() -> None:
    records = dataset()
    records["projects"].append(rec("projects", 9, title="Ohne alles", department=Lookup(99),
                                   milestone_date=date(2026, 12, 1), status="Planung",
                                   lead=person(1)))
    d = build_weekly(records, [], health(), PERIOD, NOW, TZ, NOW - timedelta(days=7))
    assert bars(d.portfolio.by_dezernat)["—"] == 1
    assert "Ohne alles" in [m.project for m in d.milestones]
