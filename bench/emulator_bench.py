"""Emulator benchmark: ``.venv/bin/python -m bench.emulator_bench [--items N] [--seconds S]``.

The emulator runs in its own process (as ``sp-sync emulator serve`` does) so client and server
do not share a GIL; clients are plain ``requests`` sessions. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parents[1]
LIST = "Aufgaben"


def _server(items: int) -> None:
    """Child process: tiny seed + ``items`` rows in one list; serve until stdin closes."""
    from sp_sync.emulator import Emulator

    with Emulator(seed="tiny", state_dir=ROOT / "var" / "emulator") as emu:
        rows = [
            {"Title": f"Aufgabe {i}", "Erledigt": i % 3 == 0, "ProjektLookupId": "1"}
            for i in range(items)
        ]
        emu.bulk_create(LIST, rows, "anna.becker@mannheim.de")
        sys.stdout.write(json.dumps({**emu.info.as_dict(), "site_id": emu.site_id}) + "\n")
        sys.stdout.flush()
        sys.stdin.read()


def _session(info: dict[str, Any]) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.verify = info["ca_bundle"]
    token = s.post(
        f"{info['authority']}/oauth2/v2.0/token",
        data={
            "client_id": info["client_id"],
            "client_secret": info["client_secret"],
            "grant_type": "client_credentials",
            "scope": info["scope"],
        },
    ).json()["access_token"]
    s.headers["Authorization"] = f"Bearer {token}"
    return s


def _reads(info: dict[str, Any], url: str, seconds: float, threads: int) -> float:
    """Single-item GETs on keep-alive connections. ``http.client`` rather than ``requests``:
    requests costs the client more CPU than the emulator spends answering."""
    token = _session(info).headers["Authorization"]
    ctx = ssl.create_default_context(cafile=info["ca_bundle"])
    parts = urlsplit(url)
    counts = [0] * threads
    stop = time.monotonic() + seconds

    def worker(n: int) -> None:
        conn = http.client.HTTPSConnection(parts.hostname or "", parts.port, context=ctx)
        i = 0
        while time.monotonic() < stop:
            conn.request("GET", f"{parts.path}/{i % 1000 + 1}", headers={"Authorization": token})
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200
            i += 1
        conn.close()
        counts[n] = i

    started = time.monotonic()
    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(counts) / (time.monotonic() - started)


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _reads_procs(info: dict[str, Any], url: str, seconds: float, procs: int) -> float:
    """Reads/s from ``procs`` client processes (one client process is GIL-bound)."""
    code = (
        "import json,sys; from bench.emulator_bench import _reads; "
        "a=json.loads(sys.argv[1]); print(_reads(a['info'], a['url'], a['s'], 2))"
    )
    arg = json.dumps({"info": info, "url": url, "s": seconds})
    children = [
        subprocess.Popen(
            [sys.executable, "-c", code, arg], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        for _ in range(procs)
    ]
    return sum(float(c.communicate()[0]) for c in children)


def _pages(s: requests.Session, first: str, marker: bytes) -> tuple[int, float, int]:
    """Follow nextLinks; count items by a per-item marker instead of parsing (the client's
    json.loads would dominate the figure, and it is the emulator being measured)."""
    started, n, calls, link = time.monotonic(), 0, 0, first
    while link:
        body = s.get(link).content
        calls += 1
        n += body.count(marker)
        m = re.search(rb'"@odata.nextLink":"([^"]+)"', body[-2000:])
        link = m.group(1).decode() if m else ""
    return n, time.monotonic() - started, calls


def _startup() -> dict[str, float]:
    from sp_sync.emulator import Emulator

    Emulator(seed="tiny", state_dir=ROOT / "var" / "emulator")  # certs exist afterwards
    starts, stops = [], []
    for _ in range(5):
        t0 = time.monotonic()
        emu = Emulator(seed="tiny", state_dir=ROOT / "var" / "emulator").start()
        t1 = time.monotonic()
        emu.stop()
        starts.append(t1 - t0)
        stops.append(time.monotonic() - t1)
    return {"start_s": round(max(starts), 3), "stop_s": round(max(stops), 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=50_000)
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    code = f"from bench.emulator_bench import _server; _server({args.items})"
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        s = _session(info)
        url = f"{info['graph_url']}/sites/{info['site_id']}/lists/{LIST}/items"
        out: dict[str, Any] = {"items": args.items}
        out["item_reads_per_s_1_client"] = round(_reads(info, url, args.seconds, 1))
        cpu0, t0 = _cpu_s(proc.pid), time.monotonic()
        rate = _reads_procs(info, url, args.seconds, 2)
        served = rate * (time.monotonic() - t0)
        out["item_reads_per_s_2x2_clients"] = round(rate)
        out["server_cpu_ms_per_read"] = round((_cpu_s(proc.pid) - cpu0) * 1000 / served, 3)
        for label in ("cold", "warm"):
            n, secs, calls = _pages(s, f"{url}?$expand=fields&$top=5000", b'"fields":{')
            out[f"full_pages_{label}_items_per_s"] = round(n / secs)
            out["full_pages_requests"] = calls
        n, secs, calls = _pages(s, f"{url}/delta?$top=5000", b'"fields":{')
        out["delta_full_items_per_s"] = round(n / secs)
        sub = [
            {"id": str(i), "method": "GET", "url": url.split("/v1.0", 1)[1] + f"/{i + 1}"}
            for i in range(20)
        ]
        t0, batches = time.monotonic(), 0
        while time.monotonic() - t0 < args.seconds:
            assert s.post(f"{info['graph_url']}/$batch", json={"requests": sub}).ok
            batches += 1
        out["batch_subrequests_per_s"] = round(batches * 20 / (time.monotonic() - t0))
    finally:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(timeout=30)
    out.update(_startup())
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
