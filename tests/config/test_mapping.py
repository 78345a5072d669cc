from __future__ import annotations

from pathlib import Path

import pytest

from sp_sync.config.mapping import load_mapping
from sp_sync.domain.model import ColumnType
from sp_sync.domain.provisioning import column_definitions
from sp_sync.errors import ConfigError

from .conftest import REPO

BAD = """
[lists.departments]
title = "Fachbereiche"
[lists.departments.columns]
name = { name = "Title", type = "text" }

[lists.projects]
title = "Projekte"
[lists.projects.columns]
status     = { name = "Status", type = "choise", choices = ["Idee"] }
department = { name = "Fachbereich", type = "lookup", list = "departmnts" }
lead       = { name = "Lead", tpye = "person", type = "person" }
light      = { name = "Ampel", type = "choice" }
again      = { name = "Status", type = "text" }

[lists.public]
title = "Fachbereiche"
role = "target"
[lists.public.columns]
title = { name = "Title", type = "text" }
"""


def test_shipped_mapping_loads() -> None:
    mapping = load_mapping(REPO / "config" / "lists.toml")
    projects = mapping.get("projects")
    assert projects.title == "Projekte"
    assert projects.column("next_milestone").name == "N_x00e4_chster_x0020_Meilenstein"
    assert projects.column("department").lookup_list == "departments"
    assert projects.column("status").choices[:2] == ("Idee", "Planung")
    target = mapping.get("public_projects")
    assert (target.role, target.sync_key_column) == ("target", "SyncKey")
    for spec in mapping.lists:
        for col in spec.columns:
            if col.type in (ColumnType.LOOKUP, ColumnType.MULTILOOKUP):
                assert col.lookup_list in mapping


def test_every_mapping_problem_at_once(tmp_path: Path) -> None:
    path = tmp_path / "lists.toml"
    path.write_text(BAD, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_mapping(path)
    p = f"{path}: lists."
    expected = [
        p + "projects.columns.status.type: unknown type 'choise' — use one of text, note,",
        p + "projects.columns.department.list: unknown list 'departmnts' — use one of ",
        p + "projects.columns.lead.tpye: unknown key — ",
        p + "projects.columns.light.choices: missing or not a list of strings — ",
        p + "projects.columns.again.name: internal name 'Status' is already used by 'status'",
        p + "public.title: list 'Fachbereiche' is already mapped as 'departments'",
        p + "public.sync_key: missing on a target list — ",
    ]
    problems = err.value.problems
    for start in expected:
        assert any(x.startswith(start) for x in problems), (start, problems)
    assert len(problems) == len(expected)


def test_malformed_mapping_names_line(tmp_path: Path) -> None:
    path = tmp_path / "lists.toml"
    path.write_text('[lists.a]\ntitle = "A"\ncolumns = { x = }\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"invalid TOML: .*line 3"):
        load_mapping(path)


def test_column_definitions_for_provisioning() -> None:
    mapping = load_mapping(REPO / "config" / "lists.toml")
    defs = {d["name"]: d for d in column_definitions(mapping.get("projects"), mapping)}
    assert "Title" not in defs  # built in
    assert defs["Fachbereich"]["lookup"] == {
        "listId": "Fachbereiche", "columnName": "Title", "allowMultipleValues": False}
    assert defs["N_x00e4_chster_x0020_Meilenstein"]["displayName"] == "Nächster Meilenstein"
    assert defs["Start"]["dateTime"] == {"format": "dateOnly"}
    assert defs["Statusbericht"]["text"] == {"allowMultipleLines": True}
    assert defs["Budget"]["currency"] == {"locale": "de-DE"}
    assert defs["DTC_x002d_Leitung"]["personOrGroup"] == {}
    assert defs["Ampel"]["choice"]["choices"] == ["Grün", "Gelb", "Rot"]
    assert defs["_x00d6_ffentlich"]["indexed"] is True
    radar = {d["name"]: d for d in column_definitions(mapping.get("trend_radar"), mapping)}
    assert radar["Relevante_x0020_Fachbereiche"]["lookup"]["allowMultipleValues"] is True
    assert radar["Quelle"]["hyperlinkOrPicture"] == {"isPicture": False}
    target = column_definitions(mapping.get("public_projects"), mapping)
    assert next(d for d in target if d["name"] == "SyncKey")["indexed"] is True
