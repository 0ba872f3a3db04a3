"""The test markers of CONTRIBUTING.md: ``browser`` by path (tests/conftest.py), ``postgres`` on the
PostgreSQL run of the two-database fixture (tests/db_fixtures.py), ``slow`` on the long tests, so
that ``-m "not slow and not browser and not postgres"`` is a quick subset while the default command
still collects everything; a misspelt marker is an error (``--strict-markers``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from marker_lists import SLOW_TESTS

ROOT = Path(__file__).resolve().parents[1]
#: prints every collected test with its markers (a plugin for the child pytest)
REPORTER = '''
def pytest_collection_finish(session):
    for item in session.items:
        print("MARKS", item.nodeid, ",".join(sorted({m.name for m in item.iter_markers()})))
'''


def collect(cwd: Path, *args: str, plugin_dir: Path | None = None) -> subprocess.CompletedProcess:
    """``pytest --collect-only`` in a child process (``plugin_dir`` goes on its import path)."""
    env = dict(os.environ)
    if plugin_dir is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(plugin_dir), env.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow  # collecting the browser and crash-safety modules takes ~10 s
def test_markers_of_browser_postgres_and_slow_tests(tmp_path):
    (tmp_path / "marks_reporter.py").write_text(REPORTER)
    listed = {f"tests/{node}" for node in SLOW_TESTS}
    paths = ("tests/web/test_web_pages.py", "tests/web/test_web_units.py", "tests/audit/test_audit_chain.py",
             "tests/hardening/test_fuzz_imaging.py", "tests/hardening/test_crash_safety.py",
             *sorted({node.partition("::")[0] for node in listed}))
    result = collect(ROOT, "-p", "marks_reporter", *paths, plugin_dir=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    marks: dict[str, set[str]] = {}
    for line in result.stdout.splitlines():
        if line.startswith("MARKS "):
            _, node, names = line.split(" ", 2)
            marks[node] = set(names.split(",")) - {""}
    by_file: dict[str, list[str]] = {}
    for node in marks:
        by_file.setdefault(node.split("::")[0], []).append(node)
    assert set(by_file) == set(paths), "every file collects"
    assert all("browser" in marks[n] for n in by_file["tests/web/test_web_pages.py"])
    assert not any("browser" in marks[n] for p in paths[1:] for n in by_file[p])
    chain = by_file["tests/audit/test_audit_chain.py"]
    pg = [n for n in chain if "postgres" in marks[n]]
    assert pg and all("postgresql" in n.partition("[")[2] for n in pg)
    assert all("postgresql" not in n for n in chain if n not in pg)
    assert any("sqlite" in n.partition("[")[2] for n in chain if n not in pg)
    assert all("slow" in marks[n] for p in paths[3:5] for n in by_file[p])
    assert listed <= set(marks), f"SLOW_TESTS names tests that no longer exist: {sorted(listed - set(marks))}"
    assert all("slow" in marks[n] for n in listed)
    assert not any("slow" in marks[n] for n in by_file["tests/audit/test_audit_chain.py"])


def test_an_unregistered_marker_is_an_error(tmp_path):
    probe = tmp_path / "test_probe.py"
    probe.write_text("import pytest\n\n@pytest.mark.sloww\ndef test_x():\n    pass\n")
    result = collect(tmp_path, "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path), str(probe))
    assert result.returncode != 0 and "sloww" in result.stdout + result.stderr
