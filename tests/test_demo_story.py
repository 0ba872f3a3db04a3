"""`make demo`'s residential story runs end to end and tells the truth about each step."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "demo_story.py"


def test_the_residential_story(examples):
    result = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.strip().startswith("E_CONSENT_MISSING") for line in lines)  # R1: no consent, no face
    assert any("A at another sitting -> resident A (distance" in line for line in lines)
    assert any("someone never enrolled -> unknown" in line for line in lines)
    assert any("A at the gate -> unknown" in line for line in lines)  # R14: withdrawal stops matching
    assert lines[-1].startswith("Audit trail: intact")
