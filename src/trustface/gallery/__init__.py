"""The gallery room: protected templates and 1:N search (issue 4; docs/gallery.md).

Public API (what the REST API and the CLI call)::

    gallery = Gallery.open(deployment)          # start-up: rebuilds the identify indexes
    gallery.enrol(session, grant_or_grants, photos)             -> [Enrolment]
    gallery.verify(session, grant, subject_id, photo)           -> VerifyResult   (1:1)
    gallery.identify(session, grant, photo, k=1)                -> IdentifyResult (1:N, open set)
    erase_subject(session, subject_id, actor=...)               -> [deletion certificate]
    rotate_keys(session, deployment.keys.tenant_kek_seed, actor=...) -> [rotation report]

Withdrawal and retention reach the gallery through the purge handler registered here
(``gallery.templates``, ``gallery.images`` for photos kept under a written image consent), in the
same transaction as the deletion certificate.
"""

from trustface.gallery.codes import E_IMAGE_RETENTION_REFUSED, E_NOT_ENROLLED, E_TEMPLATE_INTEGRITY
from trustface.gallery.images import purge_images
from trustface.gallery.store import (
    Candidate,
    Enrolment,
    Gallery,
    IdentifyResult,
    TemplateIntegrityError,
    VerifyResult,
    erase_subject,
    purge_templates,
    rotate_keys,
)
from trustface.policy.retention import register_purge_handler

register_purge_handler("gallery.templates", purge_templates)
register_purge_handler("gallery.images", purge_images)

__all__ = [
    "Candidate", "E_IMAGE_RETENTION_REFUSED", "E_NOT_ENROLLED", "E_TEMPLATE_INTEGRITY", "Enrolment", "Gallery",
    "IdentifyResult", "TemplateIntegrityError", "VerifyResult", "erase_subject", "purge_templates", "rotate_keys",
]
