"""``python -m sp_sync.adapters.store.migrations <alembic command> …`` without an ini file.

Runs against ``SP_SYNC_MIGRATIONS_URL`` or a scratch SQLite file under var/, which is
brought to head first so ``revision --autogenerate`` sees the current schema.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from alembic import command
from alembic.config import CommandLine

from sp_sync.adapters.store.migrations import make_config


def main(argv: list[str]) -> None:
    cli = CommandLine(prog="python -m sp_sync.adapters.store.migrations")
    options = cli.parser.parse_args(argv)
    if not hasattr(options, "cmd"):
        cli.parser.error("too few arguments")
    url = os.environ.get("SP_SYNC_MIGRATIONS_URL")
    if url is None:
        scratch = Path("var/migrations-dev.db")
        scratch.parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{scratch}"
        if argv[0] not in ("upgrade", "downgrade", "stamp"):
            command.upgrade(make_config(url), "heads")
    cli.run_cmd(make_config(url), options)


if __name__ == "__main__":
    main(sys.argv[1:])
