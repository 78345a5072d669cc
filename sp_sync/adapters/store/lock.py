"""One sp-sync process per SQLite file: an exclusive ``flock`` on ``<db>.lock``.

SQLite itself would let a second process in and the two would then fight over
cursors and outbox rows; failing at start with the other pid is clearer.
The kernel drops the lock when the process dies, so a stale file never blocks.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from sp_sync.errors import StoreError, StoreLocked


class FileLock:
    def __init__(self, db_path: Path, shown_as: str) -> None:
        self.path = db_path.with_name(db_path.name + ".lock")
        self._shown_as = shown_as
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as exc:
            raise StoreError(
                f"state_url: cannot create the lock file {self.path}: {exc.strerror} — make "
                f"{self.path.parent} writable for the user sp-sync runs as, or point state_url "
                "(SP_SYNC_STATE_URL) elsewhere"
            ) from None
        handle = os.fdopen(fd, "a+", encoding="ascii")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            pid = handle.read().strip() or "unknown"
            handle.close()
            raise StoreLocked(
                f"state store {self._shown_as} is in use by another sp-sync process "
                f"(pid {pid}); stop it or point SP_SYNC_STATE_URL elsewhere"
            ) from None
        except BaseException:
            handle.close()
            raise
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None
