"""The emulator enforcing Sites.Selected roles and the Mail.Send mailbox scope, so the
claims in docs/admin-setup.md are tested: `write` syncs but cannot provision, `manage`
can; `check --connect` names a missing site grant; mail only as the granted mailbox."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from sp_sync.app.cli import EXIT_CONFIG, EXIT_FAILED, app
from sp_sync.emulator import Emulator

TARGET = "ProjekteOeffentlich"


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), terminal_width=200)
    return result.exit_code, " ".join(result.output.split())


def test_write_syncs_but_cannot_provision_manage_can(emu: Emulator) -> None:
    emu.graph.permissions.grant("sites/dtc", "write")
    code, out = _cli("run-job", "dtc-sync")
    assert code == 0, out
    code, out = _cli("provision")
    assert code == EXIT_FAILED
    assert "'manage'" in out and "'write' is not enough" in out
    assert TARGET not in [lst["displayName"] for lst in _lists(emu)]

    emu.graph.permissions.grant("sites/dtc", "manage")
    code, out = _cli("provision")
    assert code == 0 and f"{TARGET}: created" in out
    assert TARGET in [lst["displayName"] for lst in _lists(emu)]


def test_read_cannot_write_items(emu: Emulator) -> None:
    emu.graph.permissions.grant("sites/dtc", "manage")
    assert _cli("provision")[0] == 0
    emu.graph.permissions.grant("sites/dtc", "read")
    code, out = _cli("run-job", "public-projects")
    assert code != 0, out
    assert '"written": 0' in out and '"failed_writes": 0' not in out
    assert emu.items(TARGET) == []  # nothing reached the list


def test_check_connect_names_a_missing_site_grant_and_the_mailbox_scope(
    emu: Emulator,
) -> None:
    emu.graph.permissions.grant("sites/dtc", None)  # enforced, no grant at all
    emu.graph.permissions.allow_mailbox(emu.info.mailbox)
    code, out = _cli("check", "--connect")
    assert code == EXIT_CONFIG
    assert "site_url" in out and "Sites.Selected grant on this site" in out

    emu.graph.permissions.grant("sites/dtc", "read")
    code, out = _cli("check", "--connect")
    assert "reading it is not permitted (expected with Mail.Send only)" in out
    assert "Schulungen (source)" in out  # lists are readable with `read`


def test_mail_only_as_the_granted_mailbox(emu: Emulator) -> None:
    from sp_sync.adapters.graph.client import GraphConnection
    from sp_sync.app.wiring import graph_config
    from sp_sync.config.settings import load_settings
    from sp_sync.errors import PermissionDenied

    emu.graph.permissions.allow_mailbox(emu.info.mailbox)
    message = {"message": {"subject": "x", "body": {"contentType": "Text", "content": "x"},
                           "toRecipients": [{"emailAddress": {"address": "a@mannheim.de"}}]}}
    with GraphConnection(graph_config(load_settings())) as conn:
        conn.request("POST", f"users/{emu.info.mailbox}/sendMail", json_body=message,
                     expect_json=False)
        with pytest.raises(PermissionDenied):
            conn.request("POST", "users/someone.else@mannheim.de/sendMail",
                         json_body=message, expect_json=False)


def _lists(emu: Emulator) -> list[dict[str, str]]:
    site = emu.tenant.default_site()
    return [{"displayName": lst.display_name} for lst in site.lists.values()]
