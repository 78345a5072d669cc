"""Provisioning over the ``ListAdmin`` port: create the lists sp-sync writes."""

from __future__ import annotations

from collections.abc import Sequence

from sp_sync.domain.model import ListMapping
from sp_sync.domain.provisioning import column_definitions, sync_key_definition
from sp_sync.ports import ListAdmin, ListRef


def provision(
    admin: ListAdmin,
    mapping: ListMapping,
    site_url: str,
    roles: Sequence[str] = ("target",),
    sync_keys: bool = True,
) -> dict[str, bool]:
    """Ensure every mapped list with one of ``roles``; lookup targets first. With
    ``sync_keys``, every other list that declares ``sync_key`` (a people-edited list
    sp-sync adds rows to, such as RundeTische) gets its SyncKey column and nothing else:
    the people's list itself and its columns are theirs. Such a list must already exist
    (provisioning would otherwise create it with the SyncKey column alone).

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
    if sync_keys:
        for spec in mapping.lists:
            key = sync_key_definition(spec)
            if spec.role in roles or key is None:
                continue
            done[spec.title] = admin.ensure_list(ListRef(spec.site_url or site_url, spec.title),
                                                 [key])
    return done
