"""The policy room's error codes: one catalogue entry each, with the requirement IDs behind it.

requirements.md §0.3 makes these codes stable: never rename, reuse or drop one.
docs/errors.md is generated from :data:`trustface.errors.CATALOGUE` (tests/policy checks it).
"""

from __future__ import annotations

from trustface.errors import register

E_CONSENT_MISSING = register(
    "E_CONSENT_MISSING", 403,
    ("R1", "SPC-2(3)", "PIPL-14", "PIPL-29", "CAC-6", "GDPR-9(2)(a)", "BIPA-15b", "PIPL-15"),
    "No current, separate consent exists for this subject, purpose and mode (never given, withdrawn, "
    "expired, or ended by retention).",
)
E_CONSENT_BUNDLED = register(
    "E_CONSENT_BUNDLED", 422,
    ("R1", "SPC-4(2)", "NDSR-22", "GDPR-7(2)", "PIPL-29"),
    "The consent payload bundles the face scope with another authorization (other scopes, terms, "
    "several purposes or modes), or arrives pre-ticked / as 'accept all'.",
)
E_GUARDIAN_REQUIRED = register(
    "E_GUARDIAN_REQUIRED", 403,
    ("R3", "PIPL-31", "PIPL-28", "CAC-7", "SPC-2(3)", "GDPR-8", "BIPA-15b"),
    "The subject is under the profile's guardian age (cn 14, eu 13-16, us-il legally authorized "
    "representative under 18) and no verified guardian consent is recorded.",
)
E_WRITTEN_RELEASE_REQUIRED = register(
    "E_WRITTEN_RELEASE_REQUIRED", 403,
    ("R2", "BIPA-15b", "BIPA-10", "SPC-2(3)"),
    "The us-il profile needs a signed written release stating the purpose and the length of term.",
)
E_NOTICE_NOT_SHOWN = register(
    "E_NOTICE_NOT_SHOWN", 403,
    ("R4", "SPC-2(2)", "PIPL-17", "PIPL-30", "PIPL-31", "GDPR-13", "BIPA-15b"),
    "No published processing-rules notice exists, or the consent does not cite the hash of the "
    "currently published notice version (notice changed: fresh consent needed).",
)
E_PURPOSE_NOT_CONSENTED = register(
    "E_PURPOSE_NOT_CONSENTED", 403,
    ("R5", "SPC-2(4)", "PIPL-6", "PIPL-14", "NDSR-22"),
    "The call states a purpose the subject has not consented to (or the site does not declare, or "
    "that has ended); consent for another purpose does not carry over.",
)
E_MODE_NOT_ALLOWED = register(
    "E_MODE_NOT_ALLOWED", 403,
    ("R5", "R18", "SPC-2(1)", "SPC-2(4)", "PIPL-26"),
    "The mode is not among the purpose's allowed modes, or identify/analyze at a business/public "
    "site has no recorded legal basis.",
)
E_PROHIBITED_INFERENCE = register(
    "E_PROHIBITED_INFERENCE", 403,
    ("R19", "SPC-2(7)", "CAC23-analysis", "GBT41819-5b", "EU-AIA"),
    "An analysis attribute is on the deny-list (race/ethnicity, religion, health, sexual orientation, "
    "...; emotion at eu workplace/education sites) or not on the allow-list.",
)
E_RETENTION_UNBOUNDED = register(
    "E_RETENTION_UNBOUNDED", 422,
    ("R13", "SPC-11", "PIPL-19", "BIPA-15a", "GDPR-17"),
    "A purpose has no finite retention period, or one above the jurisdiction profile's cap.",
)
E_SUSPENDED = register(
    "E_SUSPENDED", 403,
    ("R23", "SPC-9", "PIPL-44", "PIPL-47"),
    "Processing is suspended or restricted for this subject or site (injunction, legal hold, dispute).",
)
E_SIGNAGE_UNCONFIRMED = register(
    "E_SIGNAGE_UNCONFIRMED", 403,
    ("R18", "SPC-2(1)", "PIPL-26"),
    "Identify/analyze at a business or public site without a signage attestation.",
)
E_PRIVATE_SPACE = register(
    "E_PRIVATE_SPACE", 403,
    ("R18", "SPC-2(1)", "PIPL-26"),
    "The device location is typed as a private space (hotel room, toilet, changing room, ...).",
)
E_PIA_MISSING = register(
    "E_PIA_MISSING", 403,
    ("R20", "PIPL-55", "PIPL-56", "CAC-9", "GDPR-35"),
    "The purpose and mode are not covered by an approved impact assessment (PIA/DPIA).",
)
E_REPROMPT_COOLDOWN = register(
    "E_REPROMPT_COOLDOWN", 429,
    ("R7", "NDSR-22", "SPC-4(3)", "GBT41819-5e"),
    "The subject refused this consent recently; the processor may not ask again during the "
    "profile's cooldown (>= 48 h) unless the subject starts the request.",
)
E_LEGAL_BASIS_INVALID = register(
    "E_LEGAL_BASIS_INVALID", 422,
    ("R22", "SPC-5", "PIPL-13", "PIPL-18"),
    "A legal basis is not on the PIPL-13 / SPC-5 list, or a statutory basis without consent "
    "(emergency, public safety, legal duty) lacks a justification, an approver or a future expiry.",
)
E_NOT_FOUND = register(
    "E_NOT_FOUND", 404, (), "The tenant, site, purpose, subject, notice or location does not exist.",
)
E_DEPLOYMENT = register(
    "E_DEPLOYMENT", 409, (),
    "The deployment folder is missing, incomplete, or already holds a deployment (init refuses to "
    "overwrite one).",
)
E_PURGE_UNAVAILABLE = register(
    "E_PURGE_UNAVAILABLE", 503,
    ("R13", "R14", "R21", "PIPL-47", "SPC-6"),
    "A purge handler module (e.g. the gallery) failed to load, so the face data cannot be deleted: the "
    "withdrawal, erasure or retention run stops, nothing changes and no deletion certificate is written. "
    "Repair the installation and retry.",
)

POLICY_CODES = (
    E_CONSENT_MISSING, E_CONSENT_BUNDLED, E_GUARDIAN_REQUIRED, E_WRITTEN_RELEASE_REQUIRED,
    E_NOTICE_NOT_SHOWN, E_PURPOSE_NOT_CONSENTED, E_MODE_NOT_ALLOWED, E_PROHIBITED_INFERENCE,
    E_RETENTION_UNBOUNDED, E_SUSPENDED, E_SIGNAGE_UNCONFIRMED, E_PRIVATE_SPACE, E_PIA_MISSING,
    E_REPROMPT_COOLDOWN, E_LEGAL_BASIS_INVALID, E_NOT_FOUND, E_DEPLOYMENT, E_PURGE_UNAVAILABLE,
)


def _import_all_catalogues() -> None:
    """Import every ``trustface.*.codes`` module so the catalogue is complete."""
    import importlib
    import pkgutil

    import trustface

    for info in pkgutil.walk_packages(trustface.__path__, "trustface."):
        if info.name.rsplit(".", 1)[-1] == "codes":
            try:
                importlib.import_module(info.name)
            except ImportError:  # pragma: no cover - a room with missing optional deps
                pass


def render_errors_md() -> str:
    """docs/errors.md, generated from :data:`trustface.errors.CATALOGUE`."""
    from trustface.errors import CATALOGUE

    _import_all_catalogues()
    lines = [
        "# Error codes",
        "",
        "Every refusal in trustface carries one of these stable codes (requirements.md §0.3: never renamed,",
        "reused or dropped). The API answers `{\"error\": {\"code\", \"message\", \"requirements\"}}` with the",
        "HTTP status below; the CLI prints `error: CODE: message` and exits non-zero; the policy gate returns",
        "a `Denial(code, requirement_ids, message)` and records it in the audit trail.",
        "",
        "Generated from `trustface.errors.CATALOGUE`; regenerate with",
        "`python -c 'from trustface.policy.codes import render_errors_md as r; print(r(), end=\"\")' > docs/errors.md`",
        "(tests/policy/test_policy_docs.py fails when this file is stale).",
        "",
        "| Code | HTTP | Requirements | Meaning |",
        "|---|---|---|---|",
    ]
    for code in sorted(CATALOGUE):
        spec = CATALOGUE[code]
        reqs = ", ".join(spec.requirements) or "—"
        lines.append(f"| `{code}` | {spec.http_status} | {reqs} | {spec.description.replace('|', '/')} |")
    return "\n".join(lines) + "\n"
