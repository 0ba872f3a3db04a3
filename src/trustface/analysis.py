"""Gated face analysis: the only way to analyse a person's face (R19, SPC-2(7)).

Analysis is its own processing mode with its own consent (R19, SPC-2(7)): a verify or identify
grant never covers it. The policy gate decides which attributes may be inferred at all when it
issues the grant (step 7 of :mod:`trustface.policy.gate`: the allow-list, the hard-coded deny-list
of race, religion, health, ... and the profile's additions); this module then refuses anything the
grant does not name, runs the engine (:mod:`trustface.engine.analysis`) and writes one ``analysis``
audit event in the caller's transaction (R21). The caller commits.

>>> grant = policy_gate.authorize(session, tenant_id=..., site_id=..., purpose="lobby_analytics",
...                        mode="analyze", subject_id=..., attributes=["face_count", "head_pose"])
>>> analysis.analyze(session, grant, photo_bytes, ["head_pose"])
{"attributes": {"head_pose": {"yaw": 3.8, "pitch": -6.2, "roll": -1.0}}, "audit_seq": 42}
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from trustface import audit, imaging
from trustface.engine import analysis as engine_analysis
from trustface.errors import E_INVALID_ARGUMENT, TrustfaceError
from trustface.policy import codes
from trustface.policy import gate as policy_gate
from trustface.policy._common import utc
from trustface.policy.gate import Grant
from trustface.policy.vocab import ANALYZE, DENY_ATTRIBUTES

__all__ = ["analyze"]


def _check_scope(grant: Grant, attributes: Sequence[str]) -> None:
    """Refuse (E_PROHIBITED_INFERENCE) attributes on the deny-list or outside the grant.

    The gate already refused deny-listed names when it issued the grant; the second check here
    costs nothing and keeps the hard-coded deny-list absolute even for a grant made under a looser
    future rule (R19, SPC-2(7)).
    """
    denied = [a for a in attributes if a in DENY_ATTRIBUTES]
    if denied:
        raise TrustfaceError(codes.E_PROHIBITED_INFERENCE, f"inferring {', '.join(denied)} is prohibited.")
    outside = [a for a in attributes if a not in grant.attributes]
    if outside:
        granted = ", ".join(grant.attributes) or "none"
        raise TrustfaceError(codes.E_PROHIBITED_INFERENCE,
                             f"the grant does not cover {', '.join(outside)} (granted: {granted}); "
                             "ask the gate for a grant naming them.")


def analyze(session: Session, grant: Grant, image: np.ndarray | imaging.ImageSource,
            attributes: Sequence[str], *, actor: str | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
    """Analyse the face in ``image`` under an analyze Grant (R19, SPC-2(7)).

    image: an RGB uint8 array of shape (H, W, 3), or encoded bytes / a path (decoded with
    :func:`trustface.imaging.load_image`). attributes: names, each within ``grant.attributes``.

    Returns ``{"attributes": {name: value}, "audit_seq": seq}`` with the values of
    :func:`trustface.engine.analysis.analyze`. Refusals, in order: no live analyze grant
    (E_CONSENT_MISSING / E_MODE_NOT_ALLOWED), an attribute outside the grant or on the deny-list
    (E_PROHIBITED_INFERENCE), an unknown or unsupported attribute (E_INVALID_ARGUMENT /
    E_ATTRIBUTE_UNSUPPORTED), a bad image (E_IMAGE_INVALID / E_IMAGE_TOO_LARGE), no face
    (E_NO_FACE). A refusal writes no analysis event: nothing was inferred.

    The audit event names the grant, site, purpose, attributes and result keys; never values
    such as landmarks or vectors (the audit chain refuses numeric lists anyway).
    """
    names, result = infer(grant, image, attributes, now=now)
    seq = record(session, grant, names, result, actor=actor, now=now)
    return {"attributes": result, "audit_seq": seq}


def infer(grant: policy_gate.Grant, image: np.ndarray | imaging.ImageSource, attributes: Sequence[str], *,
          now: dt.datetime | None = None) -> tuple[list[str], dict]:
    """The checks and the inference of :func:`analyze`, without storage: run it outside any
    transaction, then :func:`record` the result. Returns (attribute names, values)."""
    now = utc(now)
    policy_gate.require_grant(grant, mode=ANALYZE, now=now)
    items = [] if isinstance(attributes, str) else list(attributes)
    if not items or not all(isinstance(a, str) for a in items):
        raise TrustfaceError(E_INVALID_ARGUMENT, "attributes must be a non-empty list of attribute names.")
    requested = list(dict.fromkeys(items))  # de-duplicated, in request order
    _check_scope(grant, requested)
    names = engine_analysis.check_attributes(requested)  # before decoding: refusals stay cheap
    pixels = image if isinstance(image, np.ndarray) else imaging.load_image(image)
    return list(names), engine_analysis.analyze(pixels, names)


def record(session: Session, grant: policy_gate.Grant, names: Sequence[str], result: dict, *, actor: str | None = None,
           now: dt.datetime | None = None) -> int:
    """The ``analysis`` audit event of an inference: the grant, site, purpose, attribute names and
    result keys, never the values. Returns its sequence number."""
    return audit.record(session, "analysis", actor=actor or "system:analysis", tenant_id=grant.tenant_id,
                        subject_id=grant.subject_id, now=utc(now),
                        payload={"action": "analyze", "grant_id": grant.grant_id, "site_id": grant.site_id,
                                 "purpose": grant.purpose, "attributes": list(names), "result_keys": list(result)})
