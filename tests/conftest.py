"""Shared fixtures: the real data set (never copied into the repo) and the CLI runner; the
``browser`` marker for the tests that drive Chromium (see CONTRIBUTING.md, "Test markers")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from trustface.config import data_root

DATA = data_root()

#: test files that drive a real Chromium through Playwright; marked here by path because a
#: module's own ``pytestmark`` would be the only other place (tests/web belongs to the web room)
BROWSER_TEST_FILES = ("web/test_web_pages.py",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the browser tests ``browser``, so ``pytest -m "not browser"`` runs without Chromium."""
    tests_dir = Path(__file__).resolve().parent
    browser_files = {tests_dir / name for name in BROWSER_TEST_FILES}
    for item in items:
        if Path(str(item.path)).resolve() in browser_files:
            item.add_marker(pytest.mark.browser)


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
