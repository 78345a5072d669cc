"""``python -m sp_sync.adapters.store.migrations <alembic command> …`` without an ini file."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from alembic.config import CommandLine

from sp_sync.adapters.store.migrations import make_config


def main(argv: list[str]) -> None:
    scratch = Path("var/migrations-dev.db")
    scratch.parent.mkdir(parents=True, exist_ok=True)
    url = os.environ.get("SP_SYNC_MIGRATIONS_URL", f"sqlite:///{scratch}")
    cli = CommandLine(prog="python -m sp_sync.adapters.store.migrations")
    options = cli.parser.parse_args(argv)
    if not hasattr(options, "cmd"):
        cli.parser.error("too few arguments")
    cli.run_cmd(make_config(url), options)


if __name__ == "__main__":
    main(sys.argv[1:])
