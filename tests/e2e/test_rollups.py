"""Roll-up lists on the emulator (issue 11): the numbers equal counts made directly over
Graph, a person's edit rewrites exactly the groups it touches, a re-run writes nothing."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sp_sync.app.demo import ROLLUP_JOBS, people_edit_the_lists
from sp_sync.domain.model import ListSpec
from sp_sync.engine.runner import run_job

from .conftest import MONDAY, TZ, Tenant, open_tenant

ACTIVE = ("Idee", "Planung", "Umsetzung")
STATUS_COLUMNS = {"Idee": "idea", "Planung": "planning", "Umsetzung": "implementation",
                  "Abgeschlossen": "done", "Pausiert": "paused", "Abgebrochen": "cancelled"}


def graph_items(t: Tenant, key: str) -> list[dict[str, Any]]:
    """Every live item's fields, read through Graph (the real adapter), by logical key."""
    spec = t.config.mapping.get(key)
    out: dict[str, dict[str, Any]] = {}
    for page in t.svc.source.delta(t.svc.ref(spec), spec.select, None):
        for item in page.items:
            if item.deleted:
                out.pop(item.id, None)
            else:
                out[item.id] = {"id": item.id, **_logical(spec, item.fields)}
    return list(out.values())


def _logical(spec: ListSpec, fields: Any) -> dict[str, Any]:
    return {c.key: fields.get(c.field_name) for c in spec.columns}


def _day(wire: str | None) -> date | None:
    if not wire:
        return None
    return datetime.fromisoformat(wire.replace("Z", "+00:00")).astimezone(TZ).date()


def rows_by_key(t: Tenant, target: str) -> dict[str, dict[str, Any]]:
    return {r["sync_key"]: r for r in graph_items(t, target)}


def demo_like_run(t: Tenant) -> None:
    assert run_job(t.svc, t.config.job("dtc-sync")).status == "ok"
    people_edit_the_lists(t.emu, t.config.mapping, t.seed)
    assert run_job(t.svc, t.config.job("dtc-sync")).status == "ok"
    for name in ROLLUP_JOBS:
        out = run_job(t.svc, t.config.job(name))
        assert out.status == "ok", (name, out.message, out.details)


def expected_portfolio(t: Tenant) -> dict[str, dict[str, Any]]:
    depts = {d["id"]: d for d in graph_items(t, "departments")}
    want: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    for p in graph_items(t, "projects"):
        dept = depts.get(str(p["department"])) if p["department"] is not None else None
        status = p["status"]
        keys = ("Dezernat:" + ((dept or {}).get("dezernat") or "~"),
                "Fachbereich:" + (dept["id"] if dept else "~"),
                "Handlungsfeld:" + (p["field"] or "~"))
        for k in keys:
            g = want[k]
            g["projects"] += 1
            g[STATUS_COLUMNS[status]] += 1
            g["budget"] += p["budget"] or 0
            if status in ACTIVE:
                g["active"] += 1
                g["red"] += p["traffic_light"] == "Rot"
                md = _day(p["milestone_date"])
                g["overdue"] += md is not None and md < MONDAY
    return want


def test_rollup_lists_equal_counts_over_graph_and_follow_one_edit(tmp_path: Path) -> None:
    with open_tenant(tmp_path) as t:
        demo_like_run(t)

        # ---- Portfolio: every group, counted directly over Graph
        portfolio = rows_by_key(t, "portfolio")
        want = expected_portfolio(t)
        for key, g in want.items():
            row = portfolio[f"rollup:portfolio:{key}"]
            for col in ("projects", "active", "red", "overdue", *STATUS_COLUMNS.values()):
                assert (row[col] or 0) == g.get(col, 0), (key, col)
            assert (row["budget"] or 0) == g["budget"]
            assert row["share_red"] == (round(100 * g["red"] / g["active"], 1)
                                        if g["active"] else None)
        dezernat_rows = [r for r in portfolio.values() if r["grain"] == "Dezernat"]
        assert sum(r["projects"] for r in dezernat_rows) == 40
        # every Dezernat and every active department has a row, also without projects
        depts = graph_items(t, "departments")
        for z in t.config.mapping.get("departments").column("dezernat").choices:
            assert f"rollup:portfolio:Dezernat:{z}" in portfolio
        for d in depts:
            if d["active"]:
                assert portfolio[f"rollup:portfolio:Fachbereich:{d['id']}"]["title"] == d["name"]

        # ---- Schulungsstatistik per category, counted per training over Graph
        trainings = {x["id"]: x for x in graph_items(t, "trainings")
                     if x["status"] in ("Geplant", "Durchgeführt")}
        per_cat: dict[str, Counter[str]] = defaultdict(Counter)
        for x in trainings.values():
            per_cat[x["category"]]["sessions"] += 1
            per_cat[x["category"]]["seats"] += int(x["max_participants"] or 0)
        for r in graph_items(t, "registrations"):
            x = trainings.get(str(r["training"]))
            if x is None:
                continue
            c = per_cat[x["category"]]
            c["registrations"] += r["status"] != "Storniert"
            c["attended"] += r["status"] == "Teilgenommen"
            c["no_shows"] += r["status"] == "Nicht erschienen"
            c["waiting"] += r["status"] == "Warteliste"
        stats = rows_by_key(t, "training_stats")
        for cat, c in per_cat.items():
            row = stats[f"rollup:training-stats:Kategorie:{cat}"]
            for col in ("sessions", "seats", "registrations", "attended", "no_shows",
                        "waiting"):
                assert (row[col] or 0) == c[col], (cat, col)
        months = [r for r in stats.values() if r["grain"] == "Monat"]
        assert sum(r["sessions"] or 0 for r in months) == len(trainings)

        # ---- Teilnahmequote over the last 6 held round tables
        tables = graph_items(t, "round_tables")
        held = sorted((x for x in tables if x["status"] == "Durchgeführt"),
                      key=lambda x: x["date"], reverse=True)[:6]
        window = {x["id"] for x in held}
        attended: dict[str, set[str]] = defaultdict(set)
        for a in graph_items(t, "attendance"):
            if str(a["round_table"]) in window and a["present"]:
                attended[str(a["department"])].add(str(a["round_table"]))
        quota = rows_by_key(t, "attendance_rate")
        for d in depts:
            if not d["active"]:
                continue
            row = quota[f"rollup:attendance-rate:Fachbereich:{d['id']}"]
            n = len(attended[d["id"]])
            assert (row["meetings"], row["attended"] or 0) == (len(window), n), d["name"]
            assert row["rate"] == round(100 * n / len(window), 1)

        # ---- a person changes one project's status: exactly its three groups change
        projects = graph_items(t, "projects")
        moved = next(p for p in projects if p["status"] == "Umsetzung"
                     and p["department"] is not None and p["field"])
        dept = next(d for d in depts if d["id"] == str(moved["department"]))
        spec = t.config.mapping.get("projects")
        t.emu.edit(spec.title, moved["id"], {spec.column("status").name: "Pausiert"},
                   None)
        assert run_job(t.svc, t.config.job("dtc-sync")).status == "ok"

        t.emu.clear_requests()
        dry = run_job(t.svc, t.config.job("portfolio"), dry_run=True)
        assert dry.status == "ok" and dry.stats["planned_updates"] == 3
        assert not [r for r in t.emu.requests() if r["method"] in ("POST", "PATCH", "DELETE")
                    and "/_emulator" not in r["path"]]
        lines = {line.split(": ", 1)[0]: line for line in dry.details}
        assert set(lines) == {f"~ Dezernat · {dept['dezernat']}", f"~ Fachbereich · {dept['name']}",
                              f"~ Handlungsfeld · {moved['field']}"}
        assert all("Umsetzung " in line and " → " in line for line in lines.values())
        assert rows_by_key(t, "portfolio") == portfolio  # the dry run changed nothing

        out = run_job(t.svc, t.config.job("portfolio"))
        assert out.status == "ok" and out.stats["written"] == 3
        after = rows_by_key(t, "portfolio")
        changed = {k for k in after if after[k] != portfolio.get(k)}
        assert changed == {
            f"rollup:portfolio:Dezernat:{dept['dezernat']}",
            f"rollup:portfolio:Fachbereich:{dept['id']}",
            f"rollup:portfolio:Handlungsfeld:{moved['field']}",
        }
        for k in changed:
            assert after[k]["implementation"] == portfolio[k]["implementation"] - 1
            assert (after[k]["paused"] or 0) == (portfolio[k]["paused"] or 0) + 1

        # ---- a re-run with nothing changed writes nothing
        t.emu.clear_requests()
        for name in ROLLUP_JOBS:
            again = run_job(t.svc, t.config.job(name))
            assert again.status == "ok" and again.stats["written"] == 0, name
            assert again.stats["planned_updates"] == again.stats["planned_creates"] == 0
        assert not [r for r in t.emu.requests() if r["method"] in ("POST", "PATCH", "DELETE")
                    and "/_emulator" not in r["path"]]


def test_vanished_groups_are_deleted_under_the_mass_delete_guard(tenant: Tenant) -> None:
    t = tenant
    job = t.config.job("training-stats")
    assert run_job(t.svc, t.config.job("dtc-sync")).status == "ok"
    assert run_job(t.svc, job).status == "ok"
    before = rows_by_key(t, "training_stats")
    months = {k for k, r in before.items() if r["grain"] == "Monat"}
    assert months and len(before) > len(months)

    trainings = t.config.mapping.get("trainings")
    for item in t.emu.items(trainings.title):
        t.emu.delete_item(trainings.title, item["id"], None)
    assert run_job(t.svc, t.config.job("dtc-sync")).status == "ok"

    # the source suddenly reads empty: nothing is written, the run fails and says why
    refused = run_job(t.svc, job)
    assert refused.status == "failed" and refused.stats["written"] == 0
    assert "source reads empty" in (refused.message or "") + " ".join(refused.details)
    assert rows_by_key(t, "training_stats") == before

    # when it is intended: the month rows go, every category stays with zeros
    allowed = run_job(t.svc, job, allow_mass_delete=True)
    assert allowed.status == "ok" and allowed.stats["planned_deletes"] == len(months)
    after = rows_by_key(t, "training_stats")
    assert set(after) == set(before) - months
    assert all((r["sessions"], r["registrations"]) == (0, 0) for r in after.values())
