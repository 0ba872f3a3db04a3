"""Error codes of the access room (registered in the shared catalogue)."""

from trustface.errors import register

E_FACE_ONLY_POLICY = register(
    "E_FACE_ONLY_POLICY", 422, ("R6", "SPC-10", "PIPL-16", "CAC-10", "SPC-4(1)"),
    "An access point or service flow is configured with face as the only method; a PIN, card, QR code or "
    "visitor pass must always be offered.",
)
E_CREDENTIAL_INVALID = register(
    "E_CREDENTIAL_INVALID", 403, ("R6",),
    "The PIN, card or QR code does not match, was tampered with, or was already used.",
)
E_CREDENTIAL_EXPIRED = register(
    "E_CREDENTIAL_EXPIRED", 403, ("R6",), "The QR code or visitor pass has expired.",
)
E_WEAK_PIN = register(
    "E_WEAK_PIN", 422, ("R12",),
    "The PIN is too short or too easy to guess (all one digit, or a straight run such as 123456).",
)
