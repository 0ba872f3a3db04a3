"""Error codes of the gallery room (registered in trustface.errors.CATALOGUE; docs/errors.md) and
its one exception of its own, :class:`TemplateIntegrityError`."""

from __future__ import annotations

from trustface.errors import TrustfaceError, register

E_TEMPLATE_INTEGRITY = register(
    "E_TEMPLATE_INTEGRITY", 500, ("SPC-2(5)", "R11", "ISO24745"),
    "A stored template or wrapped key failed authentication (edited, swapped, or another key file); "
    "it is never decrypted or used. The message names the template.",
)
E_NOT_ENROLLED = register(
    "E_NOT_ENROLLED", 404, ("R5",),
    "The subject has no template for this site, purpose and mode.",
)
E_IMAGE_RETENTION_REFUSED = register(
    "E_IMAGE_RETENTION_REFUSED", 422, ("R9",),
    "Enrolment photos are never stored: there is no separate image-retention consent in this version.",
)

GALLERY_CODES = (E_TEMPLATE_INTEGRITY, E_NOT_ENROLLED, E_IMAGE_RETENTION_REFUSED)


class TemplateIntegrityError(TrustfaceError):
    """A stored template, kept photo or wrapped key failed authentication (edited, swapped, or
    another key file): it is never used (SPC-2(5), R11). ``E_TEMPLATE_INTEGRITY``; the message,
    ``template_id`` and ``subject_id`` name what failed where they are known."""

    def __init__(self, message: str, *, template_id: str | None = None, subject_id: str | None = None) -> None:
        super().__init__(E_TEMPLATE_INTEGRITY, message)
        self.template_id, self.subject_id = template_id, subject_id
