"""Fixtures of the services tests: the API fixtures of tests/api (a deployment on SQLite and
PostgreSQL behind the app), so each use case is tried through the API, the CLI and directly."""

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[0]))

if "_api_conftest" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("_api_conftest", HERE.parents[0] / "api" / "conftest.py")
    _api = importlib.util.module_from_spec(_spec)
    sys.modules["_api_conftest"] = _api
    _spec.loader.exec_module(_api)

from _api_conftest import _pg_template, _sqlite_template, api, database_url  # noqa: E402,F401
