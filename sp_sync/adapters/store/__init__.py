"""State store adapters: :class:`MemoryStore` and :class:`SqlStore` (SQLite, PostgreSQL).

``open_store(settings.state_url)`` picks one by URL scheme.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from sp_sync.adapters.store.memory import MemoryStore
from sp_sync.errors import ConfigError
from sp_sync.ports import StateStore

if TYPE_CHECKING:
    from sp_sync.adapters.store.sql import SqlStore

__all__ = ["MemoryStore", "SqlStore", "open_store"]


def open_store(
    url: str, *, clock: Callable[[], datetime] | None = None, read_only: bool = False
) -> StateStore:
    """``memory://`` → :class:`MemoryStore`; ``sqlite:///path`` or
    ``postgresql+psycopg://user@host/db[?schema=name]`` → :class:`SqlStore`.

    Raises ``StoreLocked`` when another process holds the SQLite file, ``StoreError``
    when the database cannot be opened or migrated, ``ConfigError`` for other schemes.
    ``read_only``: for commands that only look; works while the daemon holds the store.
    """
    if url.startswith("memory:"):
        return MemoryStore(clock=clock)
    if url.startswith(("sqlite:", "postgresql:", "postgresql+", "postgres:")):
        from sp_sync.adapters.store.sql import SqlStore  # imports SQLAlchemy only when used

        return SqlStore(url, clock=clock, read_only=read_only)
    raise ConfigError(
        f"SP_SYNC_STATE_URL={url!r} is not supported: use sqlite:///var/state/sp-sync.db, "
        "postgresql+psycopg://user@host/db or memory://"
    )


def __getattr__(name: str) -> object:
    if name == "SqlStore":
        from sp_sync.adapters.store.sql import SqlStore

        return SqlStore
    raise AttributeError(name)
