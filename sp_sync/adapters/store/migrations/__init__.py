"""Alembic migrations of the state store, shipped inside the package.

They run on every open (``SqlStore`` calls :func:`upgrade`); there is no alembic.ini.
To add a migration, change ``tables.py`` and then write a new revision::

    .venv/bin/python -m sp_sync.adapters.store.migrations \
        revision --autogenerate --rev-id 0002 -m "add findings table"

(``--autogenerate`` compares ``tables.py`` with a scratch SQLite file under var/;
``tests/contract`` fails while the two disagree.)
Review the generated file in ``versions/`` and keep it SQLite- and PostgreSQL-compatible
(``op.batch_alter_table`` for ALTER on SQLite).
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

HERE = Path(__file__).resolve().parent


def make_config(url: str | None = None) -> Config:
    """An Alembic config built in code, pointing at this folder."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    # A leading letter: "0002_x.py" would not be an importable module name for mypy.
    cfg.set_main_option("file_template", "v%%(rev)s_%%(slug)s")
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(connection: sa.Connection, revision: str = "head") -> None:
    """Bring the schema on ``connection`` (inside its transaction) up to ``revision``."""
    cfg = make_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)
