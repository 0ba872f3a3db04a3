"""The protected gallery: enrol, verify (1:1), identify (1:N), kept photos; the one object callers hold.

Every read or write of face data takes a :class:`~trustface.policy.gate.Grant` and calls
:func:`~trustface.policy.gate.require_grant` first (ARCHITECTURE "doors"); every enrolment, match,
erasure and key rotation writes its audit event in the caller's transaction (R21). Results carry
subject ids, distances and decisions, never template bytes or descriptors (R11).

:class:`Gallery` is a facade over the rooms of this package:

* :mod:`~trustface.gallery.keys`: the key ring, the tenant key row, opening one template;
* :mod:`~trustface.gallery.enrolment`: photos or descriptors in, sealed templates out;
* :mod:`~trustface.gallery.search`: verify and identify;
* :mod:`~trustface.gallery.index_sync`: the in-memory indexes, kept in step after each commit;
* :mod:`~trustface.gallery.images`: photos kept under a written image consent (R9);
* :mod:`~trustface.gallery.erasure` and :mod:`~trustface.gallery.rotation`: module functions, no
  Gallery needed (``erase_subject``, ``purge_templates``, ``rotate_keys``).

Storage (SPC-2(5), PIPL-51, ISO24745, R10, R11): a descriptor is transformed with the tenant's keyed
orthogonal matrix, then sealed with AES-256-GCM under the subject's data key, stored only wrapped by
the tenant KEK; KEK and matrix come from the deployment key file (``Deployment.keys.tenant_kek_seed``)
and the tenant's key version, never from the DB. Photos are never stored without a separate written
consent (R9).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Protocol

import numpy.typing as npt
from sqlalchemy.orm import Session

from trustface.gallery import enrolment, search
from trustface.gallery import images as kept_photo_store
from trustface.gallery.codes import TemplateIntegrityError
from trustface.gallery.enrolment import TEMPLATE_POLICY
from trustface.gallery.erasure import erase_subject, purge_templates
from trustface.gallery.images import PhotoSource
from trustface.gallery.index import EXACT_LIMIT, RERANK, VectorIndex
from trustface.gallery.index_sync import GalleryIndexes, IntegrityFailure
from trustface.gallery.keys import KeyRing
from trustface.gallery.results import Candidate, Enrolment, IdentifyResult, VerifyResult
from trustface.gallery.rotation import rotate_keys
from trustface.gallery.search import IDENTIFY_OPERATING_POINT, ProbeImage
from trustface.policy import gate as policy_gate
from trustface.policy._common import utc
from trustface.policy.gate import Grant
from trustface.policy.vocab import IDENTIFY


class _DeploymentKeys(Protocol):
    @property
    def tenant_kek_seed(self) -> bytes: ...


class Deployment(Protocol):
    """What the gallery needs of a :class:`trustface.deployment.Deployment`: the key file and sessions."""

    @property
    def keys(self) -> _DeploymentKeys: ...
    def session(self) -> Session: ...

__all__ = [
    "IDENTIFY_OPERATING_POINT", "TEMPLATE_POLICY", "Candidate", "Enrolment", "Gallery", "IdentifyResult",
    "TemplateIntegrityError", "VerifyResult", "erase_subject", "purge_templates", "rotate_keys",
]


class Gallery:
    """Protected templates of a deployment and the search indexes of its identify galleries.

    >>> gallery = Gallery.open(dep)                      # start-up: rebuild every identify index
    >>> with dep.transaction() as s:
    ...     grant = policy_gate.authorize(s, tenant_id=..., site_id=..., purpose="door_access", mode="identify")
    ...     result = gallery.identify(s, grant, image_bytes)
    """

    def __init__(self, deployment: Deployment | None = None, *, secret: bytes | None = None,
                 exact_limit: int = EXACT_LIMIT, rerank: int = RERANK) -> None:
        if secret is None:
            if deployment is None:
                raise TypeError("give a Deployment or the tenant secret")
            secret = deployment.keys.tenant_kek_seed
        self._ring = KeyRing(secret)
        self.deployment = deployment
        #: every identify index was built at start-up (Gallery.open); else each at its first search
        self.preloaded = False
        self._indexes = GalleryIndexes(self._ring, exact_limit=exact_limit, rerank=rerank)

    @classmethod
    def open(cls, deployment: Deployment, *, preload: bool = True, **kw: Any) -> Gallery:
        """Open the gallery of a deployment; ``preload`` rebuilds every identify index now."""
        gallery = cls(deployment, **kw)
        if preload:
            with deployment.session() as session:
                try:
                    gallery.rebuild(session)
                finally:
                    session.rollback()
            gallery.preloaded = True
        return gallery

    @property
    def exact_limit(self) -> int:
        return self._indexes.exact_limit

    @property
    def rerank(self) -> int:
        return self._indexes.rerank

    @property
    def integrity_failures(self) -> list[IntegrityFailure]:
        """Templates that failed authentication while building indexes: template_id, subject_id,
        error and gallery ("site/purpose/mode") of each."""
        return self._indexes.integrity_failures

    # --- indexes ---------------------------------------------------------------------------------
    def rebuild(self, session: Session, galleries: Sequence[tuple[str, str, str]] | None = None) -> dict[str, int]:
        """(Re)build the search index of every identify gallery (or the given ones) from the store;
        returns {"site/purpose/mode": templates indexed}."""
        return self._indexes.rebuild(session, galleries)

    def size(self, site_id: str, purpose_id: str, mode: str = IDENTIFY) -> int:
        """Templates in a gallery's index (0 when it was not built yet)."""
        return self._indexes.size((site_id, purpose_id, mode))

    def _index_for_test(self, site_id: str, purpose_id: str, mode: str = IDENTIFY) -> VectorIndex:
        """The current index of a gallery (tests only: it holds protected vectors)."""
        if self.deployment is None:
            raise TypeError("this Gallery was opened without a Deployment")
        with self.deployment.session() as session:
            try:
                return self._indexes.index_for(session, (site_id, purpose_id, mode)).index
            finally:
                session.rollback()

    # --- enrolment -------------------------------------------------------------------------------
    def enrol(self, session: Session, grants: Grant | Sequence[Grant], images: Sequence[PhotoSource], *,
              retain_images: bool = False, actor: str | None = None, now: dt.datetime | None = None) -> list[Enrolment]:
        """Enrol a subject from photos (bytes, paths or RGB arrays) under one Grant or several
        (e.g. verify and identify) for the same subject. Each photo passes the enrolment quality
        gate (E_NO_FACE, E_MULTIPLE_FACES, E_FACE_QUALITY); photos are discarded after extraction
        (R9) unless ``retain_images=True`` and ``grants`` also hold a ``keep_photo`` Grant (a
        separate written consent) for the same subject and purpose: then they are sealed under the
        subject's data key (:mod:`trustface.gallery.images`), else E_IMAGE_RETENTION_REFUSED.
        Replaces the subject's earlier templates in each gallery."""
        return enrolment.enrol_photos(session, self._ring, grants, images, retain_images=retain_images, actor=actor,
                                      now=utc(now))

    def enrol_descriptors(self, session: Session, grants: Grant | Sequence[Grant], descriptors: npt.ArrayLike, *,
                          actor: str | None = None, now: dt.datetime | None = None) -> list[Enrolment]:
        """Enrol descriptors (N, 128) that came from the engine's enrolment gate (the lower half of
        :meth:`enrol`, for callers that extracted them on a trusted device)."""
        return enrolment.enrol_descriptors(session, self._ring, grants, descriptors, actor=actor, now=utc(now))

    def kept_photos(self, session: Session, subject_id: str, *, actor: str,
                    now: dt.datetime | None = None) -> list[tuple[str, str, bytes]]:
        """(image id, media type, bytes) of the photos kept for a subject under an image-retention
        consent: for the subject's own access request (PIPL-45), never for search. The read is
        audited (an ``export`` event naming the image ids)."""
        return kept_photo_store.kept_photos(session, self._ring, subject_id, actor=actor, now=utc(now))

    # --- search ----------------------------------------------------------------------------------
    @staticmethod
    def probe_descriptor(image: ProbeImage) -> npt.NDArray[Any]:
        """The descriptor (128,) of the main face of a probe photo (the photo is not kept)."""
        return search.probe_descriptor(image)

    def verify(self, session: Session, grant: Grant, subject_id: str, image: ProbeImage, *, fmr: str | None = None,
               actor: str | None = None, now: dt.datetime | None = None) -> VerifyResult:
        """Is the face in ``image`` the claimed subject? Under a verify Grant naming that subject."""
        search.check_verify_grant(grant, subject_id, utc(now))
        return self.verify_descriptor(session, grant, subject_id, self.probe_descriptor(image), fmr=fmr,
                                      actor=actor, now=now)

    def verify_descriptor(self, session: Session, grant: Grant, subject_id: str, descriptor: npt.ArrayLike, *,
                          fmr: str | None = None, actor: str | None = None,
                          now: dt.datetime | None = None) -> VerifyResult:
        """:meth:`verify` for a probe descriptor (128,) extracted by the caller."""
        return search.verify_descriptor(session, self._ring, grant, subject_id, descriptor, fmr=fmr, actor=actor,
                                        now=utc(now))

    def identify(self, session: Session, grant: Grant, image: ProbeImage, *, k: int = 1, fmr: str | None = None,
                 actor: str | None = None, now: dt.datetime | None = None, fpir: float | None = None) -> IdentifyResult:
        """Who, among the consented subjects of the grant's identify gallery, is in ``image``?"""
        policy_gate.require_grant(grant, mode=IDENTIFY, now=utc(now))
        return self.identify_descriptor(session, grant, self.probe_descriptor(image), k=k, fmr=fmr, actor=actor,
                                        now=now, fpir=fpir)

    def identify_descriptor(self, session: Session, grant: Grant, descriptor: npt.ArrayLike, *, k: int = 1,
                            fmr: str | None = None, actor: str | None = None,
                            now: dt.datetime | None = None, fpir: float | None = None) -> IdentifyResult:
        """:meth:`identify` for a probe descriptor (128,) extracted by the caller: at most ``k``
        candidates (1 to 100), nearest first; ``fmr`` names an operating point, otherwise the
        threshold keeps the stranger-admission budget ``fpir`` (default 1e-3) at the gallery's size."""
        return search.identify_descriptor(session, self._ring, self._indexes, grant, descriptor, k=k, fmr=fmr,
                                          actor=actor, now=utc(now), fpir=fpir)
