"""Fixtures of the compliance tests: the database fixtures (SQLite and PostgreSQL), the demo
residential site and the misconfigured mall (compliance_worlds.py), and a deployment on the wall
clock for the CLI and API (their assessments use the current time)."""

import datetime as dt
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from compliance_worlds import LATER, build_demo, build_mall  # noqa: E402
from db_fixtures import NOW, _pg_template, _sqlite_template, database_url, deployment  # noqa: E402,F401

assert LATER == NOW + dt.timedelta(hours=1)


@pytest.fixture
def sqlite_dep(tmp_path, _sqlite_template):
    """A deployment on SQLite only, for tests whose logic does not depend on the backend (the
    demo and mall assessments run on both)."""
    import shutil

    from trustface.deployment import Deployment, init_deployment

    target = tmp_path / "sqlite.db"
    shutil.copy(_sqlite_template, target)
    url = f"sqlite:///{target}"
    directory = tmp_path / "deployment"
    init_deployment(directory, database_url=url, now=NOW - dt.timedelta(days=1))
    settings = directory / "settings.toml"
    settings.write_text(settings.read_text().replace('sqlite_synchronous = "FULL"', 'sqlite_synchronous = "NORMAL"'))
    dep = Deployment(directory, database_url=url)
    yield dep
    dep.close()


@pytest.fixture
def demo(deployment):
    return build_demo(deployment, now=NOW)


@pytest.fixture
def sqlite_demo(sqlite_dep):
    return build_demo(sqlite_dep, now=NOW)


@pytest.fixture
def mall(deployment):
    return build_mall(deployment, now=NOW)


@pytest.fixture
def live(tmp_path):
    """A SQLite deployment made now, with the demo site lived in now; yields (deployment, world, init info)."""
    from trustface.deployment import Deployment, init_deployment

    directory = tmp_path / "live"
    url = f"sqlite:///{tmp_path / 'live.db'}"
    info = init_deployment(directory, database_url=url)
    settings = directory / "settings.toml"
    settings.write_text(settings.read_text().replace('sqlite_synchronous = "FULL"', 'sqlite_synchronous = "NORMAL"'))
    dep = Deployment(directory, database_url=url)
    world = build_demo(dep)
    yield dep, world, info
    dep.close()
