"""Search: 1:1 verify against a claimed subject, 1:N identify in a site gallery (open set).

A probe descriptor is protected with the tenant's current transform and compared in protected
space (the transform keeps Euclidean distances, so calibrated thresholds hold). Identify results
are filtered by :func:`~trustface.policy.gate.consented_subject_ids` on every call, so a withdrawn,
suspended, expired or verify-only subject never comes back (R5, R14, R17, R23). Every search writes
one ``match`` audit event in the caller's transaction (R21); results never carry vectors (R11).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from trustface import audit, imaging
from trustface.db import audit_store, gallery_store
from trustface.errors import E_INVALID_ARGUMENT, E_NO_FACE, TrustfaceError
from trustface.gallery import protection
from trustface.gallery.codes import E_NOT_ENROLLED, TemplateIntegrityError
from trustface.gallery.index import VectorIndex
from trustface.gallery.index_sync import GalleryIndexes
from trustface.gallery.keys import KeyRing, open_template, tenant_key, unwrap_template_key
from trustface.gallery.results import Candidate, IdentifyResult, VerifyResult
from trustface.policy import codes
from trustface.policy import gate as policy_gate
from trustface.policy.gate import Grant
from trustface.policy.vocab import IDENTIFY, VERIFY

#: 1:N search makes one comparison per enrolled template, so false matches add up with the
#: gallery's size (FPIR ~ 1 - (1 - FMR) ** N). Identify therefore takes its threshold from a
#: stranger-admission budget, the most FPIR per search (:mod:`trustface.engine.open_set`), for the
#: gallery's current size; a named operating point (``fmr``) still fixes it, for benchmarks and tools.
IDENTIFY_OPERATING_POINT = "1e-4"  # the fixed point before the budget; now its cap (engine.open_set)

#: a probe photo: an RGB uint8 array (H, W, 3), encoded bytes or a path
ProbeImage = npt.NDArray[np.uint8] | imaging.ImageSource


def probe_descriptor(image: ProbeImage) -> protection.Vectors:
    """The descriptor (128,) float32 of the main face of a probe photo (the photo is not kept)."""
    from trustface import engine

    pixels = image if isinstance(image, np.ndarray) else imaging.load_image(image)
    # HOG only: a gate frame without a face must come back in milliseconds, not wait ~2 s
    # for the CNN fallback that enrolment and benchmarks can afford.
    face, descriptor = engine.portrait_descriptor(pixels, method="hog")
    if face is None or descriptor is None:
        raise TrustfaceError(E_NO_FACE, "no face was found in the probe photo")
    return descriptor


def check_verify_grant(grant: Grant, subject_id: str, now: dt.datetime) -> None:
    """Refuse unless ``grant`` is a live verify Grant naming ``subject_id``."""
    policy_gate.require_grant(grant, mode=VERIFY, subject_id=subject_id, now=now)
    if grant.subject_id is None:
        raise TrustfaceError(codes.E_CONSENT_MISSING, "verification needs a grant naming the claimed subject")


def verify_descriptor(session: Session, ring: KeyRing, grant: Grant, subject_id: str, descriptor: npt.ArrayLike, *,
                      fmr: str | None, actor: str | None, now: dt.datetime) -> VerifyResult:
    """:meth:`trustface.gallery.Gallery.verify_descriptor`: the best distance between the probe
    (128,) and the subject's verify templates at this site and purpose, against the threshold."""
    from trustface import engine

    check_verify_grant(grant, subject_id, now)
    name, limit = engine.threshold(fmr)
    rows = gallery_store.templates_of_subject(session, subject_id, site_id=grant.site_id,
                                              purpose_id=grant.purpose_id, mode=VERIFY)
    if not rows:
        raise TrustfaceError(E_NOT_ENROLLED, f"subject {subject_id} has no verify template for {grant.purpose} here")
    tkey = tenant_key(session, ring, grant.tenant_id, now, create=False)
    if tkey is None:
        raise TrustfaceError(E_NOT_ENROLLED, f"subject {subject_id} has no template")
    probe = protection.protect(np.asarray(descriptor, dtype=np.float32), ring.matrix(grant.tenant_id, tkey.version))
    data_key = None
    best = np.inf
    for row in rows:
        if row.key_version != tkey.version:
            raise TemplateIntegrityError(f"template {row.template_id} is on key version {row.key_version}, the "
                                         f"tenant on {tkey.version}", template_id=row.template_id,
                                         subject_id=row.subject_id)
        if data_key is None:
            data_key = unwrap_template_key(row, ring.kek(row.tenant_id, row.key_version))
        best = min(best, float(np.linalg.norm(open_template(row, data_key) - probe)))
    del data_key
    sim = float(engine.similarity(best, limit))
    match = bool(best <= limit)
    audit_store.lock_head(session)
    if match:
        policy_gate.record_interaction(session, grant, subject_id, now=now)
    seq = audit.record(session, "match", actor=actor or "system:gallery", tenant_id=grant.tenant_id,
                       subject_id=subject_id, now=now,
                       payload={"action": "verify", "grant_id": grant.grant_id, "site_id": grant.site_id,
                                "purpose": grant.purpose, "result": "match" if match else "no_match",
                                "distance": round(best, 4), "operating_point": name, "threshold": limit})
    return VerifyResult(subject_id, match, best, sim, name, limit, seq)


def identify_threshold(gallery_size: int, fmr: str | None, fpir: float | None) -> tuple[str, float, dict[str, Any]]:
    """(operating point name, distance threshold, audit details) of a 1:N search: the named
    operating point ``fmr`` when given, otherwise the threshold that keeps the stranger-admission
    budget ``fpir`` (default 1e-3) at this gallery size (ISO19795-1, R26)."""
    from trustface import engine
    from trustface.engine import open_set

    if fmr is not None:
        if fpir is not None:
            raise TrustfaceError(E_INVALID_ARGUMENT, "give an operating point (fmr) or a budget (fpir), not both")
        name, limit = engine.threshold(fmr)
        return name, limit, {}
    chosen = open_set.identify_threshold(gallery_size, open_set.DEFAULT_FPIR_BUDGET if fpir is None else fpir)
    return chosen.name, chosen.threshold, {"fpir_budget": chosen.budget, "fmr_per_comparison": chosen.fmr,
                                           "threshold_method": chosen.method}


def identify_descriptor(session: Session, ring: KeyRing, indexes: GalleryIndexes, grant: Grant,
                        descriptor: npt.ArrayLike, *, k: int, fmr: str | None, actor: str | None,
                        now: dt.datetime, fpir: float | None = None) -> IdentifyResult:
    """:meth:`trustface.gallery.Gallery.identify_descriptor`: the ``k`` nearest consented subjects
    of the grant's identify gallery within the threshold: the named operating point ``fmr``, or the
    one that keeps the stranger-admission budget ``fpir`` (default 1e-3) at the gallery's size."""
    from trustface import engine

    policy_gate.require_grant(grant, mode=IDENTIFY, now=now)
    if not 1 <= k <= 100:
        raise TrustfaceError(E_INVALID_ARGUMENT, "k must be between 1 and 100")
    slot = indexes.index_for(session, (grant.site_id, grant.purpose_id, IDENTIFY))
    name, limit, budget = identify_threshold(len(slot.index), fmr, fpir)
    candidates: list[Candidate] = []
    if len(slot.index) and slot.key_version is not None:
        def allowed(subject_ids: set[str]) -> Collection[str]:
            # consent is checked for the nearest candidates only, not the whole gallery
            return policy_gate.consented_subject_ids(session, grant, now=now, among=subject_ids)

        def similarity(distance: float) -> float:
            return float(engine.similarity(distance, limit))

        probe = protection.protect(np.asarray(descriptor, dtype=np.float32),
                                   ring.matrix(grant.tenant_id, slot.key_version))
        candidates = nearest_allowed(slot.index, probe, k, limit, allowed, similarity)
    audit_store.lock_head(session)
    for c in candidates:
        policy_gate.record_interaction(session, grant, c.subject_id, now=now)
    seq = audit.record(session, "match", actor=actor or "system:gallery", tenant_id=grant.tenant_id,
                       subject_id=grant.subject_id, now=now,
                       payload={"action": "identify", "grant_id": grant.grant_id, "site_id": grant.site_id,
                                "purpose": grant.purpose, "result": "match" if candidates else "unknown",
                                "candidates": [{"subject_id": c.subject_id, "distance": round(c.distance, 4)}
                                               for c in candidates],
                                "operating_point": name, "threshold": limit, "gallery_size": len(slot.index),
                                **budget})
    return IdentifyResult(tuple(candidates), name, limit, len(slot.index), slot.index.approximate, seq)


def nearest_allowed(index: VectorIndex, probe: protection.Vectors, k: int, limit: float,
                    allowed: Callable[[set[str]], Collection[str]],
                    similarity: Callable[[float], float]) -> list[Candidate]:
    """The ``k`` nearest subjects within distance ``limit`` that ``allowed`` (asked once per new
    candidate) says may be matched, nearest first; searches deeper while too few pass."""
    want = max(4 * k, 16)
    verdicts: dict[str, bool] = {}
    best: dict[str, float] = {}
    while True:
        distances, ids = index.search(probe, want)
        # nearest first: everything past the threshold is out
        near = [(float(d), s) for d, s in zip(distances.tolist(), index.subject_of(ids), strict=False)
                if d <= limit and s is not None]
        unseen = {s for _, s in near if s not in verdicts}
        if unseen:
            ok = allowed(unseen)
            verdicts.update((s, s in ok) for s in unseen)
        best = {}
        for d, s in near:
            if verdicts[s] and s not in best:
                best[s] = d
        exhausted = len(ids) < want or bool(len(distances) and distances[-1] > limit)
        if len(best) >= k or exhausted or want >= len(index):
            break
        want *= 4
    ranked = sorted(best.items(), key=lambda kv: kv[1])[:k]
    return [Candidate(s, d, similarity(d)) for s, d in ranked]
