"""``sp-sync check``: every problem at once, each naming the setting or file and the fix.

Offline: settings, credentials (present, readable, the certificate parses and is not about to
expire), the state store (reachable, writable; works while the daemon holds it), the list
mapping and the job files. ``--connect`` adds: a token from Entra ID (and its roles), the
site, every mapped list and every mapped column with its type (all lists, not stopping at the
first missing one), and the mailbox.

Secrets are never printed; a DSN's password shows as ``***``.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sp_sync.config.settings import Settings, config_path, redact_url
from sp_sync.errors import ConfigError, SpSyncError, StoreLocked

Level = Literal["ok", "warning", "error"]
CERT_WARN_DAYS = 30


@dataclass(frozen=True)
class Finding:
    level: Level
    topic: str  # settings, credentials, state store, mapping, jobs, connection, …
    text: str

    def as_dict(self) -> dict[str, str]:
        return {"level": self.level, "topic": self.topic, "text": self.text}


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)

    def ok(self, topic: str, text: str) -> None:
        self.findings.append(Finding("ok", topic, text))

    def warn(self, topic: str, text: str) -> None:
        self.findings.append(Finding("warning", topic, text))

    def error(self, topic: str, text: str) -> None:
        self.findings.append(Finding("error", topic, text))

    def errors(self, topic: str, problems: list[str]) -> None:
        for p in problems:
            self.error(topic, p)

    @property
    def failed(self) -> bool:
        return any(f.level == "error" for f in self.findings)

    def count(self, level: Level) -> int:
        return sum(1 for f in self.findings if f.level == level)


def run_checks(connect: bool = False, now: datetime | None = None) -> tuple[Report, Any]:
    """All checks; returns the report and the loaded config (None if it did not load)."""
    from sp_sync.app.mail_wiring import describe_lateness
    from sp_sync.app.wiring import load_config
    from sp_sync.config.settings import load_settings

    report = Report()
    now = now or datetime.now(UTC)
    try:
        settings = load_settings()
    except ConfigError as exc:
        report.errors("settings", exc.problems)
        return report, None
    report.ok("settings", f"read from {config_path()} and the environment")
    connection_ok = check_credentials(report, settings, now)
    check_state_store(report, settings)
    config = None
    try:
        config = load_config(settings)
        report.ok("mapping", f"{len(config.mapping.lists)} lists mapped in {settings.lists_file}")
        report.ok("jobs", f"{len(config.jobs)} jobs in {settings.jobs_dir}: "
                  + ", ".join(j.name for j in config.jobs))
        # What "late" means for each mail job (due time from its own schedule), what it
        # waits for and whom it may mail.
        for line in describe_lateness(settings, config.jobs):
            report.ok("mail", line)
    except ConfigError as exc:
        report.errors("mapping and jobs", exc.problems)
    if settings.mail_transport == "files":
        check_folder(report, "outbox_dir", Path(settings.outbox_dir), settings)
    if connect:
        if not connection_ok:
            report.error("connection", "not tried: fix the credential problems above first")
        else:
            check_connection(report, settings, config)
    return report, config


# --------------------------------------------------------------------------- credentials


def _where(settings: Settings, key: str) -> str:
    return f"{settings.source_of(key)}: {key}"


def _readable(report: Report, settings: Settings, key: str, path: Path, fix: str) -> bool:
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except FileNotFoundError:
        report.error("credentials", f"{_where(settings, key)}: file not found '{path}' — {fix}")
        return False
    except IsADirectoryError:
        report.error("credentials", f"{_where(settings, key)}: '{path}' is a folder — {fix}")
        return False
    except OSError as exc:
        report.error(
            "credentials",
            f"{_where(settings, key)}: cannot read '{path}' ({exc.strerror}) — make it readable "
            f"for the user sp-sync runs as (uid {os.getuid()}), e.g. chown sp-sync and "
            "chmod 0400",
        )
        return False
    return True


def check_credentials(report: Report, settings: Settings, now: datetime) -> bool:
    """Tenant, app, site, mailbox and one readable credential; True if a sign-in can be tried."""
    ok = True
    env = "SP_SYNC_"
    for key in ("tenant_id", "client_id", "site_url"):
        if not getattr(settings, key):
            report.error("credentials", f"{key}: not set — set {key} in {config_path()} or "
                         f"{env}{key.upper()}")
            ok = False
    if settings.mail_transport == "graph" and not settings.mailbox:
        report.error("credentials", f"mailbox: not set (mail_transport is graph) — set mailbox "
                     f"in {config_path()} or {env}MAILBOX to the DTC's mailbox address")
    if settings.mail_transport == "smtp" and not settings.smtp_host:
        report.error("credentials", "smtp_host: not set — mail_transport is smtp; set smtp_host "
                     "or change mail_transport")
    pem: str | None = None
    if settings.certificate_pem is not None:
        pem = settings.certificate_pem.get_secret_value()
    elif settings.certificate_path is not None:
        path = Path(settings.certificate_path)
        fix = "point certificate_path at the PEM file holding the private key and certificate"
        if _readable(report, settings, "certificate_path", path, fix):
            pem = path.read_text(encoding="utf-8", errors="replace")
        else:
            ok = False
    elif settings.client_secret is None:
        report.error(
            "credentials",
            "certificate_path: no credential — set certificate_path (preferred) or "
            "certificate_pem, or client_secret (in the secrets directory or environment)",
        )
        ok = False
    if pem is not None:
        ok = check_certificate(report, settings, pem, now) and ok
    elif settings.client_secret is not None:
        report.ok("credentials", "client secret set (prefer a certificate: secrets expire "
                  "silently and are easier to leak)")
    if settings.ca_bundle is not None:
        fix = "point ca_bundle at the PEM with the proxy's or company CA, or unset it"
        ok = _readable(report, settings, "ca_bundle", Path(settings.ca_bundle), fix) and ok
    return ok


def check_certificate(report: Report, settings: Settings, pem: str, now: datetime) -> bool:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    key = "certificate_pem" if settings.certificate_pem is not None else "certificate_path"
    data = pem.encode()
    passphrase = settings.certificate_passphrase
    try:
        serialization.load_pem_private_key(
            data, password=passphrase.get_secret_value().encode() if passphrase else None
        )
    except (ValueError, TypeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        report.error("credentials", f"{_where(settings, key)}: no usable private key ({reason}) "
                     "— the PEM must hold the private key (and certificate_passphrase must "
                     "match if it is encrypted)")
        return False
    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError:
        report.error("credentials", f"{_where(settings, key)}: no certificate in the PEM — "
                     "append the certificate (cat key.pem cert.pem > sp-sync.pem)")
        return False
    expires = cert.not_valid_after_utc
    left = expires - now
    when = expires.strftime("%Y-%m-%d")
    if left <= timedelta(0):
        report.error("credentials", f"{_where(settings, key)}: the certificate expired on {when} "
                     "— create a new one, upload it to the app registration, replace the PEM "
                     "(docs/admin-setup.md, rotation)")
        return False
    if left < timedelta(days=CERT_WARN_DAYS):
        report.warn("credentials", f"{_where(settings, key)}: the certificate expires on {when} "
                    f"(in {left.days} days) — rotate it now (docs/admin-setup.md, rotation)")
    else:
        report.ok("credentials", f"certificate valid until {when} ({left.days} days)")
    return True


# --------------------------------------------------------------------------- state store


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_folder(report: Report, key: str, folder: Path, settings: Settings) -> None:
    base = _nearest_existing(folder.absolute())
    if not os.access(base, os.W_OK | os.X_OK):
        report.error("state store", f"{_where(settings, key)}: {base} is not writable for the "
                     f"user sp-sync runs as (uid {os.getuid()}) — chown it to that user or "
                     f"point {key} elsewhere")


def check_state_store(report: Report, settings: Settings) -> None:
    from sp_sync.adapters.store import open_store

    url = settings.state_url
    shown = redact_url(url)
    where = _where(settings, "state_url")
    if url.startswith("memory:"):
        report.warn("state store", f"{where}: {shown} keeps nothing between runs — use "
                    "sqlite:///… or postgresql+psycopg://… for a real service")
        return
    if url.startswith("sqlite:"):
        db = url.split(":///", 1)[1] if ":///" in url else ""
        if not db or db == ":memory:":
            report.warn("state store", f"{where}: in-memory SQLite keeps nothing between runs")
            return
        path = Path(db)
        base = _nearest_existing(path.absolute().parent)
        problems = []
        if not os.access(base, os.W_OK | os.X_OK):
            problems.append(f"{where}: the folder {base} is not writable for the user sp-sync "
                            f"runs as (uid {os.getuid()}) — chown it to that user or point "
                            "state_url elsewhere")
        if path.exists() and not os.access(path, os.R_OK | os.W_OK):
            problems.append(f"{where}: {path} is not readable and writable for the user "
                            f"sp-sync runs as (uid {os.getuid()}) — chown it to that user")
        if problems:
            report.errors("state store", problems)
            return
        if not path.exists():
            report.ok("state store", f"{shown}: will be created on the first run")
            return
        try:
            store = open_store(url, read_only=True)
        except SpSyncError as exc:
            report.error("state store", f"{where}: {exc}")
            return
        try:
            store.runs(None, 1)
        except SpSyncError as exc:
            report.error("state store", f"{where}: {exc}")
        else:
            report.ok("state store", f"{shown}: readable and writable{_holder(path)}")
        finally:
            store.close()
        return
    # PostgreSQL: opening migrates, which needs exactly the rights a run needs.
    try:
        store = open_store(url)
    except StoreLocked as exc:  # not for PostgreSQL today; kept for symmetry
        report.ok("state store", f"{shown}: in use ({exc})")
        return
    except SpSyncError as exc:
        report.error("state store", f"{where}: {redact_text(str(exc), url)}")
        return
    try:
        store.runs(None, 1)
        report.ok("state store", f"{shown}: reachable, schema up to date, writable")
    except SpSyncError as exc:
        report.error("state store", f"{where}: {redact_text(str(exc), url)}")
    finally:
        store.close()


def redact_text(text: str, url: str) -> str:
    from urllib.parse import urlsplit

    password = urlsplit(url).password
    return text.replace(password, "***") if password else text


def _holder(db: Path) -> str:
    """", in use by the daemon (pid N)" when a writer holds the lock file."""
    import fcntl

    lock = db.with_name(db.name + ".lock")
    if not lock.exists():
        return ""
    try:
        with lock.open("r", encoding="ascii") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = fh.read().strip() or "unknown"
                return f"; in use by a running sp-sync (pid {pid}), which is fine"
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    except OSError:
        return ""
    return ""


# --------------------------------------------------------------------------- connection


def token_roles(access_token: str) -> list[str]:
    """The ``roles`` claim of an access token (read, not verified: only for advice)."""
    try:
        payload = access_token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (IndexError, ValueError):
        return []
    roles = claims.get("roles") if isinstance(claims, dict) else None
    return [str(r) for r in roles] if isinstance(roles, list) else []


def check_connection(report: Report, settings: Settings, config: Any) -> None:
    from sp_sync.adapters.graph.client import GraphConnection
    from sp_sync.adapters.graph.source import GraphLists
    from sp_sync.app.wiring import graph_config
    from sp_sync.domain.schema import check_columns
    from sp_sync.errors import AuthError, GraphError, NotFound, PermissionDenied
    from sp_sync.ports import ListRef

    try:
        conn = GraphConnection(graph_config(settings))
    except ConfigError as exc:
        report.errors("connection", exc.problems)
        return
    with conn:
        try:
            token = conn.tokens.token()
        except AuthError as exc:
            report.error("connection", f"token: {exc}")
            return
        except SpSyncError as exc:
            report.error("connection", f"token: {exc}")
            return
        roles = token_roles(token["access_token"])
        report.ok("connection", f"token from {settings.authority_host} "
                  f"(roles: {', '.join(roles) or 'none listed'})")
        if roles and not any(r.startswith("Sites.") for r in roles):
            report.error("connection", "token: the app has no Sites.* application permission — "
                         "add Sites.Selected in Entra ID > API permissions and grant admin "
                         "consent (docs/admin-setup.md)")
        if settings.mail_transport == "graph" and roles and "Mail.Send" not in roles:
            report.error("connection", "token: no Mail.Send application permission — add it "
                         "and restrict it to the mailbox (docs/admin-setup.md), or set "
                         "mail_transport to smtp")
        assert settings.site_url is not None
        lists = GraphLists(conn, settings.site_url)
        try:
            lists.site_id(settings.site_url)
        except (NotFound, PermissionDenied) as exc:
            report.error("connection", f"{_where(settings, 'site_url')}: {exc} — the app needs "
                         "a Sites.Selected grant on this site (docs/admin-setup.md)")
            return
        except GraphError as exc:
            report.error("connection", f"{_where(settings, 'site_url')}: {exc}")
            return
        report.ok("connection", f"site {settings.site_url} reachable")
        if config is not None:
            for spec in config.mapping.lists:
                ref = ListRef(spec.site_url or settings.site_url, spec.title)
                label = f"{settings.lists_file}: lists.{spec.key}"
                try:
                    cols = lists.columns(ref)
                except NotFound:
                    fix = ("run `sp-sync provision` to create it" if spec.role == "target"
                           else f"fix lists.{spec.key}.title or create the list")
                    report.error("lists", f"{label}: list {spec.title!r} not found on "
                                 f"{ref.site_url} — {fix}")
                    continue
                except GraphError as exc:
                    report.error("lists", f"{label}: list {spec.title!r}: {exc}")
                    continue
                problems = check_columns(spec, cols)
                for p in problems:
                    report.error("lists", p.message)
                if not problems:
                    types = ", ".join(f"{c.key}:{c.type.value}" for c in spec.columns)
                    report.ok("lists", f"{spec.title} ({spec.role}): {len(spec.columns)} mapped "
                              f"columns present with their types ({types})")
        if settings.mail_transport == "graph" and settings.mailbox:
            check_mailbox(report, conn, settings)


def check_mailbox(report: Report, conn: Any, settings: Settings) -> None:
    """The mailbox exists for Graph. With Mail.Send alone Exchange may refuse to read it
    (403): that is fine and reported as not verifiable; 404 means the address is wrong."""
    from sp_sync.errors import GraphError, NotFound, PermissionDenied

    where = _where(settings, "mailbox")
    try:
        conn.request("GET", f"users/{settings.mailbox}/mailFolders/sentitems/messages?$top=1")
    except NotFound:
        report.error("mailbox", f"{where}: Exchange does not know {settings.mailbox} — check "
                     "the address (a shared mailbox works; a distribution list does not)")
        return
    except PermissionDenied:
        report.ok("mailbox", f"{settings.mailbox}: exists; reading it is not permitted "
                  "(expected with Mail.Send only), sending is checked by the token's roles")
        return
    except GraphError as exc:
        report.error("mailbox", f"{where}: {exc}")
        return
    report.ok("mailbox", f"{settings.mailbox} reachable")
