"""serve() as the CLI runs it (a subprocess), persistence and state reset."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import requests

from sp_sync.emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]


def test_serve_prints_one_json_line_and_stops_on_sigterm(tmp_path: Path) -> None:
    code = f"from sp_sync.emulator import serve; serve(seed='tiny', state_dir={str(tmp_path)!r})"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        for key in (
            "graph_url",
            "authority",
            "tenant_id",
            "client_id",
            "client_secret",
            "certificate",
            "ca_bundle",
            "site_url",
            "mailbox",
            "env",
        ):
            assert info[key], key
        assert info["env"]["SP_SYNC_GRAPH_URL"] == info["graph_url"]
        assert Path(info["ca_bundle"]).parent == tmp_path
        s = requests.Session()
        s.trust_env = False
        s.verify = info["ca_bundle"]
        r = s.get(f"{info['authority']}/v2.0/.well-known/openid-configuration")
        assert r.status_code == 200
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_data_dir_survives_restart(tmp_path: Path) -> None:
    with Emulator(seed="tiny", data_dir=tmp_path) as emu:
        new_id = emu.create_item("Projekte", {"Title": "bleibt"}, "anna.becker@mannheim.de")
    with Emulator(seed="tiny", data_dir=tmp_path) as emu:
        titles = {i["id"]: i["fields"]["Title"] for i in emu.items("Projekte")}
    assert titles[new_id] == "bleibt"


def test_reset_restores_seed(emu: Emulator) -> None:
    emu.delete_item("Projekte", 1, None)
    emu.faults.add(__import__("sp_sync.emulator", fromlist=["FaultRule"]).FaultRule())
    emu.reset()
    assert [i["id"] for i in emu.items("Projekte")] == ["1", "2", "3"]
    assert emu.faults.rules() == [] and emu.requests() == []
