"""The gallery room: protected templates and 1:N search (issue 4; docs/gallery.md).

Public API (what the REST API and the CLI call)::

    gallery = Gallery.open(deployment)          # start-up: rebuilds the identify indexes
    gallery.enrol(session, grant_or_grants, photos)             -> [Enrolment]
    gallery.verify(session, grant, subject_id, photo)           -> VerifyResult   (1:1)
    gallery.identify(session, grant, photo, k=1)                -> IdentifyResult (1:N, open set)
    erase_subject(session, subject_id, actor=...)               -> [deletion certificate]
    rotate_keys(session, deployment.keys.tenant_kek_seed, actor=...) -> [rotation report]

Rooms: ``store`` (the :class:`Gallery` facade), ``results``, ``keys``, ``enrolment``, ``search``,
``index_sync`` (indexes kept in step after each commit), ``images`` (kept photos), ``erasure``,
``rotation``, ``protection`` (the crypto), ``index`` (the vector index); their SQL lives in
:mod:`trustface.db.gallery_store`.

Withdrawal and retention reach the gallery through the purge handlers registered here
(``gallery.templates``, ``gallery.images`` for photos kept under a written image consent), in the
same transaction as the deletion certificate (R13, R14). :mod:`trustface.policy.retention` imports
this package before every purge and stops with E_PURGE_UNAVAILABLE when it cannot.
"""

from trustface.gallery.codes import E_IMAGE_RETENTION_REFUSED, E_NOT_ENROLLED, E_TEMPLATE_INTEGRITY, TemplateIntegrityError
from trustface.gallery.erasure import erase_subject, purge_templates
from trustface.gallery.images import purge_images
from trustface.gallery.results import Candidate, Enrolment, IdentifyResult, VerifyResult
from trustface.gallery.rotation import rotate_keys
from trustface.gallery.store import Gallery
from trustface.policy.retention import register_purge_handler

register_purge_handler("gallery.templates", purge_templates)
register_purge_handler("gallery.images", purge_images)

__all__ = [
    "Candidate", "E_IMAGE_RETENTION_REFUSED", "E_NOT_ENROLLED", "E_TEMPLATE_INTEGRITY", "Enrolment", "Gallery",
    "IdentifyResult", "TemplateIntegrityError", "VerifyResult", "erase_subject", "purge_templates", "rotate_keys",
]
