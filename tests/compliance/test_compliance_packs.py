"""Rule packs are data keyed by the requirement IDs of requirements.md (issue 7, item 1)."""

import os
import re
from pathlib import Path

import pytest

from trustface.compliance import checks, packs

REQUIREMENTS = Path(__file__).resolve().parents[3] / "shared" / "requirements.md"


def test_six_packs_load_and_every_rule_names_a_known_check():
    assert packs.REGIMES == ("cn-spc-2021", "cn-pipl", "cn-cac-2025", "cn-gbt41819", "eu-gdpr", "us-il-bipa")
    assert set(packs.checks()) == set(checks.CHECKS)
    named = set()
    for pack in packs.all_packs():
        assert pack.rules and pack.title and pack.title_zh
        for rule in pack.rules:
            assert rule.check in checks.CHECKS and rule.severity in packs.SEVERITIES and rule.fix and rule.title
            named.add(rule.check)
    assert named == set(checks.CHECKS), "every check proves at least one regime's rule"
    assert packs.regimes_for("cn") == ["cn-spc-2021", "cn-pipl", "cn-cac-2025", "cn-gbt41819"]
    assert packs.regimes_for("eu") == ["eu-gdpr"] and packs.regimes_for("us-il") == ["us-il-bipa"]
    spc = {r.id for r in packs.load("cn-spc-2021").rules if r.check == "face_only_gates"}
    assert "SPC-10(1)" in spc


def test_every_rule_id_is_a_row_of_the_requirements_catalogue():
    if not REQUIREMENTS.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{REQUIREMENTS} missing in CI")
        pytest.skip(f"{REQUIREMENTS} not found")
    text = REQUIREMENTS.read_text("utf-8")
    rows = set(re.findall(r"^\| (\S+?) \|", text, re.M)) | set(re.findall(r"\bR\d+\b", text))
    merged = text[text.index("## 10."):]  # the merged list cites source IDs such as GDPR-17, PIPL-6
    cited = set(re.findall(r"[A-Z][A-Z0-9]*(?:-[A-Za-z0-9]+)+(?:\([0-9a-z]+\))*", merged))
    ids = {r.id for p in packs.all_packs() for r in p.rules} | {i for c in packs.checks().values() for i in c.requirements}
    unknown = sorted(i for i in ids if i not in rows | cited)
    assert not unknown, f"rule IDs that are not rows of requirements.md: {unknown}"


def test_a_pack_naming_an_unknown_check_is_refused(monkeypatch):
    real = packs._text

    def fake(name):
        text = real(name)
        return text.replace("check: disclosures", "check: no_such_check", 1) if name == "cn-pipl.yaml" else text

    monkeypatch.setattr(packs, "_text", fake)
    packs.load.cache_clear()
    try:
        with pytest.raises(ValueError, match="unknown check 'no_such_check'"):
            packs.load("cn-pipl")
    finally:
        packs.load.cache_clear()
