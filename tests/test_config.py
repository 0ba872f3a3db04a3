"""The deployment's settings: one validated, frozen model from settings.toml and TRUSTFACE_*
variables; a typo or a bad value is refused naming the key, at start-up, never silently defaulted."""

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from trustface.cli import app
from trustface.config import Settings, SettingsError, load_settings, settings_from
from trustface.deployment import Deployment, init_deployment
from trustface.errors import TrustfaceError


@pytest.fixture
def site(tmp_path):
    init_deployment(tmp_path / "site", database_url=f"sqlite:///{tmp_path / 'tf.db'}")
    return tmp_path / "site"


def _append(directory, text: str) -> None:
    path = directory / "settings.toml"
    path.write_text(path.read_text() + text)


def test_init_writes_settings_that_load_with_their_defaults(site):
    settings = load_settings(site)
    assert settings.grant_ttl_seconds == 300 and settings.sqlite_synchronous == "FULL"
    assert settings.max_body_bytes == 10 * 1024 * 1024 and settings.identify_per_minute == 600
    with pytest.raises(ValidationError):  # frozen: validated once, never changed under a running service
        settings.grant_ttl_seconds = 5  # type: ignore[misc]


def test_an_unknown_key_is_refused_by_name(site):
    _append(site, "grant_tll_seconds = 60\n")
    with pytest.raises(SettingsError) as info:
        load_settings(site)
    assert "grant_tll_seconds" in str(info.value) and "grant_ttl_seconds" in str(info.value)


@pytest.mark.parametrize("line, key", [("max_body_mb = -1\n", "max_body_mb"),
                                       ('sqlite_synchronous = "OFF"\n', "sqlite_synchronous"),
                                       ("identify_per_minute = \"many\"\n", "identify_per_minute")])
def test_a_bad_value_is_refused_by_name(site, line, key):
    path = site / "settings.toml"
    path.write_text("\n".join(x for x in path.read_text().splitlines() if not x.startswith(key)) + "\n" + line)
    with pytest.raises(SettingsError) as info:
        load_settings(site)
    assert key in str(info.value)


def test_environment_overrides_the_file(site, monkeypatch):
    monkeypatch.setenv("TRUSTFACE_GRANT_TTL_SECONDS", "45")
    assert load_settings(site).grant_ttl_seconds == 45
    monkeypatch.setenv("TRUSTFACE_GRANT_TTL_SECONDS", "0")
    with pytest.raises(SettingsError) as info:
        load_settings(site)
    assert "grant_ttl_seconds" in str(info.value)


def test_other_trustface_variables_are_not_settings(monkeypatch):
    """TRUSTFACE_DIR, TRUSTFACE_DATA, TRUSTFACE_DATABASE_URL locate things; they are not refused."""
    monkeypatch.setenv("TRUSTFACE_DATA", "/nowhere")
    monkeypatch.setenv("TRUSTFACE_DIR", "/nowhere")
    assert settings_from({}).grant_ttl_seconds == Settings().grant_ttl_seconds


def test_the_deployment_and_the_cli_refuse_a_bad_settings_file(site):
    _append(site, "identify_per_minut = 10\n")
    with pytest.raises(TrustfaceError) as info:
        Deployment(site, database_url=f"sqlite:///{site.parent / 'tf.db'}")
    assert info.value.code == "E_DEPLOYMENT" and "identify_per_minut" in str(info.value)
    result = CliRunner().invoke(app, ["serve", "--dir", str(site)])
    assert result.exit_code == 2 and "identify_per_minut" in result.output and "Traceback" not in result.output
