"""Provisioning over the ``ListAdmin`` port: create the lists sp-sync writes."""

from __future__ import annotations

from collections.abc import Sequence

from sp_sync.domain.model import ListMapping
from sp_sync.domain.provisioning import column_definitions
from sp_sync.ports import ListAdmin, ListRef


def provision(
    admin: ListAdmin,
    mapping: ListMapping,
    site_url: str,
    roles: Sequence[str] = ("target",),
) -> dict[str, bool]:
    """Ensure every mapped list with one of ``roles``; lookup targets first.

    Returns list title → whether anything was created or changed.
    """
    specs = [s for s in mapping.lists if s.role in roles]
    done: dict[str, bool] = {}
    pending = list(specs)
    while pending:
        progressed = False
        for spec in list(pending):
            deps = {mapping.get(c.lookup_list).title for c in spec.columns
                    if c.lookup_list and c.lookup_list in mapping}
            if any(d in {s.title for s in pending} - {spec.title} for d in deps):
                continue
            ref = ListRef(spec.site_url or site_url, spec.title)
            done[spec.title] = admin.ensure_list(ref, column_definitions(spec, mapping))
            pending.remove(spec)
            progressed = True
        if not progressed:  # a lookup cycle: create in mapping order, lookups resolve later
            spec = pending.pop(0)
            ref = ListRef(spec.site_url or site_url, spec.title)
            done[spec.title] = admin.ensure_list(ref, column_definitions(spec, mapping))
    return done
