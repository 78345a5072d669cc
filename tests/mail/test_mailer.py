"""Exactly-once over the outbox and ledger: Graph-like transport, downtime, missed weeks,
DST weeks, reminders, personal digests, preview; MemoryStore and SQLite SqlStore."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest

from sp_sync.adapters.mail.files import FileTransport
from sp_sync.adapters.store import open_store
from sp_sync.adapters.store.memory import MemoryStore
from sp_sync.domain.periods import scheduled_at, shift_period
from sp_sync.engine.digests import (
    DigestSources,
    MailContext,
    preview_weekly,
    run_personal_digests,
    run_reminders,
    run_weekly_digest,
)
from sp_sync.engine.mailing import Mailer, RateLimiter
from sp_sync.errors import ConfigError, TransientError
from sp_sync.ports import SendResult, StateStore
from sp_sync.render.mail import text_part
from sp_sync.render.renderer import TemplateRenderer
from tests.digest.dataset import NOW, TZ, changes, dataset, health, utc
from tests.mail.test_smtp import Crash, CrashAfterSend

TEAM = ["dtc-team@mannheim.de", "leitung@mannheim.de"]


class GraphLike:
    """A fake at the MailTransport port that behaves like Graph sendMail: it can accept a
    message and still fail the call, and it can be asked about Sent Items."""

    name = "graph"

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self.fail_after_accept = 0

    def send(self, message: EmailMessage) -> SendResult:
        self.sent.append(message)
        if self.fail_after_accept:
            self.fail_after_accept -= 1
            raise TransientError("504 Gateway Timeout", status=504)
        return SendResult(True)

    def was_sent(self, message_id: str) -> bool:
        return any(m["Message-ID"] == message_id for m in self.sent)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    s = MemoryStore() if request.param == "memory" else open_store(
        f"sqlite:///{tmp_path / 'state.db'}")
    yield s
    s.close()


def sources() -> DigestSources:
    data = dataset()
    return DigestSources(
        records=lambda key: data.get(key, []),
        changes=lambda since: [c for c in changes() if c.changed_at > since],
        last_sync=lambda: health().last_sync,
        runs=lambda: list(health().runs),
    )


def ctx() -> MailContext:
    return MailContext(sender="dtc@mannheim.de", renderer=TemplateRenderer(), tz=TZ, locale="de",
                       organisation="Stadt Mannheim")


def mails(folder: Path) -> list[EmailMessage]:
    out = []
    for p in sorted(folder.glob("*.eml")):
        m = message_from_bytes(p.read_bytes(), policy=default)
        assert isinstance(m, EmailMessage)
        out.append(m)
    return out


def weekly(store: StateStore, mailer: Mailer, now: datetime) -> dict[str, Any]:
    return run_weekly_digest(store, mailer, sources(), ctx(), TEAM, now)


def test_graph_like_crash_after_send_is_not_sent_again(tmp_path: Path) -> None:
    store = MemoryStore()
    graph = GraphLike()
    copies = FileTransport(tmp_path / "copies")
    with pytest.raises(Crash):
        weekly(CrashAfterSend(store), Mailer(CrashAfterSend(store), graph),  # type: ignore[arg-type]
               NOW)
    assert len(graph.sent) == 1
    mailer = Mailer(store, graph, copy_to=copies)
    assert mailer.flush_pending()["confirmed"] == 1  # found in "Sent Items"
    assert len(graph.sent) == 1
    stats = weekly(store, mailer, NOW)
    assert stats["sent"] == 1 and stats["already_sent"] == 1  # second recipient, first one
    assert len(graph.sent) == 2 and len(mails(tmp_path / "copies")) == 2
    assert store.ledger_periods("weekly-digest") == [("2026-W49", "sent")]


def test_graph_like_ambiguous_failure_is_settled_by_was_sent() -> None:
    store = MemoryStore()
    graph = GraphLike()
    graph.fail_after_accept = 1
    stats = weekly(store, Mailer(store, graph), NOW)
    assert stats["unknown"] == 1 and stats["periods"] == [
        {"period": "2026-W49", "status": "pending"}]
    assert store.ledger_periods("weekly-digest") == []  # not settled yet
    stats = weekly(store, Mailer(store, graph), NOW + timedelta(minutes=5))
    assert stats["sent"] == 1 and stats["already_sent"] == 1
    assert len(graph.sent) == 2  # one per recipient, nothing twice
    assert store.ledger_periods("weekly-digest") == [("2026-W49", "sent")]


def test_on_time_digest_once_and_a_quiet_rerun_sends_nothing(store: StateStore,
                                                            tmp_path: Path) -> None:
    files = FileTransport(tmp_path / "out")
    mailer = Mailer(store, files)
    stats = weekly(store, mailer, NOW)
    assert (stats["sent"], stats["late"], stats["skipped"]) == (2, 0, 0)
    for later in (NOW, NOW + timedelta(minutes=5), NOW + timedelta(days=3)):
        again = weekly(store, mailer, later)
        assert (again["sent"], again["already_sent"]) == (0, 0)
    sent = mails(tmp_path / "out")
    assert sorted(str(m["To"]) for m in sent) == sorted(TEAM)
    assert {str(m["Subject"]) for m in sent} == {"DTC-Wochenüberblick KW 49/2026"}
    assert store.ledger_periods("weekly-digest") == [("2026-W49", "sent")]


def test_downtime_across_monday_gives_exactly_one_late_digest(store: StateStore,
                                                             tmp_path: Path) -> None:
    mailer = Mailer(store, FileTransport(tmp_path / "out"))
    weekly(store, mailer, utc(2026, 11, 23, 6, 1))  # W48 on time
    # down from Sunday evening until Monday 11:30 local
    stats = weekly(store, mailer, utc(2026, 11, 30, 10, 30))
    assert (stats["sent"], stats["late"], stats["skipped"]) == (2, 1, 0)
    assert weekly(store, mailer, utc(2026, 11, 30, 11))["sent"] == 0
    w49 = [m for m in mails(tmp_path / "out") if "KW 49" in str(m["Subject"])]
    assert len(w49) == 2
    assert str(w49[0]["Subject"]) == "[verspätet] DTC-Wochenüberblick KW 49/2026"
    assert "kommt verspätet (geplant: Montag, 30. November 2026, 07:00)" in (
        text_part(w49[0]) or "")
    assert store.ledger_periods("weekly-digest") == [("2026-W48", "sent"), ("2026-W49", "late")]


def test_two_missed_weeks_send_one_and_name_the_skipped(store: StateStore,
                                                       tmp_path: Path) -> None:
    mailer = Mailer(store, FileTransport(tmp_path / "out"))
    weekly(store, mailer, utc(2026, 11, 23, 6, 1))  # W48
    stats = weekly(store, mailer, utc(2026, 12, 15, 8))  # Tuesday of W51
    assert (stats["sent"], stats["late"], stats["skipped"]) == (2, 1, 2)
    assert store.ledger_periods("weekly-digest") == [
        ("2026-W48", "sent"), ("2026-W49", "skipped"), ("2026-W50", "skipped"),
        ("2026-W51", "late")]
    latest = [m for m in mails(tmp_path / "out") if "KW 51" in str(m["Subject"])]
    assert len(latest) == 2
    assert "Ausgelassene Wochen: KW 49/2026, KW 50/2026" in (text_part(latest[0]) or "")
    # the next regular digest no longer lists them
    weekly(store, mailer, utc(2026, 12, 21, 6, 1))
    w52 = next(m for m in mails(tmp_path / "out") if "KW 52" in str(m["Subject"]))
    assert "Ausgelassene Wochen: keine" in (text_part(w52) or "")


@pytest.mark.parametrize("first_monday", ["2026-W13", "2026-W44"])
def test_dst_weeks_one_digest_at_seven_local(first_monday: str, tmp_path: Path) -> None:
    """Hourly ticks over three weeks around a DST switch: one digest per ISO week, sent
    in the tick of Monday 07:00 local, never late."""
    store = MemoryStore()
    mailer = Mailer(store, FileTransport(tmp_path / "out"))
    start = (scheduled_at(first_monday, TZ) - timedelta(days=2)).astimezone(UTC)
    store.ledger_put("weekly-digest", shift_period(first_monday, -1), "sent", start)
    sends: list[tuple[datetime, dict[str, Any]]] = []
    for hour in range(24 * 21):
        now = start + timedelta(hours=hour)
        stats = run_weekly_digest(store, mailer, sources(), ctx(), TEAM[:1], now)
        if stats["sent"]:
            sends.append((now, stats))
    assert len(sends) == 3
    for now, stats in sends:
        local = now.astimezone(scheduled_at(first_monday, TZ).tzinfo)
        assert (local.weekday(), local.hour, stats["late"]) == (0, 7, 0)


def test_rate_limiter_never_lets_more_than_30_through_in_any_60_seconds() -> None:
    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    limiter = RateLimiter(30, 60.0, clock=lambda: clock[0], sleep=sleep)
    stamps = []
    for i in range(200):
        clock[0] += 0.7 if i % 7 else 0.0  # bursts and gaps
        limiter.acquire()
        stamps.append(clock[0])
    for i, t in enumerate(stamps):
        in_window = [s for s in stamps if t <= s < t + 60.0]
        assert len(in_window) <= 30, (i, t)
    assert stamps[-1] >= 60.0 * (200 // 30)  # it did have to wait


def test_reminders_once_per_event_and_participant_with_calendar(tmp_path: Path) -> None:
    store = MemoryStore()
    mailer = Mailer(store, FileTransport(tmp_path / "out"))
    two_days_before = utc(2026, 12, 1, 7)
    stats = run_reminders(store, mailer, sources(), ctx(), two_days_before)
    assert stats["sent"] == 2
    assert run_reminders(store, mailer, sources(), ctx(), two_days_before + timedelta(days=1))[
        "sent"] == 0  # the day before: already reminded
    sent = mails(tmp_path / "out")
    assert sorted(str(m["To"]) for m in sent) == ["anna.becker@mannheim.de",
                                                 "ben.koch@mannheim.de"]
    cal = next(p for p in sent[0].walk() if p.get_content_type() == "text/calendar")
    body = cal.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "UID:trainings-17@mannheim.de" in body and "METHOD:REQUEST" in body
    assert "ATTENDEE" in body and "ORGANIZER" in body
    assert store.ledger_periods("reminders") == [("2026-12-03:training:17", "sent")]
    # round table: three days before, to the coordinators of active departments
    rt = run_reminders(store, mailer, sources(), ctx(), utc(2026, 12, 4, 7))
    assert rt["sent"] == 2


def test_personal_digests_once_per_week(tmp_path: Path) -> None:
    store = MemoryStore()
    mailer = Mailer(store, FileTransport(tmp_path / "out"))
    leads = run_personal_digests(store, mailer, sources(), ctx(), "leads", NOW)
    coords = run_personal_digests(store, mailer, sources(), ctx(), "coordinators", NOW,
                                  opt_out=["deniz.yilmaz@mannheim.de"])
    assert (leads["sent"], coords["sent"]) == (2, 1)
    assert run_personal_digests(store, mailer, sources(), ctx(), "leads", NOW)["sent"] == 0
    subjects = sorted(str(m["Subject"]) for m in mails(tmp_path / "out"))
    assert subjects == ["IT-Koordination: Ihr Wochenüberblick KW 49/2026",
                        "Ihre DTC-Projekte – KW 49/2026", "Ihre DTC-Projekte – KW 49/2026"]
    assert store.ledger_periods("lead-digests") == [("2026-W49", "sent")]


def test_preview_renders_without_sending(tmp_path: Path) -> None:
    path = preview_weekly(sources(), ctx(), tmp_path / "preview", NOW + timedelta(days=1),
                          period="2026-W49")
    assert path.name == "preview-weekly-2026-W49.html"
    assert "Portfolio auf einen Blick" in path.read_text(encoding="utf-8")
    assert path.with_suffix(".txt").read_text(encoding="utf-8").startswith(
        "DTC-Wochenüberblick KW 49/2026")
    assert path.with_suffix(".eml").is_file()


def test_weekly_digest_without_recipients_is_a_config_error() -> None:
    store = MemoryStore()
    with pytest.raises(ConfigError, match="no recipients"):
        run_weekly_digest(store, Mailer(store, GraphLike()), sources(), ctx(), [], NOW)
    assert store.ledger_periods("weekly-digest") == []
