"""``Emulator``: the emulated tenant served over HTTPS by uvicorn in a daemon thread."""

from __future__ import annotations

import atexit
import copy
import logging
import pickle
import shutil
import socket
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from sp_sync.emulator.app import EmulatorApp
from sp_sync.emulator.entra import Entra
from sp_sync.emulator.faults import Faults
from sp_sync.emulator.graph import Graph
from sp_sync.emulator.seed import load_seed, resolve_seed
from sp_sync.emulator.state import SpList, Tenant
from sp_sync.emulator.throttle import Throttle
from sp_sync.emulator.tls import ensure_certs

DEFAULT_TENANT_ID = str(uuid.uuid5(uuid.NAMESPACE_DNS, "tenant.emulator.sp-sync"))
DEFAULT_CLIENT_ID = str(uuid.uuid5(uuid.NAMESPACE_DNS, "app.emulator.sp-sync"))
DEFAULT_CLIENT_SECRET = "emu~secret.sp-sync.local"  # a fixed test secret, never a real one
_process_dir: Path | None = None
_dir_lock = threading.Lock()


def _default_state_dir() -> Path:
    """One temp dir per process so RSA keys are generated once per test session."""
    global _process_dir
    with _dir_lock:
        if _process_dir is None:
            _process_dir = Path(tempfile.mkdtemp(prefix="sp-sync-emulator-"))
            atexit.register(shutil.rmtree, _process_dir, True)
        return _process_dir


@dataclass(frozen=True)
class EmulatorInfo:
    base_url: str  # "https://127.0.0.1:PORT" (authority host and Graph origin)
    graph_url: str  # base_url + "/v1.0"
    authority: str  # base_url + "/" + tenant_id
    scope: str  # base_url + "/.default"
    tenant_id: str
    client_id: str
    client_secret: str
    certificate: str  # PEM path: private key + certificate
    certificate_thumbprint: str  # SHA-1, hex upper case
    ca_bundle: str
    site_url: str
    hostname: str
    mailbox: str
    env: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class Emulator:
    """Emulated Microsoft 365 tenant (Entra token endpoint + Graph subset) on 127.0.0.1."""

    def __init__(
        self,
        seed: str | dict[str, Any] | None = None,
        *,
        port: int = 0,
        latency_ms: float = 0,
        jitter_ms: float = 0,
        ru_per_minute: int | None = None,
        token_lifetime: int = 3600,
        state_dir: str | Path | None = None,
        data_dir: str | Path | None = None,
        batch_order: str = "request",
        tenant_id: str = DEFAULT_TENANT_ID,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
    ) -> None:
        self._seed = resolve_seed(seed)
        self._port = port
        self.data_dir = Path(data_dir) if data_dir else None
        self.certs = ensure_certs(state_dir or _default_state_dir())
        self.tenant = self._load_tenant()
        self.entra = Entra(tenant_id, client_id, client_secret, self.certs, token_lifetime)
        self.faults = Faults()
        self.throttle = Throttle(ru_per_minute)
        self.graph = Graph(self.tenant, self.entra, self.throttle, self.faults, self._record)
        self.graph.batch_order = batch_order
        self.app = EmulatorApp(self, self.graph)
        self.app.latency_ms, self.app.jitter_ms = latency_ms, jitter_ms
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._info: EmulatorInfo | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def _load_tenant(self) -> Tenant:
        snapshot = self.data_dir / "tenant.pickle" if self.data_dir else None
        if snapshot is not None and snapshot.is_file():
            with snapshot.open("rb") as fh:
                tenant = pickle.load(fh)  # our own snapshot in a local dir
            if isinstance(tenant, Tenant):
                return tenant
        return load_seed(copy.deepcopy(self._seed))

    def start(self) -> Emulator:
        if self._server is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # accepted sockets inherit this: without it headers and body go out in two segments and
        # Nagle + delayed ACK add ~40 ms to every response
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(("127.0.0.1", self._port))
        port = sock.getsockname()[1]
        base = f"https://127.0.0.1:{port}"
        self.entra.base_url = base
        self.graph.set_base(base)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=port,
            http="h11",
            loop="asyncio",
            lifespan="off",
            log_config=None,
            log_level=logging.CRITICAL,
            access_log=False,
            ssl_certfile=str(self.certs.server_cert),
            ssl_keyfile=str(self.certs.server_key),
            timeout_graceful_shutdown=0.1,  # type: ignore[arg-type]  # a float works
            timeout_keep_alive=30,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"emulator-{port}", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise RuntimeError("emulator failed to start")
            time.sleep(0.005)
        self._server, self._thread, self._sock = server, thread, sock
        self._info = self._make_info(base)
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout=10)
        self._sock.close()
        self._server = self._thread = None
        self._save()

    def _save(self) -> None:
        if self.data_dir is None:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.data_dir / "tenant.pickle.tmp"
        with self.tenant.lock, tmp.open("wb") as fh:
            pickle.dump(self.tenant, fh)
        tmp.replace(self.data_dir / "tenant.pickle")

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self, seed: str | dict[str, Any] | None = None) -> None:
        """Back to the seed (or a new one): data, request log, faults, RU windows, mail."""
        if seed is not None:
            self._seed = resolve_seed(seed)
        self.tenant = load_seed(copy.deepcopy(self._seed))
        self.graph.set_tenant(self.tenant)
        self.faults.clear()
        self.throttle.reset()
        self.app.log.clear()

    # -- info ------------------------------------------------------------------------------
    @property
    def info(self) -> EmulatorInfo:
        if self._info is None:
            raise RuntimeError("emulator not started")
        return self._info

    def _make_info(self, base: str) -> EmulatorInfo:
        site = self.tenant.default_site()
        mailbox = next(iter(self.tenant.mailboxes), "dtc@mannheim.de")
        e = self.entra
        env = {
            "SP_SYNC_TENANT_ID": e.tenant_id,
            "SP_SYNC_CLIENT_ID": e.client_id,
            "SP_SYNC_CLIENT_SECRET": e.client_secret,
            "SP_SYNC_CERTIFICATE_PATH": str(self.certs.client_pem),
            "SP_SYNC_AUTHORITY_HOST": base,
            "SP_SYNC_GRAPH_URL": base + "/v1.0",
            "SP_SYNC_CA_BUNDLE": str(self.certs.ca_bundle),
            "SP_SYNC_SITE_URL": site.web_url,
            "SP_SYNC_MAILBOX": mailbox,
        }
        return EmulatorInfo(
            base_url=base,
            graph_url=base + "/v1.0",
            authority=f"{base}/{e.tenant_id}",
            scope=base + "/.default",
            tenant_id=e.tenant_id,
            client_id=e.client_id,
            client_secret=e.client_secret,
            certificate=str(self.certs.client_pem),
            certificate_thumbprint=self.certs.thumbprint_sha1,
            ca_bundle=str(self.certs.ca_bundle),
            site_url=site.web_url,
            hostname=site.hostname,
            mailbox=mailbox,
            env=env,
        )

    # -- Python API for tests --------------------------------------------------------------
    def _list(self, title: str) -> SpList:
        for site in self.tenant.sites.values():
            lst = site.find_list(title)
            if lst is not None:
                return lst
        raise KeyError(f"no list {title!r}")

    def _record(self, entry: dict[str, Any]) -> None:
        self.app.record(entry)

    def requests(self) -> list[dict[str, Any]]:
        return list(self.app.log)

    def clear_requests(self) -> None:
        self.app.log.clear()

    def mail(self) -> list[dict[str, Any]]:
        with self.tenant.lock:
            return [m.to_dict() for m in self.tenant.outbox]

    def items(self, list_title: str) -> list[dict[str, Any]]:
        with self.tenant.lock:
            lst = self._list(list_title)
            return [
                {
                    "id": str(i.id),
                    "eTag": i.etag,
                    "version": i.version,
                    "fields": i.all_fields(),
                    "created": i.created,
                    "modified": i.modified,
                    "authorId": i.author_id,
                    "editorId": i.editor_id,
                }
                for i in (lst.items[iid] for iid in lst.ids)
            ]

    def edit(
        self, list_title: str, item_id: str | int, fields: dict[str, Any], user_email: str | None
    ) -> dict[str, Any]:
        """A person's edit: new version, new eTag, EditorLookupId = that person; shows in delta."""
        with self.tenant.lock:
            lst = self._list(list_title)
            user = self.tenant.user_for(lst.site, user_email)
            item = self.tenant.update_item(lst, lst.items[int(item_id)], fields, user)
            return {"id": str(item.id), "eTag": item.etag, "fields": item.all_fields()}

    def create_item(self, list_title: str, fields: dict[str, Any], user_email: str | None) -> str:
        with self.tenant.lock:
            lst = self._list(list_title)
            user = self.tenant.user_for(lst.site, user_email)
            return str(self.tenant.create_item(lst, fields, user).id)

    def delete_item(self, list_title: str, item_id: str | int, user_email: str | None) -> None:
        with self.tenant.lock:
            lst = self._list(list_title)
            self.tenant.delete_item(lst, lst.items[int(item_id)])

    def bulk_create(
        self, list_title: str, rows: list[dict[str, Any]], user_email: str | None = None
    ) -> None:
        """Many items at once (load tests)."""
        with self.tenant.lock:
            lst = self._list(list_title)
            user = self.tenant.user_for(lst.site, user_email)
            for fields in rows:
                self.tenant.create_item(lst, fields, user)

    def delete_list(self, list_title: str) -> None:
        """Delete a whole list (an admin's action); a list re-created under the same title
        gets a new id, as in SharePoint."""
        self.tenant.delete_list(self._list(list_title))

    def invalidate_delta(self, list_title: str) -> None:
        """Every delta token of this list now answers 410 Gone."""
        self.tenant.invalidate_delta(self._list(list_title))

    def list_id(self, list_title: str) -> str:
        return self._list(list_title).id

    @property
    def site_id(self) -> str:
        return self.tenant.default_site().id
