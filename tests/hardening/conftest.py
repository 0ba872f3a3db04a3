"""Fixtures of the hardening tests (issue 9): the API fixtures of tests/api (a deployment on SQLite
and PostgreSQL behind the app) and its helpers, reused rather than copied: ``snapshot`` (row count
of every table, audit chain length and verification) and ``refused`` come from
tests/api/test_bad_requests.py, ``build_site`` and ``error_code`` from tests/api/conftest.py."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(TESTS))


def _load(name: str, path: Path):
    """Import ``path`` as module ``name`` once. tests/api modules do ``from conftest import ...``:
    while they load, ``conftest`` must be tests/api's (pytest swaps that name per folder)."""
    if name in sys.modules:
        return sys.modules[name]
    saved = sys.modules.get("conftest")
    if "_api_conftest" in sys.modules:
        sys.modules["conftest"] = sys.modules["_api_conftest"]
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        return module
    finally:
        if saved is not None:
            sys.modules["conftest"] = saved
        elif sys.modules.get("conftest") is sys.modules.get("_api_conftest"):
            sys.modules.pop("conftest", None)


_api = _load("_api_conftest", TESTS / "api" / "conftest.py")
# the same module name pytest gives it when it collects tests/api, so it is imported only once
_bad = _load("test_bad_requests", TESTS / "api" / "test_bad_requests.py")

from _api_conftest import _pg_template, _sqlite_template, api, database_url  # noqa: E402,F401
