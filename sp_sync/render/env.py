"""The Jinja2 environment for mail templates.

Lookup order: the job's templates folder (admin copies), then the packaged defaults.
A name without folder ("weekly.html") falls back to ``default/weekly.html``, so an admin
template can be a full copy or ``{% extends "default/weekly.html" %}`` with a few
blocks overridden. HTML templates autoescape: list values are data, never markup.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    select_autoescape,
)

from sp_sync.render.i18n import Formatter

PACKAGED = Path(__file__).parent / "templates"
SAFE_SCHEMES = frozenset({"http", "https", "mailto"})


class _DefaultsLoader(BaseLoader):
    """Packaged templates: ``default/x`` as is, a bare ``x`` as ``default/x``."""

    def __init__(self) -> None:
        self._fs = FileSystemLoader(str(PACKAGED))

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        try:
            return self._fs.get_source(environment, template)
        except TemplateNotFound:
            return self._fs.get_source(environment, f"default/{template}")


def safe_url(value: Any) -> str | None:
    """The URL if it may become a link (http, https, mailto), else ``None``."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    if scheme not in SAFE_SCHEMES or any(c in url for c in "\r\n\t\x00"):
        return None
    return url


def _bar_width(percent: int) -> int:
    """Outlook drops table cells of width 0: keep every bar visible."""
    return max(1, min(100, int(percent)))


@lru_cache(maxsize=16)
def make_environment(templates_dir: str | None = None) -> Environment:
    """One environment per templates folder (compiled templates are cached)."""
    loaders: list[BaseLoader] = []
    if templates_dir:
        loaders.append(FileSystemLoader(templates_dir))
    loaders.append(_DefaultsLoader())
    env = Environment(
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["safe_url"] = safe_url
    env.filters["bar_width"] = _bar_width
    return env


def formatter_globals(fmt: Formatter) -> dict[str, Any]:
    """Per-render helpers: ``_`` (texts), ``col``, and the date/number formats."""
    return {
        "_": fmt.text,
        "col": fmt.column,
        "list_name": fmt.list_name,
        "cols": lambda keys: ", ".join(fmt.column(k) for k in keys),
        "long_date": fmt.long_date,
        "short_date": fmt.short_date,
        "date_time": fmt.date_time,
        "long_date_time": fmt.long_date_time,
        "time": fmt.time,
        "number": fmt.number,
        "money": fmt.money,
        "week": fmt.week,
        "lang": fmt.language,
    }
