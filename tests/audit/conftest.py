"""Database fixtures for this folder (shared with the other issue-3 test folders)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from db_fixtures import _pg_template, _sqlite_template, database_url, deployment  # noqa: E402,F401
