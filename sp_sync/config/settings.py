"""Settings: how sp-sync connects (tenant, site, mailbox, state store, mail transport).

Precedence, highest first: keyword overrides > environment (``SP_SYNC_<KEY>``) > secrets
directory (``SP_SYNC_SECRETS_DIR``: one file per key, e.g. ``client_secret``) > TOML file
(``SP_SYNC_CONFIG``, default ``config/settings.toml``; a missing file is fine) > defaults.

:func:`load_settings` turns every validation problem into one :class:`ConfigError` whose
lines read ``<source>: <key>: <reason> — <what to do>``, so an admin fixes all at once.

Relative paths written in the settings file (``certificate_path``, ``lists_file``, a
``sqlite:///relative.db`` state URL, …) resolve against the settings file's folder, so
sp-sync reads the same files whatever its working directory; relative paths from the
environment keep meaning the working directory.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from sp_sync.errors import ConfigError

ENV_PREFIX = "SP_SYNC_"
CONFIG_ENV = "SP_SYNC_CONFIG"
SECRETS_DIR_ENV = "SP_SYNC_SECRETS_DIR"
DEFAULT_CONFIG = "config/settings.toml"
_EMAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[A-Za-z]{2,}$")


def read_toml(path: Path, label: str | None = None) -> dict[str, Any]:
    """Parse a TOML file; a syntax error becomes a ConfigError with file, line and reason."""
    label = label or str(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        return _raise(f"{label}: invalid TOML: {exc} — fix the syntax at that line")
    except OSError as exc:
        return _raise(f"{label}: cannot read: {exc.strerror} — check the path and permissions")


def _raise(problem: str) -> dict[str, Any]:
    raise ConfigError(problem)


def _config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def _secrets_dir() -> Path | None:
    value = os.environ.get(SECRETS_DIR_ENV)
    return Path(value) if value else None


# Settings holding a file or folder: relative values in the settings file mean its folder.
PATH_KEYS = ("certificate_path", "ca_bundle", "lists_file", "jobs_dir", "outbox_dir")


def _relative_to_file(data: dict[str, Any], folder: Path) -> dict[str, Any]:
    out = dict(data)
    for key in PATH_KEYS:
        value = out.get(key)
        if isinstance(value, str) and value and not Path(value).is_absolute():
            out[key] = str(folder / value)
    url = out.get("state_url")
    if isinstance(url, str) and url.startswith("sqlite:///"):
        rest = url.removeprefix("sqlite:///")
        if rest and rest != ":memory:" and not rest.startswith("/"):
            out["state_url"] = f"sqlite:///{folder / rest}"
    return out


def read_settings_file(path: Path) -> dict[str, Any]:
    """The settings file's pairs, relative paths resolved against its folder."""
    return _relative_to_file(read_toml(path), path.absolute().parent)


class _TomlSource(PydanticBaseSettingsSource):
    """Flat ``key = value`` pairs from the settings file (unknown keys are reported)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ does the work

    def __call__(self) -> dict[str, Any]:
        path = _config_path()
        if not path.is_file():
            return {}
        return read_settings_file(path)


class _SecretsDirSource(PydanticBaseSettingsSource):
    """One file per key in the secrets directory (Docker/Kubernetes secrets)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        folder = _secrets_dir()
        if folder is None or not folder.is_dir():
            return {}
        found: dict[str, Any] = {}
        for name in self.settings_cls.model_fields:
            for candidate in (name, ENV_PREFIX + name.upper()):
                file = folder / candidate
                if file.is_file():
                    try:
                        found[name] = file.read_text(encoding="utf-8").strip()
                    except OSError as exc:
                        raise ConfigError(
                            f"{file}: {name}: cannot read ({exc.strerror}) — make it readable "
                            f"for the user sp-sync runs as (uid {os.getuid()})"
                        ) from None
                    break
        return found


def _https(value: str) -> str:
    if not value.startswith("https://"):
        raise ValueError(
            "must start with https:// — use the https:// address (Entra ID and Graph need TLS)"
        )
    return value.rstrip("/")


class Settings(BaseSettings):
    """All settings. Secrets are ``SecretStr``: never shown by ``repr``/``str``/``describe``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, case_sensitive=False, extra="forbid", frozen=True
    )

    # Microsoft 365
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    certificate_path: Path | None = None
    certificate_pem: SecretStr | None = None
    certificate_passphrase: SecretStr | None = None
    site_url: str | None = None
    mailbox: str | None = None
    authority_host: str = "https://login.microsoftonline.com"
    graph_url: str = "https://graph.microsoft.com/v1.0"
    ca_bundle: Path | None = None
    # Behaviour
    state_url: str = "sqlite:///var/state/sp-sync.db"
    timezone: str = "Europe/Berlin"
    locale: Literal["de", "en"] = "de"
    organisation: str = "Stadt Mannheim"
    lists_file: Path = Path("config/lists.toml")
    jobs_dir: Path = Path("jobs")
    outbox_dir: Path = Path("var/outbox")
    run_time_budget_s: int = Field(default=900, gt=0)
    # Operations
    proxy_url: str | None = None  # outbound proxy for Graph and Entra ID (else HTTPS_PROXY)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    metrics_host: str = "127.0.0.1"  # health and metrics; 0.0.0.0 only behind a firewall
    metrics_port: int | None = Field(default=None, gt=0, lt=65536)
    stale_after_h: int = Field(default=26, gt=0)  # /readyz: a source older than this is stale
    # Replicas on PostgreSQL: the leader's lease; a follower takes over within this time.
    lease_seconds: int = Field(default=30, ge=3, le=600)
    # Mail
    mail_transport: Literal["graph", "smtp", "files"] = "graph"
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, gt=0, lt=65536)
    smtp_starttls: bool = True
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from_address: str | None = None
    # Sending credentials over an unencrypted connection must be asked for explicitly.
    smtp_allow_plaintext_auth: bool = Field(default=False, validate_default=True)
    mail_per_minute: int = Field(default=30, gt=0)
    # Recipient domains (and their subdomains) mail may go to; empty: the domains of
    # mailbox, smtp_from_address and the site's host (see ``recipient_domains``).
    mail_allowed_domains: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Lists a mail job reads must have synced within this many minutes; unset: three
    # times the shortest interval of the enabled pull jobs (see mail_wiring).
    mail_fresh_within_minutes: int | None = Field(default=None, gt=0)
    # How long after its due time a mail job waits for fresh data, then sends with a warning.
    mail_send_stale_after_minutes: int = Field(default=240, ge=0)
    # A mail held "sending" longer than this by a process is taken over (it died).
    mail_claim_lease_s: int = Field(default=300, gt=0)
    dtc_recipients: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["dtc@mannheim.de"]
    )
    # Where values came from (key → "SP_SYNC_X" / file path / "default"); set by load_settings.
    _sources: dict[str, str] = PrivateAttr(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            _SecretsDirSource(settings_cls),
            _TomlSource(settings_cls),
        )

    @field_validator("authority_host", "graph_url")
    @classmethod
    def _check_https(cls, value: str) -> str:
        return _https(value)

    @field_validator("proxy_url")
    @classmethod
    def _check_proxy(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "must be a proxy URL like http://proxy.example:3128 — the address of the "
                "outbound proxy (user:password@ if it needs a login)"
            )
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} — use an IANA name such as Europe/Berlin"
            ) from None
        return value

    @field_validator("site_url")
    @classmethod
    def _check_site(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.netloc or not parts.path.strip("/"):
            raise ValueError(
                "must be a site URL like https://contoso.sharepoint.com/sites/dtc"
                " — copy it from the browser's address bar on the site's home page"
            )
        return value.rstrip("/")

    @field_validator("mailbox", "smtp_from_address")
    @classmethod
    def _check_address(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError(f"{value!r} is not an e-mail address — use name@example.org")
        return value

    @field_validator("dtc_recipients", "mail_allowed_domains", mode="before")
    @classmethod
    def _split_recipients(cls, value: Any) -> Any:
        # Env vars and secret files give a string: accept "a@x.de, b@x.de" as well as JSON.
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    return json.loads(text)
                except ValueError:
                    raise ValueError(
                        "not a JSON list — write a@x.de,b@x.de or [\"a@x.de\"]"
                    ) from None
            return [p.strip() for p in text.split(",") if p.strip()]
        return value

    @field_validator("dtc_recipients")
    @classmethod
    def _check_recipients(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not _EMAIL.match(v)]
        if bad:
            raise ValueError(
                f"not e-mail addresses: {', '.join(repr(b) for b in bad)} — use name@example.org"
            )
        return value

    @field_validator("mail_allowed_domains")
    @classmethod
    def _check_domains(cls, value: list[str]) -> list[str]:
        cleaned = [v.strip().lower().lstrip("@") for v in value]
        bad = [v for v in cleaned if not re.match(r"^([a-z0-9-]+\.)+[a-z]{2,}$", v)]
        if bad:
            raise ValueError(
                f"not domain names: {', '.join(repr(b) for b in bad)} — use e.g. mannheim.de"
            )
        return cleaned

    @field_validator("smtp_allow_plaintext_auth")
    @classmethod
    def _check_plaintext_auth(cls, value: bool, info: ValidationInfo) -> bool:
        data = info.data
        if (data.get("mail_transport") == "smtp" and data.get("smtp_username")
                and data.get("smtp_starttls") is False and not value):
            raise ValueError(
                "smtp_starttls = false with smtp_username set would send the SMTP password "
                "unencrypted — enable smtp_starttls, or set smtp_allow_plaintext_auth = true "
                "if the relay is on a trusted network"
            )
        return value

    # ------------------------------------------------------------------ derived

    @property
    def recipient_domains(self) -> tuple[str, ...]:
        """Where mail may go: ``mail_allowed_domains``, else the domains of the mailbox,
        the SMTP sender and the site's host (not ``*.sharepoint.com``, IPs or localhost),
        else those of ``dtc_recipients``."""
        if self.mail_allowed_domains:
            return tuple(self.mail_allowed_domains)
        found: list[str] = []
        for address in (self.mailbox, self.smtp_from_address):
            if address:
                found.append(address.rpartition("@")[2].lower())
        host = (urlsplit(self.site_url).hostname or "") if self.site_url else ""
        labels = host.lower().split(".")
        if (len(labels) >= 2 and not host.endswith((".sharepoint.com", ".sharepoint.us"))
                and not labels[-1].isdigit()):
            found.append(".".join(labels[-2:]))
        if not found:  # no mailbox or site yet: the admin's own DTC recipients
            found = [a.rpartition("@")[2].lower() for a in self.dtc_recipients]
        return tuple(dict.fromkeys(found))

    @property
    def authority(self) -> str:
        """``authority_host/tenant_id`` as msal wants it."""
        return f"{self.authority_host}/{self.tenant_id or ''}"

    @property
    def graph_scope(self) -> str:
        """``<scheme://host[:port] of graph_url>/.default``."""
        parts = urlsplit(self.graph_url)
        return f"{parts.scheme}://{parts.netloc}/.default"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def source_of(self, key: str) -> str:
        """Where ``key`` came from: an env var name, a file path, "argument" or "default"."""
        return self._sources.get(key, "default")

    def require_connection(self) -> None:
        """Raise ConfigError naming every setting still missing to reach a real tenant."""
        problems: list[str] = []
        for key in ("tenant_id", "client_id", "site_url", "mailbox"):
            if not getattr(self, key):
                problems.append(
                    f"{key}: not set — set {ENV_PREFIX}{key.upper()} or {key} in "
                    f"{_config_path()}"
                )
        has_cert = self.certificate_path is not None or self.certificate_pem is not None
        if not has_cert and self.client_secret is None:
            problems.append(
                "certificate_path: no credential — set certificate_path (preferred) or "
                "certificate_pem, or client_secret (in the secrets directory or environment)"
            )
        if self.certificate_path is not None and not self.certificate_path.is_file():
            problems.append(
                f"{self.source_of('certificate_path')}: certificate_path: file not found "
                f"'{self.certificate_path}' — point it at the PEM with key and certificate"
            )
        if self.ca_bundle is not None and not self.ca_bundle.is_file():
            problems.append(
                f"{self.source_of('ca_bundle')}: ca_bundle: file not found '{self.ca_bundle}'"
                " — point it at a PEM file or unset it"
            )
        if self.mail_transport == "smtp" and not self.smtp_host:
            problems.append(
                "smtp_host: not set — mail_transport is smtp; set smtp_host or change "
                "mail_transport"
            )
        if problems:
            raise ConfigError(problems)

    def describe(self) -> dict[str, Any]:
        """Every setting as plain JSON-able values; secrets only say whether they are set."""
        out: dict[str, Any] = {}
        for key in type(self).model_fields:
            value = getattr(self, key)
            if isinstance(value, SecretStr):
                value = "(set)"
            elif key == "state_url" or (key == "proxy_url" and value):
                value = redact_url(value)
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, list):
                value = list(value)
            out[key] = value
        out["authority"] = self.authority
        out["graph_scope"] = self.graph_scope
        out["config_file"] = str(_config_path())
        out["secrets_dir"] = str(_secrets_dir()) if _secrets_dir() else None
        out["sources"] = {k: self.source_of(k) for k in out if k in type(self).model_fields}
        return out


def redact_url(url: str) -> str:
    """``scheme://user:***@host/db``: a URL with its password (if any) hidden."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{user}:***@{host}"
    return parts._replace(netloc=netloc).geturl()


def config_path() -> Path:
    """The settings file in use (``--config`` / ``SP_SYNC_CONFIG`` / the default)."""
    return _config_path()


# --------------------------------------------------------------------------- loading

_HINTS: dict[str, str] = {
    "int_parsing": "use a whole number",
    "int_type": "use a whole number",
    "float_parsing": "use a number",
    "bool_parsing": "use true or false",
    "bool_type": "use true or false",
    "greater_than": "use a larger value",
    "less_than": "use a smaller value",
    "string_type": "use a quoted string",
    "list_type": "use a list such as [\"a\", \"b\"]",
    "missing": "add it",
    "extra_forbidden": "check the spelling; every key is listed in config/settings.example.toml",
    "literal_error": "use one of the values named",
    "dict_type": "use a table such as { key = value }",
    "path_type": "use a file path",
}


def describe_error(err: Mapping[str, Any]) -> tuple[str, str]:
    """A pydantic error as (reason, what to do). Our validators put both in their message."""
    kind = str(err.get("type", ""))
    msg = str(err.get("msg", "invalid value"))
    if kind == "value_error":
        msg = msg.removeprefix("Value error, ")
        reason, _, hint = msg.partition(" — ")
        return reason, hint or "fix the value"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        values = ", ".join(re.findall(r"'([^']*)'", str(expected)))
        return f"must be one of {values}", "use one of them"
    if kind == "extra_forbidden":
        return "unknown key", _HINTS[kind]
    return msg[:1].lower() + msg[1:], _HINTS.get(kind, "fix the value")


def format_errors(
    exc: ValidationError, source: Callable[[tuple[int | str, ...]], str], prefix: str = ""
) -> list[str]:
    """Every error of ``exc`` as ``<source>: <prefix><key>: <reason> — <what to do>``."""
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = prefix + ".".join(str(p) for p in loc)
        reason, hint = describe_error(err)
        problems.append(f"{source(loc)}: {key}: {reason} — {hint}")
    return problems


def load_settings(**overrides: Any) -> Settings:
    """Settings from every source, or a ConfigError listing every problem at once."""
    config = _config_path()
    toml: dict[str, Any] = read_settings_file(config) if config.is_file() else {}
    secrets = _SecretsDirSource(Settings)()
    env_keys = {k.upper() for k in os.environ}
    folder = _secrets_dir()

    def source(loc: tuple[int | str, ...]) -> str:
        key = str(loc[0]) if loc else ""
        if key in overrides:
            return "argument"
        if ENV_PREFIX + key.upper() in env_keys:
            return ENV_PREFIX + key.upper()
        if key in secrets and folder is not None:
            return str(folder / key)
        if key in toml:
            return str(config)
        return "default"

    problems: list[str] = []
    if folder is not None and not folder.is_dir():
        problems.append(
            f"{SECRETS_DIR_ENV}: secrets_dir: folder not found '{folder}' — create it or unset "
            f"{SECRETS_DIR_ENV}"
        )
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems.extend(format_errors(exc, source))
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    settings._sources.update(
        {k: source((k,)) for k in Settings.model_fields if source((k,)) != "default"}
    )
    return settings
