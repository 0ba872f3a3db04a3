"""Where things live and how a deployment is tuned: one validated :class:`Settings` model.

Resolution order, first hit wins:

* deployment folder: ``--dir`` option, ``$TRUSTFACE_DIR``, ``./trustface-data``
* database URL: ``$TRUSTFACE_DATABASE_URL``, else a SQLite file ``trustface.db`` in the folder
* data set for tests and benchmarks: ``$TRUSTFACE_DATA``, else ``../shared/data`` next to the repo
* every setting: ``TRUSTFACE_<NAME>`` in the environment, else ``settings.toml`` in the
  deployment folder, else the default below. An unknown key in ``settings.toml`` is refused with
  its name (a typo must not silently leave a limit at its default).

This module is a leaf: every room may import it; it imports no other trustface module.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_DIR_NAME = "trustface-data"
SETTINGS_FILE = "settings.toml"
SETTINGS_FORMAT = "trustface-settings/1"


class SettingsError(ValueError):
    """``settings.toml`` or a ``TRUSTFACE_*`` variable holds something that is not a valid setting.
    The message names the key and says what is allowed."""


class Settings(BaseSettings):
    """A deployment's settings, validated once when the deployment opens; frozen afterwards."""

    model_config = SettingsConfigDict(env_prefix="TRUSTFACE_", extra="forbid", frozen=True,
                                      case_sensitive=False)

    format: Literal["trustface-settings/1"] = "trustface-settings/1"
    created_at: dt.datetime | None = None
    #: lifetime of a policy grant: the window between "authorised" and "done" (seconds)
    grant_ttl_seconds: int = Field(300, ge=1, le=3600)
    #: SQLite durability: FULL fsyncs every commit; NORMAL may lose the last commits on power loss
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    #: largest request body the API reads (MiB)
    max_body_mb: float = Field(10, gt=0, le=100)
    #: per API key, per minute
    identify_per_minute: int = Field(600, ge=1)
    access_per_minute: int = Field(1200, ge=1)
    #: enrolment photos per request
    max_images: int = Field(5, ge=1, le=20)

    @property
    def grant_ttl(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.grant_ttl_seconds)

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        # environment first, then the file's values (passed as init kwargs by load_settings)
        return env_settings, init_settings


def load_settings(directory: Path | str) -> Settings:
    """The settings of the deployment in ``directory`` (its ``settings.toml`` plus ``TRUSTFACE_*``).

    Raises :class:`SettingsError` naming the first bad key."""
    path = Path(directory) / SETTINGS_FILE
    if not path.is_file():
        raise SettingsError(f"{directory} holds no {SETTINGS_FILE}; run `trustface init --dir {directory}`")
    try:
        values: dict[str, Any] = tomllib.loads(path.read_text("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        raise SettingsError(f"{path} is not valid TOML") from None
    return settings_from(values, source=str(path))


def settings_from(values: dict[str, Any], *, source: str = "settings") -> Settings:
    """Validate ``values`` (plus ``TRUSTFACE_*`` variables) into :class:`Settings`."""
    try:
        return Settings(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "?"
        if first["type"] == "extra_forbidden":
            known = ", ".join(sorted(Settings.model_fields))
            raise SettingsError(f"{source}: unknown setting {key!r} (known settings: {known})") from None
        raise SettingsError(f"{source}: {key}: {first['msg']}") from None


def deployment_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The deployment's folder (database, key file, settings)."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("TRUSTFACE_DIR")
    return Path(env) if env else Path.cwd() / DEFAULT_DIR_NAME


def database_url(directory: Path) -> str:
    """SQLAlchemy URL of the deployment's database (SQLite in the folder unless overridden)."""
    env = os.environ.get("TRUSTFACE_DATABASE_URL")
    if env:
        return env
    return f"sqlite:///{(directory / 'trustface.db').resolve()}"


def data_root() -> Path:
    """The real face data used by tests and benchmarks (never copied into the repo)."""
    env = os.environ.get("TRUSTFACE_DATA")
    if env:
        return Path(env)
    repo_root = Path(__file__).resolve().parents[2]
    candidates = [repo_root.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[0]
