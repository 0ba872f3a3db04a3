"""Face use cases: enrol, 1:1 verify, 1:N identify and gated analysis, one place each for the API,
the CLI and the web pages.

Transaction rule (the same for all four):

1. a read: the caller's permission, the subject and site in its scope (E_NOT_FOUND otherwise);
2. decode every photo: a bad upload is refused with nothing written, not even a grant event;
3. one transaction per requested mode asks the policy gate (``policy.gate.authorize``, grant
   lifetime from the settings); it commits whatever the answer, so a refusal stands in the audit
   trail (SPC-2(3), PIPL-29) before it is raised;
4. face detection and description, outside any transaction;
5. one transaction for the gallery work and its audit events (enrolment, match, analysis).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trustface.access.codes import E_MALFORMED_REQUEST
from trustface.access.keys import Principal
from trustface.errors import E_INVALID_ARGUMENT, TrustfaceError
from trustface.gallery import Enrolment, IdentifyResult, VerifyResult
from trustface.policy import gate as policy_gate
from trustface.policy.gate import Grant
from trustface.policy.vocab import ANALYZE, IDENTIFY, VERIFY
from trustface.services import scope
from trustface.services.context import Context
from trustface.services.gates import ImageInput

#: the modes a template is enrolled for
ENROL_MODES = (VERIFY, IDENTIFY)
#: at most this many photos per enrolment
MAX_ENROLMENT_PHOTOS = 5


@dataclass(frozen=True)
class EnrolOutcome:
    """The templates made for one subject, one :class:`~trustface.gallery.Enrolment` per mode."""

    subject_id: str
    enrolments: list[Enrolment]
    photos_kept: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"subject_id": self.subject_id, "enrolments": [e.to_dict() for e in self.enrolments],
                "photos_kept": self.photos_kept}


def parse_modes(value: str | Sequence[str]) -> list[str]:
    """``"verify,identify"`` (or a list) -> the distinct enrolment modes, or E_INVALID_ARGUMENT."""
    items = value.split(",") if isinstance(value, str) else list(value)
    modes = list(dict.fromkeys(m.strip() for m in items if isinstance(m, str) and m.strip()))
    if not modes or any(m not in ENROL_MODES for m in modes):
        raise TrustfaceError(E_INVALID_ARGUMENT, "mode is verify, identify, or verify,identify")
    return modes


def _decode(images: Sequence[ImageInput]) -> list[NDArray[np.uint8]]:
    from trustface import imaging

    return [image if isinstance(image, np.ndarray) else imaging.load_image(image) for image in images]


def _authorize(ctx: Context, who: Principal, *, tenant_id: str, site_id: str, purpose: str, mode: str,
               subject_id: str | None = None, attributes: Sequence[str] = ()) -> Grant:
    """Ask the policy gate in a transaction of its own (committed whatever the answer)."""
    with ctx.tx() as s:
        decision = policy_gate.authorize(s, tenant_id=tenant_id, site_id=site_id, purpose=purpose, mode=mode,
                                  subject_id=subject_id, attributes=tuple(attributes), actor=who.actor,
                                  now=ctx.now(), ttl=ctx.grant_ttl)
    return scope.granted(decision)


def enrolment_descriptors(images: Sequence[NDArray[np.uint8]]) -> NDArray[np.float32]:
    """(N, 128) float32 descriptors of N enrolment photos, each through the enrolment quality gate
    (E_NO_FACE, E_MULTIPLE_FACES, E_FACE_QUALITY, naming the photo). No storage, no lock."""
    from trustface import engine

    if not images or len(images) > MAX_ENROLMENT_PHOTOS:
        raise TrustfaceError(E_INVALID_ARGUMENT, f"give 1 to {MAX_ENROLMENT_PHOTOS} enrolment photos")
    out = []
    for n, image in enumerate(images, start=1):
        try:
            face, _quality = engine.enrolment_face(image)
        except TrustfaceError as exc:
            raise TrustfaceError(exc.code, f"photo {n}: {exc.message}", exc.requirements) from None
        out.append(engine.describe(image, [face])[0])
    return np.stack(out).astype(np.float32)


def enrol(ctx: Context, who: Principal, subject_id: str, images: Sequence[ImageInput], *, purpose: str,
          modes: str | Sequence[str], site_id: str | None = None) -> EnrolOutcome:
    """Enrol 1-5 photos of a subject under the subject's consent for ``purpose`` x each mode. Photos
    are discarded once described (R9); templates are encrypted and tenant-transformed (R11) and
    replace the subject's earlier ones in each gallery."""
    who.require("faces:enrol")
    chosen = parse_modes(modes)
    with ctx.read() as s:
        subject = scope.subject(s, who, subject_id)
        site_id = scope.subject_site(s, who, subject, site_id).id
        tenant_id = subject.tenant_id
    pixels = _decode(images)
    grants = [_authorize(ctx, who, tenant_id=tenant_id, site_id=site_id, purpose=purpose, mode=mode,
                         subject_id=subject_id) for mode in chosen]
    descriptors = enrolment_descriptors(pixels)
    del pixels
    with ctx.tx() as s:
        enrolments = ctx.gallery.enrol_descriptors(s, grants, descriptors, actor=who.actor, now=ctx.now())
    return EnrolOutcome(subject_id, enrolments)


def _probe_descriptor(image: NDArray[np.uint8]) -> NDArray[np.float32]:
    from trustface.gallery import Gallery

    return np.asarray(Gallery.probe_descriptor(image), dtype=np.float32)


def verify(ctx: Context, who: Principal, site_id: str, subject_id: str, image: ImageInput, *,
           purpose: str) -> VerifyResult:
    """1:1: is the face in ``image`` the claimed subject? Under the subject's verify consent."""
    who.require("faces:match")
    with ctx.read() as s:
        site = scope.site(s, who, site_id)
        scope.subject(s, who, subject_id)
        tenant_id = site.tenant_id
    (probe,) = _decode([image])
    grant = _authorize(ctx, who, tenant_id=tenant_id, site_id=site_id, purpose=purpose, mode=VERIFY,
                       subject_id=subject_id)
    descriptor = _probe_descriptor(probe)
    with ctx.tx() as s:
        return ctx.gallery.verify_descriptor(s, grant, subject_id, descriptor, actor=who.actor, now=ctx.now())


def identify(ctx: Context, who: Principal, site_id: str, image: ImageInput, *, purpose: str,
             k: int = 1) -> IdentifyResult:
    """1:N: who is this, among the subjects who consented to identify for ``purpose`` here? An
    open-set answer: "unknown" when nobody is within the operating point."""
    who.require("faces:match")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 100:
        raise TrustfaceError(E_INVALID_ARGUMENT, "k is a whole number from 1 to 100")
    with ctx.read() as s:
        tenant_id = scope.site(s, who, site_id).tenant_id
    (probe,) = _decode([image])
    grant = _authorize(ctx, who, tenant_id=tenant_id, site_id=site_id, purpose=purpose, mode=IDENTIFY)
    descriptor = _probe_descriptor(probe)
    with ctx.tx() as s:
        return ctx.gallery.identify_descriptor(s, grant, descriptor, k=k, actor=who.actor, now=ctx.now())


def analyze(ctx: Context, who: Principal, site_id: str, subject_id: str, image: ImageInput, *,
            attributes: Sequence[str], purpose: str | None = None) -> dict[str, Any]:
    """Gated analysis: its own consent, allow-listed attributes only, the deny-list enforced by the
    gate (R19, SPC-2(7)). ``purpose`` defaults to the site's only analysis purpose."""
    from trustface import analysis
    from trustface.db import repo

    who.require("faces:analyze")
    if not attributes or not all(isinstance(a, str) for a in attributes):
        raise TrustfaceError(E_INVALID_ARGUMENT, "name the attributes to analyse, e.g. head_pose")
    with ctx.read() as s:
        site = scope.site(s, who, site_id)
        scope.subject(s, who, subject_id)
        if not purpose:
            names = [p.name for p in repo.purposes_of_site(s, site_id) if ANALYZE in p.allowed_modes.split(",")]
            if len(names) != 1:
                raise TrustfaceError(E_MALFORMED_REQUEST, "give purpose: the site has no single analysis purpose")
            purpose = names[0]
        tenant_id = site.tenant_id
    (probe,) = _decode([image])
    grant = _authorize(ctx, who, tenant_id=tenant_id, site_id=site_id, purpose=purpose, mode=ANALYZE,
                       subject_id=subject_id, attributes=attributes)
    now = ctx.now()
    names, values = analysis.infer(grant, probe, list(attributes), now=now)
    with ctx.tx() as s:
        seq = analysis.record(s, grant, names, values, actor=who.actor, now=now)
    return {"attributes": values, "audit_seq": seq}
