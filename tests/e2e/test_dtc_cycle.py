"""The whole DTC cycle on the emulator, asserted by its end state (issue 2)."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

from sp_sync.app.demo import run_demo
from sp_sync.config.mapping import load_mapping
from sp_sync.engine.runner import run_job

from .conftest import MONDAY, REPO, Tenant


def test_demo_cycle_mirrors_every_list_and_sends_one_weekly_digest(tmp_path: Path) -> None:
    result = run_demo(base=tmp_path / "demo", today=MONDAY)

    assert result.ok, [(o.job, o.status, o.message, o.details) for o in result.outcomes]
    mapping = load_mapping(REPO / "config" / "lists.toml")
    for spec in mapping.lists:
        if spec.role == "source":
            # every live item in SharePoint is mirrored, and the cursor is stored
            assert result.mirrored[spec.key] == result.served[spec.title], spec.key
            assert result.cursors[spec.key], spec.key
    assert result.mirrored["projects"] == 40

    weekly = [m for m in result.mails if m["subject"].startswith("DTC-Wochenüberblick")]
    assert len(weekly) == 1
    digest = weekly[0]
    assert digest["recipients"] == ["dtc@mannheim.de"]
    assert digest["subject"] == "DTC-Wochenüberblick KW 49/2026"
    text = digest["text"]
    for section in ("Portfolio auf einen Blick", "Was sich geändert hat",
                    "Schulungen in den nächsten 14 Tagen", "Nächster Runder Tisch"):
        assert section in text
    assert "40 Projekte" in text
    # a person's edit during the week shows old → new and who made it
    assert "Status: Planung → Umsetzung" in text
    assert "Ampel: Gelb → Rot" in text

    # the digest is also in the outbox folder, as .eml (multipart/alternative) and .html
    assert result.digest_html is not None and result.digest_html.exists()
    eml = result.digest_html.with_suffix(".eml")
    msg = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert msg.get_content_type() == "multipart/alternative" or msg.is_multipart()
    assert msg.get_body(("plain",)) is not None and msg.get_body(("html",)) is not None

    # the public subset reached its own list
    assert result.served["ProjekteOeffentlich"] == 16

    # the run history reached SyncProtokoll: one row per run before the run-log job's own
    assert result.outcomes[-1].job == "run-log"
    assert result.served["SyncProtokoll"] == result.extra["run_log"] == len(result.outcomes) - 1


def test_second_cycle_reads_one_request_per_list_and_writes_and_sends_nothing(
    tenant: Tenant,
) -> None:
    jobs = [tenant.config.job(n) for n in (
        "dtc-sync", "public-projects", "weekly-digest", "lead-digests", "coordinator-digests",
        "reminders")]
    for job in jobs:
        assert run_job(tenant.svc, job).status == "ok"
    mails_after_first = len(tenant.emu.mail())
    assert mails_after_first > 1

    tenant.emu.clear_requests()
    outcomes = [run_job(tenant.svc, job) for job in jobs]

    assert all(o.status == "ok" for o in outcomes)
    log = tenant.emu.requests()
    sources = [s for s in tenant.config.mapping.lists if s.role == "source"]
    deltas = [r for r in log if r["path"].endswith("/items/delta")]
    # dtc-sync: exactly one delta request per source list; public-projects: one per list
    # it reads; nothing else is sent at all
    assert outcomes[0].job == "dtc-sync" and outcomes[0].stats["requests"] == len(sources)
    assert not [r for r in log if r["method"] in ("POST", "PATCH", "DELETE")
                and "/_emulator" not in r["path"]]
    assert len(tenant.emu.mail()) == mails_after_first
    assert outcomes[1].stats["written"] == 0
    assert len(deltas) == sum(o.stats["requests"] for o in outcomes)


def test_a_persons_edit_reaches_the_mirror_with_its_editor(tenant: Tenant) -> None:
    svc, mapping = tenant.svc, tenant.config.mapping
    run_job(svc, tenant.config.job("dtc-sync"))
    projects = mapping.get("projects")
    status = projects.column("status").name
    item = next(i for i in tenant.emu.items(projects.title) if i["fields"][status] == "Idee")
    tenant.emu.edit(projects.title, item["id"], {status: "Planung"}, "anna.becker@mannheim.de")

    outcome = run_job(svc, tenant.config.job("dtc-sync"))

    assert outcome.stats["updated"] == 1
    mirrored = svc.store.get("projects", item["id"])
    assert mirrored is not None and mirrored.fields[status] == "Planung"
    changes = [c for c in svc.store.changes("projects") if c.item_id == item["id"]]
    assert [(c.column, c.old, c.new) for c in changes] == [("status", "Idee", "Planung")]
    assert changes[0].changed_by and "Becker" in changes[0].changed_by


def test_the_shipped_mapping_reads_the_demo_site_without_a_schema_problem(
    tenant: Tenant,
) -> None:
    """The emulator describes its demo site itself (emulator/seeds/dtc_site.toml); sp-sync
    reaches it through config/lists.toml. The two must agree, list by list, column by
    column — as the schema check before every pull sees it."""
    from sp_sync.domain.schema import check_columns

    mapping = tenant.config.mapping
    checked = 0
    for spec in mapping.lists:
        if spec.key == "users":
            continue
        problems = check_columns(spec, tenant.svc.source.columns(tenant.svc.ref(spec)))
        assert problems == [], [p.message for p in problems]
        checked += 1
    assert checked == len(mapping.lists) - 1
