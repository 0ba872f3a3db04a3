"""Docs stay in step with the code: docs/errors.md is the catalogue; docs/policy.md names every
gate code (issue 3: "every code is reachable and documented")."""

from pathlib import Path

from trustface.errors import CATALOGUE
from trustface.policy import codes

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_errors_md_is_generated_from_the_catalogue():
    expected = codes.render_errors_md()
    actual = (DOCS / "errors.md").read_text("utf-8")
    assert actual == expected, (
        "docs/errors.md is stale: python -c 'from trustface.policy.codes import render_errors_md as r; "
        "print(r(), end=\"\")' > docs/errors.md"
    )


def test_every_policy_code_is_catalogued_with_requirements_and_documented():
    policy_md = (DOCS / "policy.md").read_text("utf-8")
    for code in codes.POLICY_CODES:
        assert code in CATALOGUE
        assert code in policy_md, f"{code} is not explained in docs/policy.md"
    for code in codes.POLICY_CODES[:14]:  # the gate/ledger codes of requirements.md §0.3 and R7
        assert CATALOGUE[code].requirements, code
