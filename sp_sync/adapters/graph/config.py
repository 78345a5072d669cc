"""Settings the Graph adapter needs, decoupled from ``sp_sync.config.settings``.

The lead maps ``Settings`` → :class:`GraphConfig`; tests build one from the emulator's info.
``sleep`` and ``clock`` are injectable so tests can record waits instead of sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sp_sync import __version__
from sp_sync.errors import ConfigError


@dataclass(frozen=True)
class GraphConfig:
    tenant_id: str
    client_id: str
    client_secret: str | None = None
    certificate_pem: str | None = None  # private key + certificate, PEM text
    certificate_passphrase: str | None = None
    authority_host: str = "https://login.microsoftonline.com"
    graph_url: str = "https://graph.microsoft.com/v1.0"
    ca_bundle: str | None = None
    proxy_url: str | None = None  # None: HTTPS_PROXY/NO_PROXY from the environment
    organisation: str = "Stadt Mannheim"
    version: str = __version__
    run_time_budget_s: float = 900.0
    max_retry_after_s: float = 300.0
    max_attempts: int = 6  # per request, including the first
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 60.0
    timeout_s: tuple[float, float] = (10.0, 120.0)  # (connect, read)
    # Bounds on every answer (B5): a larger body is refused while it streams in; an item
    # nested deeper or with a longer text value is poison (reported, skipped).
    max_response_bytes: int = 8 * 1024 * 1024
    max_item_depth: int = 32
    max_value_chars: int = 1_000_000
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not (self.client_secret or self.certificate_pem):
            raise ConfigError(
                "no Graph credential: set SP_SYNC_CERTIFICATE_PATH (preferred) or "
                "SP_SYNC_CLIENT_SECRET"
            )

    @property
    def authority(self) -> str:
        return f"{self.authority_host.rstrip('/')}/{self.tenant_id}"

    @property
    def graph_origin(self) -> str:
        parts = urlsplit(self.graph_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def graph_root(self) -> str:
        """The service root without trailing slash, e.g. ``https://graph.microsoft.com/v1.0``."""
        return self.graph_url.rstrip("/")

    @property
    def scope(self) -> str:
        return f"{self.graph_origin}/.default"

    @property
    def user_agent(self) -> str:
        # Microsoft deprioritises undecorated traffic; this is the documented shape.
        return f"NONISV|{self.organisation}|sp-sync/{self.version}"

    @property
    def verify(self) -> str | bool:
        return self.ca_bundle or True
