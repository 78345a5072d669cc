"""F18: several processes deliver the same digests through one PostgreSQL outbox.

Real processes (multiprocessing, spawn), a real PostgreSQL schema and a real SMTP server
(aiosmtpd) that answers a little slowly, so the processes overlap: every
(job, period, recipient) must arrive exactly once.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections import Counter
from datetime import timedelta
from email.policy import SMTP
from typing import Any

import pytest

from sp_sync.render.mail import Rendered, build_message
from tests.digest.dataset import NOW
from tests.mail.conftest import Inbox, _serve

POSTGRES_URL = os.environ.get("SP_SYNC_TEST_POSTGRES_URL")
RECIPIENTS = [f"person{i:02d}@mannheim.de" for i in range(16)]
LEFT_OVER = [f"left{i:02d}@mannheim.de" for i in range(8)]
WORKERS = 3

pytestmark = pytest.mark.postgres


def _worker(url: str, schema: str, port: int, go: Any, out: Any) -> None:
    """One sp-sync process: flush the outbox at start, then run the weekly digest twice."""
    from sp_sync.adapters.mail.smtp import SmtpTransport
    from sp_sync.adapters.store.sql import SqlStore
    from sp_sync.engine.digests import run_weekly_digest
    from sp_sync.engine.mailing import Mailer, RateLimiter
    from tests.mail.test_mailer import ctx, sources

    store = SqlStore(url, schema=schema)
    try:
        mailer = Mailer(store, SmtpTransport("127.0.0.1", port, starttls=False, timeout=10),
                        limiter=RateLimiter(10_000), lease=timedelta(minutes=10))
        go.wait(30)
        flushed = mailer.flush_pending()
        stats = run_weekly_digest(store, mailer, sources(), ctx(), RECIPIENTS, NOW)
        again = run_weekly_digest(store, mailer, sources(), ctx(), RECIPIENTS, NOW)
        out.put({"flushed": flushed, "stats": stats, "again": again})
    finally:
        store.close()


def test_processes_on_one_postgres_send_each_key_once(pg_schema: str) -> None:
    from sp_sync.adapters.store.sql import SqlStore

    assert POSTGRES_URL
    # migrate once, before the race; and leave last week's mails pending, as a crash
    # would, so the processes' start-up flushes race for them too
    store = SqlStore(POSTGRES_URL, schema=pg_schema)
    for r in LEFT_OVER:
        msg = build_message(Rendered("KW 48", "t", "<p>t</p>"), "dtc@mannheim.de", r,
                            f"weekly-digest/2026-W48/{r}")
        store.outbox_add("weekly-digest", "2026-W48", r, str(msg["Message-ID"]),
                         msg.as_bytes(policy=SMTP), NOW)
    store.close()
    inbox = Inbox(delay=0.05)  # the server takes a moment per mail: the senders overlap
    for server in _serve(inbox):
        spawn = mp.get_context("spawn")
        go, out = spawn.Event(), spawn.Queue()
        procs = [spawn.Process(target=_worker,
                               args=(POSTGRES_URL, pg_schema, int(server.port), go, out))
                 for _ in range(WORKERS)]
        for p in procs:
            p.start()
        go.set()
        results = [out.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(60)
            assert p.exitcode == 0

    keys = Counter(str(m["X-SP-Sync-Key"]) for m in inbox.messages)
    assert keys == Counter({f"weekly-digest/2026-W49/{r}": 1 for r in RECIPIENTS}
                           | {f"weekly-digest/2026-W48/{r}": 1 for r in LEFT_OVER})
    assert sum(r["flushed"]["sent"] for r in results) == len(LEFT_OVER)
    assert sum(r["stats"]["sent"] for r in results) == len(RECIPIENTS)
    assert all(r["again"]["sent"] == 0 for r in results)
    store = SqlStore(POSTGRES_URL, schema=pg_schema)
    try:
        assert store.outbox_pending() == []
        assert store.ledger_periods("weekly-digest") == [("2026-W49", "sent")]
        entries = [store.outbox_get("weekly-digest", "2026-W49", r) for r in RECIPIENTS]
        assert all(e is not None and e.status == "sent" and e.attempts == 1 for e in entries)
    finally:
        store.close()
