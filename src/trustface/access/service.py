"""The access room's public surface: gates (:mod:`.gates`), non-face credentials
(:mod:`.issuance`) and access decisions (:mod:`.decisions`), re-exported for callers that
imported them from here."""

from trustface.access.decisions import (
    BurstOutcome,
    Decision,
    FaceProbe,
    decide_burst,
    decide_credential,
    decide_face,
    decide_spent_challenge,
    face_refusal,
    issue_challenge,
    why_not,
)
from trustface.access.gates import (
    DEFAULT_PURPOSE,
    LIVENESS_MODES,
    create_gate,
    gate_is_open,
    gate_methods,
    gate_to_dict,
    get_gate,
)
from trustface.access.issuance import (
    CREDENTIAL_TYPES,
    QR_VALIDITY,
    VISITOR_PASS,
    VISITOR_VALIDITY,
    credential_key,
    credential_to_dict,
    erase_credentials,
    issue_credential,
    issue_visitor_pass,
    pin_tag,
    revoke_credential,
    subject_has_face_consent,
)

__all__ = [
    "CREDENTIAL_TYPES", "DEFAULT_PURPOSE", "LIVENESS_MODES", "QR_VALIDITY", "VISITOR_PASS", "VISITOR_VALIDITY",
    "BurstOutcome", "Decision", "FaceProbe", "create_gate", "credential_key", "credential_to_dict",
    "decide_burst", "decide_credential", "decide_face", "decide_spent_challenge", "erase_credentials",
    "face_refusal", "gate_is_open", "gate_methods", "gate_to_dict", "get_gate", "issue_challenge",
    "issue_credential", "issue_visitor_pass", "pin_tag", "revoke_credential", "subject_has_face_consent", "why_not",
]
