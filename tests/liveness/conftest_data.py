"""``require_data`` of tests/conftest.py, importable from helper modules."""

import os

import pytest

from trustface.config import data_root


def require_data(*parts: str):
    path = data_root().joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"test data missing in CI: {path}")
        pytest.skip(f"test data not found: {path} (set TRUSTFACE_DATA)")
    return path
