from __future__ import annotations

import json
from pathlib import Path

import pytest

from sp_sync.config.settings import Settings, load_settings
from sp_sync.errors import ConfigError

from .conftest import REPO

SECRET = "s3cr3t-Value-42"


def _toml(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_precedence_env_over_secrets_over_toml_over_default(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = _toml(clean_env / "config" / "settings.toml", 'organisation = "from toml"\n')
    secrets = clean_env / "secrets"
    secrets.mkdir()
    (secrets / "organisation").write_text("from secrets\n")
    monkeypatch.setenv("SP_SYNC_SECRETS_DIR", str(secrets))
    monkeypatch.setenv("SP_SYNC_ORGANISATION", "from env")

    s = load_settings()
    assert s.organisation == "from env"
    assert s.source_of("organisation") == "SP_SYNC_ORGANISATION"
    assert load_settings(organisation="from argument").organisation == "from argument"

    monkeypatch.delenv("SP_SYNC_ORGANISATION")
    s = load_settings()
    assert (s.organisation, s.source_of("organisation")) == (
        "from secrets", str(secrets / "organisation"))

    (secrets / "organisation").unlink()
    s = load_settings()
    assert (s.organisation, s.source_of("organisation")) == ("from toml", "config/settings.toml")

    toml.write_text("")
    s = load_settings()
    assert (s.organisation, s.source_of("organisation")) == ("Stadt Mannheim", "default")


def test_config_path_from_env_and_missing_file_is_fine(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_settings().timezone == "Europe/Berlin"  # no file at all
    other = _toml(clean_env / "etc" / "sp.toml", 'locale = "en"\nmail_per_minute = 5\n')
    monkeypatch.setenv("SP_SYNC_CONFIG", str(other))
    s = load_settings()
    assert (s.locale, s.mail_per_minute) == ("en", 5)


def test_every_problem_reported_at_once_with_source_key_reason(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _toml(clean_env / "config" / "settings.toml", "\n".join([
        'graph_url = "http://graph.microsoft.com/v1.0"',
        'locale = "fr"',
        'run_time_budget_s = "lang"',
        'clientid = "typo"',
        'mail_transport = "pigeon"',
    ]))
    monkeypatch.setenv("SP_SYNC_TIMEZONE", "Europe/Berln")
    monkeypatch.setenv("SP_SYNC_MAILBOX", "dtc-at-mannheim")
    with pytest.raises(ConfigError) as err:
        load_settings()
    problems = err.value.problems
    assert len(problems) == 7, problems
    expected = [
        "SP_SYNC_TIMEZONE: timezone: unknown time zone 'Europe/Berln' — use an IANA name "
        "such as Europe/Berlin",
        "config/settings.toml: graph_url: must start with https:// — ",
        "config/settings.toml: locale: must be one of de, en — ",
        "config/settings.toml: run_time_budget_s: ",
        "config/settings.toml: clientid: unknown key — ",
        "config/settings.toml: mail_transport: must be one of graph, smtp, files — ",
        "SP_SYNC_MAILBOX: mailbox: 'dtc-at-mannheim' is not an e-mail address — ",
    ]
    for start in expected:
        assert any(p.startswith(start) for p in problems), (start, problems)
    assert all(" — " in p for p in problems)


def test_malformed_toml_names_file_and_line(clean_env: Path) -> None:
    _toml(clean_env / "config" / "settings.toml", 'locale = "de"\ntimezone = Europe/Berlin\n')
    with pytest.raises(ConfigError) as err:
        load_settings()
    (problem,) = err.value.problems
    assert problem.startswith("config/settings.toml: invalid TOML:")
    assert "line 2" in problem


def test_secrets_never_shown(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = clean_env / "secrets"
    secrets.mkdir()
    for key in ("client_secret", "certificate_passphrase", "smtp_password"):
        (secrets / key).write_text(SECRET)
    monkeypatch.setenv("SP_SYNC_SECRETS_DIR", str(secrets))
    monkeypatch.setenv("SP_SYNC_CERTIFICATE_PEM", SECRET)
    s = load_settings()
    assert s.client_secret is not None and s.client_secret.get_secret_value() == SECRET
    assert s.smtp_password is not None and s.certificate_pem is not None
    shown = repr(s) + str(s) + json.dumps(s.describe())
    assert SECRET not in shown
    assert s.describe()["client_secret"] == "(set)"
    # a failing load does not echo secrets either
    monkeypatch.setenv("SP_SYNC_TIMEZONE", "Nowhere/City")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert SECRET not in str(err.value)


def test_require_connection_names_every_missing_key(clean_env: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings().require_connection()
    text = str(err.value)
    for key in ("tenant_id", "client_id", "site_url", "mailbox", "certificate_path"):
        assert f"{key}: " in text
    assert len(err.value.problems) == 5
    s = load_settings(
        tenant_id="t", client_id="c", client_secret=SECRET, mailbox="dtc@mannheim.de",
        site_url="https://mannheim.sharepoint.com/sites/dtc/",
    )
    s.require_connection()
    assert s.site_url == "https://mannheim.sharepoint.com/sites/dtc"


def test_derived_authority_and_scope(clean_env: Path) -> None:
    s = load_settings(tenant_id="abc", authority_host="https://127.0.0.1:8443/",
                      graph_url="https://127.0.0.1:8443/v1.0")
    assert s.authority == "https://127.0.0.1:8443/abc"
    assert s.graph_scope == "https://127.0.0.1:8443/.default"
    d = load_settings(tenant_id="abc")
    assert d.authority == "https://login.microsoftonline.com/abc"
    assert d.graph_scope == "https://graph.microsoft.com/.default"


def test_recipients_from_env_comma_or_json(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SP_SYNC_DTC_RECIPIENTS", "a@mannheim.de, b@mannheim.de")
    assert load_settings().dtc_recipients == ["a@mannheim.de", "b@mannheim.de"]
    monkeypatch.setenv("SP_SYNC_DTC_RECIPIENTS", '["c@mannheim.de"]')
    assert load_settings().dtc_recipients == ["c@mannheim.de"]
    assert Settings().dtc_recipients == ["c@mannheim.de"]


def test_missing_secrets_dir_is_reported(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SP_SYNC_SECRETS_DIR", str(clean_env / "nope"))
    with pytest.raises(ConfigError, match="SP_SYNC_SECRETS_DIR: secrets_dir: folder not found"):
        load_settings()


def test_example_and_committed_settings_parse_and_cover_every_key(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = REPO / "config" / "settings.example.toml"
    monkeypatch.setenv("SP_SYNC_CONFIG", str(example))
    s = load_settings()
    assert s.tenant_id and s.site_url == "https://mannheim.sharepoint.com/sites/dtc"
    text = example.read_text(encoding="utf-8")
    for key in Settings.model_fields:
        assert f"\n{key} = " in text or f"\n# {key} = " in text, key
    monkeypatch.setenv("SP_SYNC_CONFIG", str(REPO / "config" / "settings.toml"))
    committed = load_settings()
    assert committed.client_secret is None and committed.tenant_id is None
