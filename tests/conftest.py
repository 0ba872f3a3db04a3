"""Shared fixtures: the real data set (never copied into the repo) and the CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from trustface.config import data_root

DATA = data_root()


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
