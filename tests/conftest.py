"""Suite-wide fixtures."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """CLI tests configure logging like the real command (a Rich handler on stderr); put the
    root logger back afterwards so later tests' logs go to pytest's capture, not the terminal."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh schema in the test database (``SP_SYNC_TEST_POSTGRES_URL``, which
    ``.ci/run`` sets; skipped without it), dropped after the test."""
    url = os.environ.get("SP_SYNC_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("SP_SYNC_TEST_POSTGRES_URL is not set (e.g. "
                    "postgresql+psycopg://postgres@127.0.0.1:5432/sp_sync_test)")
    import sqlalchemy as sa

    from sp_sync.adapters.store.sql import normalise_url

    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    engine = sa.create_engine(normalise_url(url))
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    engine.dispose()
