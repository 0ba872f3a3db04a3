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
E_CREDENTIAL_CONFLICT = register(
    "E_CREDENTIAL_CONFLICT", 409, ("R6",),
    "The PIN or card is already in use at this site; choose another (or let trustface generate a PIN).",
)
E_ALTERNATIVE_REQUIRED = register(
    "E_ALTERNATIVE_REQUIRED", 409, ("R6", "SPC-10", "PIPL-16"),
    "The change would leave a resident who declined face, or whose face consent ended, without a working "
    "non-face credential.",
)
E_METHOD_NOT_OFFERED = register(
    "E_METHOD_NOT_OFFERED", 422, ("R6",), "The gate does not offer this way in; use one of the methods it lists.",
)
E_LIVENESS_REQUIRED = register(
    "E_LIVENESS_REQUIRED", 403, ("R25", "ISO30107-3"),
    "This gate opens by face only through the liveness challenge (a short frame burst), not a single frame.",
)
E_GATE_CLOSED = register(
    "E_GATE_CLOSED", 403, (), "The gate's schedule does not open it at this time.",
)
E_NO_MATCH = register(
    "E_NO_MATCH", 403, ("PIPL-24", "R25"),
    "The face did not match anyone enrolled with consent at this gate; use another method.",
)
E_UNAUTHENTICATED = register(
    "E_UNAUTHENTICATED", 401, ("R12",), "No valid API key: send `Authorization: Bearer <api key>`.",
)
E_FORBIDDEN = register(
    "E_FORBIDDEN", 403, ("R12",), "The API key's role or scope does not allow this operation.",
)
E_RATE_LIMITED = register(
    "E_RATE_LIMITED", 429, ("R12",), "Too many requests with this key; wait and retry (see Retry-After).",
)
E_BODY_TOO_LARGE = register(
    "E_BODY_TOO_LARGE", 413, (), "The request body is over the size limit; it was refused while streaming.",
)
E_UNSUPPORTED_MEDIA = register(
    "E_UNSUPPORTED_MEDIA", 415, (), "The request's content type is not accepted by this route.",
)
E_MALFORMED_REQUEST = register(
    "E_MALFORMED_REQUEST", 422, (), "The request body is not valid JSON or form data, or has unknown or wrong fields.",
)
