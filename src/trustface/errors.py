"""Stable error codes of trustface.

Every refusal in trustface, from a truncated JPEG to a missing consent, is a
:class:`TrustfaceError` carrying a stable ``code`` (never renamed, reused or dropped:
requirements.md §0.3), a sentence for people, and the requirement IDs it implements.
The API maps it to ``{"error": {"code", "message", "requirements"}}`` and the CLI to a
message and a non-zero exit.

This module is a leaf: every room may import it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorSpec:
    """What a code means: HTTP status, the requirement IDs it implements, a description."""

    code: str
    http_status: int
    requirements: tuple[str, ...]
    description: str


#: code -> spec. Rooms register their codes with :func:`register`; docs/errors.md lists them.
CATALOGUE: dict[str, ErrorSpec] = {}


def register(code: str, http_status: int, requirements: tuple[str, ...], description: str) -> str:
    """Add a code to the catalogue (idempotent for an identical spec) and return the code."""
    spec = ErrorSpec(code, http_status, tuple(requirements), description)
    existing = CATALOGUE.get(code)
    if existing is not None and existing != spec:
        raise ValueError(f"error code {code} registered twice with different meanings")
    CATALOGUE[code] = spec
    return code


class TrustfaceError(Exception):
    """A refusal with a stable code, a human sentence and the requirement IDs behind it."""

    def __init__(self, code: str, message: str, requirements: tuple[str, ...] | None = None):
        if code not in CATALOGUE:
            raise ValueError(f"unknown error code {code!r}: register it in the catalogue first")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.requirements = tuple(requirements) if requirements is not None else CATALOGUE[code].requirements
        #: seconds until a rate-limited caller may try again (E_RATE_LIMITED only)
        self.retry_after: int | None = None

    @property
    def http_status(self) -> int:
        return CATALOGUE[self.code].http_status

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "requirements": list(self.requirements)}


# Input and engine codes (the policy room registers its own in trustface.policy.codes).
E_IMAGE_INVALID = register(
    "E_IMAGE_INVALID", 422, (), "The upload is empty, truncated, not an image, or in an unsupported format."
)
E_IMAGE_TOO_LARGE = register(
    "E_IMAGE_TOO_LARGE", 413, (),
    "The image is over the pixel limit (40 megapixels) or is a decompression bomb; refused from its header.",
)
E_NO_FACE = register("E_NO_FACE", 422, (), "No face was found in the image.")
E_MULTIPLE_FACES = register(
    "E_MULTIPLE_FACES", 422, ("PIPL-6",),
    "More than one face was found where exactly one is needed (enrolment must not capture bystanders).",
)
E_FACE_QUALITY = register(
    "E_FACE_QUALITY", 422, (), "The face is too small, blurred or turned away to enrol reliably."
)
E_INVALID_ARGUMENT = register("E_INVALID_ARGUMENT", 422, (), "An argument is missing or out of range.")
E_ATTRIBUTE_UNSUPPORTED = register(
    "E_ATTRIBUTE_UNSUPPORTED", 422, ("R19",),
    "The analysis attribute is allowed by policy but no model for it ships with trustface.",
)
