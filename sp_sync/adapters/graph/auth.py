"""Tokens from Entra ID: our own msal ``ConfidentialClientApplication``.

Certificate first (``{"private_key", "thumbprint", "public_certificate"}`` derived from one
PEM), client secret allowed. msal returns failures as dicts; we turn them into ``AuthError``
with the AADSTS code and what the admin should check. A token request is made once (plus a
bounded number of retries for network failures only), never in a loop.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import msal
import msal.exceptions
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from sp_sync.adapters.graph.config import GraphConfig
from sp_sync.errors import AuthError, TlsError, TransientError

log = logging.getLogger(__name__)

# What to check per AADSTS code (the codes admins actually meet with app-only auth).
AADSTS_HINTS: dict[int, str] = {
    7000215: "the client secret is wrong or expired: check SP_SYNC_CLIENT_SECRET / expiry in "
    "Entra ID > App registrations > Certificates & secrets",
    7000222: "the client secret has expired: create a new one in Entra ID > App registrations "
    "> Certificates & secrets and update SP_SYNC_CLIENT_SECRET",
    700027: "the certificate is not registered on the app or the key does not match: upload "
    "the certificate in Entra ID > App registrations > Certificates & secrets and check "
    "SP_SYNC_CERTIFICATE_PATH / SP_SYNC_CERTIFICATE_PEM",
    700016: "client id unknown in tenant: check SP_SYNC_CLIENT_ID and SP_SYNC_TENANT_ID "
    "(the app must be registered in this tenant)",
    90002: "tenant id unknown: check SP_SYNC_TENANT_ID (and SP_SYNC_AUTHORITY_HOST for "
    "national clouds)",
    700024: "the client assertion is not within its valid time range (clock skew): "
    "synchronise this host's clock (NTP)",
    7000112: "the application is disabled in Entra ID: enable it or ask the tenant admin",
    50034: "unknown account/app in this tenant: check SP_SYNC_TENANT_ID",
}

TRANSIENT_AUTH_ATTEMPTS = 3
TRANSIENT_AUTH_ERRORS = frozenset({"temporarily_unavailable", "server_error"})


@functools.lru_cache(maxsize=8)
def certificate_credential(pem: str, passphrase: str | None = None) -> dict[str, str]:
    """msal's certificate credential from one PEM holding the private key and certificate."""
    data = pem.encode()
    pw = passphrase.encode() if passphrase else None
    try:
        key = serialization.load_pem_private_key(data, password=pw)
        cert = x509.load_pem_x509_certificate(data)
    except (ValueError, TypeError) as exc:
        raise AuthError(
            "cannot read the certificate PEM (needs private key + certificate; check "
            f"SP_SYNC_CERTIFICATE_PASSPHRASE): {exc}"
        ) from None
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    der = cert.public_bytes(serialization.Encoding.DER)
    digest = hashes.Hash(hashes.SHA1())  # x5t is SHA-1 by spec
    digest.update(der)
    return {
        "private_key": key_pem,
        "thumbprint": digest.finalize().hex(),
        "public_certificate": cert.public_bytes(serialization.Encoding.PEM).decode(),
    }


def proxies_for(url: str, proxy_url: str | None) -> dict[str, str]:
    """The proxy to reach ``url``: ``proxy_url`` if set, else ``HTTPS_PROXY``/``HTTP_PROXY``
    from the environment; none when ``NO_PROXY`` covers the host (also for ``proxy_url``)."""
    if requests.utils.should_bypass_proxies(url, no_proxy=None):
        return {}
    if proxy_url:
        return {"https": proxy_url, "http": proxy_url}
    env = requests.utils.get_environ_proxies(url, no_proxy=None)
    return {k: v for k, v in env.items() if k in ("https", "http", "all")}


def make_session(config: GraphConfig, url: str | None = None) -> requests.Session:
    """A session that trusts exactly the configured CA (REQUESTS_CA_BUNDLE can't override)
    and goes through the proxy chosen for ``url`` (the Graph root or the login host).

    ``trust_env`` stays off so no other environment setting (a CA bundle, .netrc) applies;
    the proxy is resolved here instead, once per session (each talks to one host)."""
    session = requests.Session()
    session.trust_env = False
    session.verify = config.verify
    session.proxies.update(proxies_for(url or config.graph_root, config.proxy_url))
    return session


def tls_message(host: str, exc: Exception) -> str:
    reason = str(exc)
    for marker in ("certificate verify failed", "CERTIFICATE_VERIFY_FAILED", "hostname mismatch"):
        if marker in reason:
            reason = marker
            break
    return (
        f"TLS verification of {host} failed ({reason}): the server's certificate is not "
        "trusted — if a TLS-inspecting proxy sits in between, set ca_bundle "
        "(SP_SYNC_CA_BUNDLE) to its CA certificate (PEM); not retried"
    )


def auth_error(result: dict[str, Any]) -> AuthError:
    codes = result.get("error_codes") or []
    code = int(codes[0]) if codes else None
    desc = str(result.get("error_description") or result.get("error") or "unknown error")
    first_line = desc.splitlines()[0] if desc else desc
    hint = AADSTS_HINTS.get(code) if code is not None else None
    label = f"AADSTS{code}" if code is not None else str(result.get("error"))
    text = f"Entra ID refused the token request ({label}): {first_line}"
    if hint:
        text += f" — {hint}"
    return AuthError(text, code=code)


class TokenProvider:
    """App-only tokens for the Graph scope, cached in memory by msal."""

    def __init__(self, config: GraphConfig, session: requests.Session | None = None) -> None:
        self._config = config
        self._session = session or make_session(config, config.authority_host)
        self._lock = threading.Lock()
        self._app: msal.ConfidentialClientApplication | None = None
        self.token_requests = 0  # token acquisitions that went past msal's cache check

    def _credential(self) -> dict[str, str] | str:
        c = self._config
        if c.certificate_pem:
            return certificate_credential(c.certificate_pem, c.certificate_passphrase)
        assert c.client_secret  # GraphConfig guarantees one of the two
        return c.client_secret

    def _build(self) -> msal.ConfidentialClientApplication:
        host = urlsplit(self._config.authority_host).hostname or ""
        known = host in msal.authority.WELL_KNOWN_AUTHORITY_HOSTS
        kwargs: dict[str, Any] = {}
        if not known:
            # Instance discovery would ask login.microsoftonline.com about a private host.
            kwargs["instance_discovery"] = False
        return msal.ConfidentialClientApplication(
            self._config.client_id,
            client_credential=self._credential(),
            authority=self._config.authority,
            http_client=self._session,
            **kwargs,
        )

    def _app_or_build(self) -> msal.ConfidentialClientApplication:
        if self._app is None:
            self._app = self._with_network_retry(self._build)
        return self._app

    def _with_network_retry(self, fn: Callable[[], Any]) -> Any:
        """Run an msal call; retry only what is transient (network, 5xx, a non-JSON answer).

        Refusals (AADSTS codes) come back as dicts and are never retried here.
        """
        last = ""
        for attempt in range(TRANSIENT_AUTH_ATTEMPTS):
            try:
                return fn()
            except requests.exceptions.SSLError as exc:  # retrying cannot fix trust
                raise TlsError(tls_message(self._config.authority_host, exc)) from None
            except requests.exceptions.ProxyError as exc:
                last = f"proxy: {exc}"
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = f"{type(exc).__name__}: {exc}"
            except msal.exceptions.MsalServiceError as exc:  # HTTP 5xx from Entra ID
                last = str(exc)
            except json.JSONDecodeError:  # an HTML error page or an empty 429/503 body
                last = "the answer was not JSON"
            except ValueError as exc:  # msal: bad authority, non-https endpoint, …
                if "authority configuration" in str(exc):
                    # Entra answers the discovery of an unknown tenant with AADSTS90002.
                    raise AuthError(
                        f"Entra ID does not know the authority {self._config.authority} "
                        f"(AADSTS90002?) — {AADSTS_HINTS[90002]}", code=90002,
                    ) from None
                raise AuthError(
                    f"cannot use authority {self._config.authority}: {exc} — "
                    "check SP_SYNC_AUTHORITY_HOST and SP_SYNC_TENANT_ID"
                ) from None
            if attempt + 1 < TRANSIENT_AUTH_ATTEMPTS:
                # msal replays a 5xx/429 locally for 5 s (or Retry-After): wait longer.
                self._config.sleep(6.0 * 2**attempt)
        raise TransientError(
            f"Entra ID at {self._config.authority_host} is unreachable or unavailable ({last}) "
            "— the run ends partial and retries later; check proxy and firewall if it persists"
        )

    def token(self) -> dict[str, Any]:
        """``{"access_token", "token_type", "expires_in"}``; raises ``AuthError``."""
        with self._lock:
            app = self._app_or_build()
            result: dict[str, Any] = self._with_network_retry(
                lambda: app.acquire_token_for_client(scopes=[self._config.scope])
            )
            if "access_token" not in result:
                if result.get("error") in TRANSIENT_AUTH_ERRORS:
                    raise TransientError(
                        f"Entra ID is busy ({result.get('error')}); the run retries later"
                    )
                raise auth_error(result)
            if result.get("token_source") == "identity_provider":
                self.token_requests += 1
            return {
                "access_token": result["access_token"],
                "token_type": result.get("token_type", "Bearer"),
                "expires_in": result.get("expires_in", 3599),
            }

    def invalidate(self) -> None:
        """Drop cached access tokens so the next ``token()`` asks Entra ID again (after 401)."""
        with self._lock:
            if self._app is None:
                return
            cache = self._app.token_cache
            for at in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                cache.remove_at(at)
