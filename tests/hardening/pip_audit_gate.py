"""Run ``pip-audit`` over the project's environment and decide what CI does with the answer.

* a known vulnerability in any installed package: print it and exit 1 (CI fails);
* the advisory service cannot be reached, or it knows none of the installed packages (an offline
  or mirrored index answers 404 for every project), or pip-audit is not installed: say so loudly
  and exit 0, because "could not check" is not "vulnerable". ``TRUSTFACE_AUDIT_STRICT=1`` makes
  that case fail too (for a release pipeline that must have checked);
* otherwise print how many packages were audited, and exit 0.

Usage: ``.venv/bin/python tests/hardening/pip_audit_gate.py`` (scripts/test.sh runs it first).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path


def verdict(report: dict | None, returncode: int, stderr: str = "", *, strict: bool = False) -> tuple[int, str]:
    """(exit status, message) for a pip-audit JSON report (None when none could be read)."""
    if report is None:
        reason = (stderr.strip().splitlines() or ["no output"])[-1][:300]
        return (1 if strict else 0), f"pip-audit: could not check for known vulnerabilities ({reason})"
    deps = report.get("dependencies", [])
    vulnerable = [d for d in deps if d.get("vulns")]
    audited = [d for d in deps if "skip_reason" not in d]
    if vulnerable:
        lines = [f"  {d['name']} {d['version']}: " + ", ".join(
            f"{v.get('id')}" + (f" (fixed in {', '.join(v.get('fix_versions') or [])})" if v.get("fix_versions") else "")
            for v in d["vulns"]) for d in vulnerable]
        return 1, "pip-audit: KNOWN VULNERABILITIES in installed packages:\n" + "\n".join(lines)
    if not audited:
        return (1 if strict else 0), (f"pip-audit: could not check any of {len(deps)} packages: the advisory "
                                      f"service does not know them (offline or mirrored index?)")
    skipped = len(deps) - len(audited)
    return 0, (f"pip-audit: no known vulnerabilities in {len(audited)} packages"
               + (f" ({skipped} could not be checked)" if skipped else ""))


def main() -> int:
    strict = os.environ.get("TRUSTFACE_AUDIT_STRICT") == "1"
    exe = Path(sys.executable).with_name("pip-audit")
    command = [str(exe)] if exe.exists() else ([shutil.which("pip-audit")] if shutil.which("pip-audit") else None)
    if command is None:
        print("pip-audit: not installed (pip install -e '.[dev]'); dependencies not checked", file=sys.stderr)
        return 1 if strict else 0
    try:
        proc = subprocess.run(command + ["--format", "json", "--progress-spinner", "off", "--skip-editable"],
                              capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        code, message = verdict(None, -1, "timed out after 600 s", strict=strict)
    else:
        try:
            report = json.loads(proc.stdout) if proc.stdout.strip() else None
        except ValueError:
            report = None
        code, message = verdict(report, proc.returncode, proc.stderr, strict=strict)
    print(message, file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
