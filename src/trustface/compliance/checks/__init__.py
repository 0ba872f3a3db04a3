"""The named checks: each reads the live state of one site and returns pass / warn / fail with
evidence (counts, sample ids, audit event seqs) and, where it knows better than the default, the
fix. Rule packs (``rules/*.yaml``) say which requirement IDs each check proves; ``rules/checks.yaml``
names every check in :data:`CHECKS`.

Every check is read-only and works from a :class:`Context` that loads the site's rows once
(through ``trustface.db``: this package has no queries of its own). The checks live by area:
:mod:`.consent`, :mod:`.storage` (retention, photos), :mod:`.access` (gates, premises) and
:mod:`.governance` (PIA, filing, audit chain, keys, disclosures).
"""

from __future__ import annotations

from typing import Callable

from trustface.compliance.checks import access, consent, governance, storage
from trustface.compliance.checks.context import FAIL, PASS, SAMPLE, STATUSES, WARN, Context, Result

Check = Callable[[Context], Result]

#: check name (as in ``rules/checks.yaml``) -> the function that runs it
CHECKS: dict[str, Check] = {
    "face_only_gates": access.face_only_gates,
    "enrolled_without_consent": consent.enrolled_without_consent,
    "processing_without_consent": consent.processing_without_consent,
    "minors_guardian": consent.minors_guardian,
    "notice_published": consent.notice_published,
    "retention": storage.retention_check,
    "photos_kept": storage.photos_kept,
    "premises_modes": access.premises_modes,
    "pia": governance.pia_check,
    "filing_threshold": governance.filing_threshold,
    "audit_chain": governance.audit_chain,
    "key_management": governance.key_management,
    "disclosures": governance.disclosures,
    "declined_alternative": access.declined_alternative,
    "stranger_budget": access.stranger_budget,
    "face_gate_liveness": access.face_gate_liveness,
}

__all__ = ["CHECKS", "FAIL", "PASS", "SAMPLE", "STATUSES", "WARN", "Check", "Context", "Result"]
