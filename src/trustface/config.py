"""Where things live: the deployment folder, the database URL, the shared data set.

Resolution order, first hit wins:

* deployment folder: ``--dir`` option, ``$TRUSTFACE_DIR``, ``./trustface-data``
* database URL: ``$TRUSTFACE_DATABASE_URL``, else a SQLite file ``trustface.db`` in the folder
* data set for tests and benchmarks: ``$TRUSTFACE_DATA``, else ``../shared/data`` next to the repo
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DIR_NAME = "trustface-data"


def deployment_dir(explicit: str | os.PathLike | None = None) -> Path:
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
