"""Shared fixtures: the real data set (never copied into the repo) and the CLI runner; the
``browser`` and listed ``slow`` markers of tests/marker_lists.py (see CONTRIBUTING.md, "Test markers")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from marker_lists import BROWSER_TEST_FILES, SLOW_TESTS

from trustface.config import data_root

DATA = data_root()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the browser tests ``browser`` and the listed long tests ``slow``, so that
    ``pytest -m "not slow and not browser and not postgres"`` is a quick subset."""
    tests_dir = Path(__file__).resolve().parent
    browser_files = {tests_dir / name for name in BROWSER_TEST_FILES}
    slow = {(tests_dir / node.partition("::")[0], node.partition("::")[2]) for node in SLOW_TESTS}
    for item in items:
        path = Path(str(item.path)).resolve()
        if path in browser_files:
            item.add_marker(pytest.mark.browser)
        if (path, item.nodeid.partition("::")[2]) in slow:
            item.add_marker(pytest.mark.slow)


def require_data(*parts: str) -> Path:
    """A path under the data root; skip locally when it is absent, fail in CI."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"test data missing in CI: {path}")
        pytest.skip(f"test data not found: {path} (set TRUSTFACE_DATA)")
    return path


@pytest.fixture(scope="session")
def examples() -> Path:
    return require_data("photos", "examples")


@pytest.fixture(scope="session")
def detection_dir() -> Path:
    return require_data("detection")


@pytest.fixture(scope="session")
def lfw_dir() -> Path:
    return require_data("lfw")


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the installed `trustface` command as a user would (stdout/stderr captured)."""
    return subprocess.run(
        [sys.executable, "-m", "trustface", *args],
        capture_output=True, text=True, cwd=cwd, env={**os.environ, **(env or {})}, timeout=900,
    )


@pytest.fixture(scope="session")
def cli():
    """Call the CLI: cli("compare", a, b) -> CompletedProcess."""
    return run_cli
