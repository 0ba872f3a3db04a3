"""Gate use cases: make a gate, hand out non-face credentials, and every attempt at a gate (a PIN,
card or QR code; a single face frame; a credential then a face at a two-factor gate; a liveness
challenge and its frame burst).

Transaction rule: decoding, face detection and description, and the liveness analysis of a burst
(PAD model, landmarks) run before any transaction opens; the transaction then holds only storage
work: the replay screen, ``policy.gate.authorize`` with the deployment's grant lifetime, the gallery
search bookkeeping, the access decision and its audit event (ARCHITECTURE.md). The access room owns
the decision (:mod:`trustface.access.decisions`); liveness only returns verdicts.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from trustface.access import decisions, gates, issuance, second_factor
from trustface.access.decisions import BurstOutcome, Decision, FaceProbe
from trustface.access.keys import Principal
from trustface.db import access_store
from trustface.db.models import LivenessChallenge
from trustface.errors import E_INVALID_ARGUMENT, E_NO_FACE, TrustfaceError
from trustface.liveness import pad as pad_models
from trustface.liveness import service as liveness
from trustface.policy import codes
from trustface.services import scope
from trustface.services.context import Context

#: what a face attempt may be given: the upload's bytes, a file path, or decoded RGB pixels (H, W, 3) uint8
ImageInput = bytes | str | os.PathLike[str] | np.ndarray


# --- gates and credentials ---------------------------------------------------------------------

def create_gate(ctx: Context, who: Principal, *, site_id: str, name: str, methods: Sequence[str],
                purpose: str = gates.DEFAULT_PURPOSE, location_id: str | None = None,
                schedule: dict[str, Any] | None = None, liveness: str | None = None,
                liveness_off_reason: str | None = None, face_mode: str = "identify",
                credential_alone: Sequence[str] | None = None, fpir_budget: float | None = None) -> dict[str, Any]:
    """A gate and its ways in; face alone is refused with E_FACE_ONLY_POLICY (SPC-10, PIPL-16). A
    face gate requires liveness unless turned off with a reason (an attended gate).
    ``face_mode="verify_after_credential"`` makes the face a second factor after a PIN, card or QR
    code (1:1, the purpose must allow verify); ``credential_alone`` names the credentials that also
    open it without a face (default all; never none: R6). ``fpir_budget``: the stranger-admission
    budget (most FPIR per face attempt, default 1e-3; E_FPIR_BUDGET_INVALID outside 1e-6 to 0.05).
    One transaction: the gate row and its ``admin`` event."""
    who.require("gates:write")
    with ctx.tx() as s:
        scope.site(s, who, site_id)
        row = gates.create_gate(s, site_id=site_id, name=name, methods=list(methods), purpose=purpose,
                                location_id=location_id, schedule=schedule, liveness=liveness,
                                liveness_off_reason=liveness_off_reason, actor=who.actor, face_mode=face_mode,
                                credential_alone=None if credential_alone is None else list(credential_alone),
                                now=ctx.now(),
                                fpir_budget=gates.DEFAULT_FPIR_BUDGET if fpir_budget is None else fpir_budget)
        return gates.gate_to_dict(row)


def require_gate(ctx: Context, who: Principal, gate_id: str) -> None:
    """E_NOT_FOUND unless ``gate_id`` is a gate in the caller's scope (a read, nothing written):
    front doors check it before they count an attempt against a rate limit."""
    with ctx.read() as s:
        scope.gate(s, who, gate_id)


def list_gates(ctx: Context, who: Principal, site_id: str) -> list[dict[str, Any]]:
    who.require("sites:read")
    with ctx.read() as s:
        scope.site(s, who, site_id)
        return [gates.gate_to_dict(g) for g in access_store.gates_of_site(s, site_id)]


def get_gate(ctx: Context, who: Principal, gate_id: str) -> dict[str, Any]:
    who.require("sites:read")
    with ctx.read() as s:
        return gates.gate_to_dict(scope.gate(s, who, gate_id))


def issue_credential(ctx: Context, who: Principal, *, subject_id: str, type: str, site_id: str | None = None,
                     value: str | None = None, valid_for: dt.timedelta | None = None,
                     label: str | None = None) -> dict[str, Any]:
    """A non-face way in for a resident (R6, SPC-10). A generated PIN or a QR code comes back once
    in ``value``; nothing shown is stored in clear. One transaction."""
    who.require("credentials:write")
    with ctx.tx() as s:
        site_id = scope.subject_site(s, who, scope.subject(s, who, subject_id), site_id).id
        row, shown = issuance.issue_credential(s, ctx.credential_secret, subject_id=subject_id, site_id=site_id,
                                               type=type, value=value, valid_for=valid_for, label=label,
                                               actor=who.actor, now=ctx.now())
        return {**issuance.credential_to_dict(row), "value": shown}


def issue_visitor_pass(ctx: Context, who: Principal, *, site_id: str, valid_for: dt.timedelta | None = None,
                       label: str | None = None) -> dict[str, Any]:
    """A single-use QR pass for a visitor: no face, no subject record. One transaction."""
    who.require("credentials:write")
    with ctx.tx() as s:
        scope.site(s, who, site_id)
        row, token = issuance.issue_visitor_pass(s, ctx.credential_secret, site_id=site_id, valid_for=valid_for,
                                                 label=label, actor=who.actor, now=ctx.now())
        return {**issuance.credential_to_dict(row), "qr": token}


def revoke_credential(ctx: Context, who: Principal, credential_id: str) -> dict[str, Any]:
    """Revoke a credential; refused if it is a resident's only way in (E_ALTERNATIVE_REQUIRED)."""
    who.require("credentials:write")
    with ctx.tx() as s:
        row = access_store.credential(s, credential_id)
        if row is None or not who.sees_site(row.site_id, row.tenant_id):
            raise TrustfaceError(codes.E_NOT_FOUND, f"credential {credential_id!r} does not exist")
        issuance.revoke_credential(s, credential_id=credential_id, actor=who.actor, now=ctx.now())
        return {"id": credential_id, "revoked": True}


# --- attempts ------------------------------------------------------------------------------------

def attempt_credential(ctx: Context, who: Principal, gate_id: str, *, method: str, value: str,
                       now: dt.datetime | None = None) -> Decision:
    """A PIN, card, QR code or visitor pass at a gate: a decision (granted or denied with its reason),
    never an error for a wrong credential. One transaction: the check and its ``access`` event."""
    who.require("access")
    with ctx.tx() as s:
        scope.gate(s, who, gate_id)
        return decisions.decide_credential(s, ctx.credential_secret, gate_id=gate_id, method=method, value=value,
                                           actor=who.actor, now=now or ctx.now())


def decode_frame(image: ImageInput) -> tuple[np.ndarray, bytes | None]:
    """A gate frame's pixels and the bytes as received (None for pixels given as an array). A frame
    that does not decode raises (E_IMAGE_INVALID, E_IMAGE_TOO_LARGE): nothing is written."""
    from trustface import imaging

    if isinstance(image, np.ndarray):
        return image, None
    data: bytes | None = None
    if isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
    else:
        try:
            with open(image, "rb") as fh:
                data = fh.read()
        except OSError:
            data = None
    return imaging.load_image(data if data is not None else image, max_pixels=imaging.GATE_FRAME_MAX_PIXELS), data


def describe_frame(pixels: np.ndarray, data: bytes | None) -> FaceProbe:
    """Describe the main face of a decoded frame, before any transaction; a frame without a usable
    face keeps the engine's refusal for the decision (a denied attempt, audited)."""
    # the near-copy screen's face work and the probe descriptor, from one detection, before the transaction
    descriptor = liveness.prepare_frame(pixels)
    if descriptor is None:
        return FaceProbe(pixels, data, None, TrustfaceError(E_NO_FACE, "no face was found in the probe photo"))
    return FaceProbe(pixels, data, np.asarray(descriptor, dtype=np.float32))


def face_probe(image: ImageInput) -> FaceProbe:
    """Decode a gate frame and describe its main face, before any transaction (see
    :func:`decode_frame` and :func:`describe_frame`)."""
    return describe_frame(*decode_frame(image))


def attempt_face(ctx: Context, who: Principal, gate_id: str, image: ImageInput, *,
                 now: dt.datetime | None = None) -> Decision:
    """One face frame at a gate. Refused at once (and audited) where the gate does not take a face
    now or requires the liveness burst (E_LIVENESS_REQUIRED); otherwise the frame is decoded and
    described outside the transaction, then one transaction screens it for replay, asks the policy
    gate (grant lifetime from the settings), searches the consented subjects and decides."""
    who.require("access")
    now = now or ctx.now()
    with ctx.read() as s:
        gate = scope.gate(s, who, gate_id)
        refused = decisions.face_refusal(gate, now, liveness_passed=False) is not None
    probe = None if refused else face_probe(image)
    with ctx.tx() as s:
        return decisions.decide_face(s, ctx.gallery, gate_id=gate_id, probe=probe, actor=who.actor,
                                     grant_ttl=ctx.grant_ttl, now=now)


def attempt_credential_and_face(ctx: Context, who: Principal, gate_id: str, *, method: str, value: str,
                                image: ImageInput, now: dt.datetime | None = None) -> Decision:
    """A PIN, card or QR code, then a face, at a two-factor gate (``face_mode`` =
    ``verify_after_credential``; issue 16). The frame is decoded first (a bad one is refused with
    nothing written). One transaction checks the credential (a wrong one is a denied decision and
    the face is never described) and asks the policy gate for a VERIFY grant for the resident it
    names (grant lifetime from the settings; committed whatever the answer, SPC-2(3)). The face is
    described outside any transaction; one more transaction screens the frame for replay, matches
    it 1:1 against that resident and decides (:mod:`trustface.access.second_factor`)."""
    who.require("access")
    now = now or ctx.now()
    with ctx.read() as s:
        gate = scope.gate(s, who, gate_id)
        if not gates.two_factor(gate):
            raise TrustfaceError(E_INVALID_ARGUMENT, "this gate identifies a face on its own: send the face alone, "
                                                     "or the PIN, card or QR code alone")
    pixels, data = decode_frame(image)
    with ctx.tx() as s:
        step = second_factor.claim_resident(s, ctx.credential_secret, gate_id=gate_id, method=method, value=value,
                                            actor=who.actor, grant_ttl=ctx.grant_ttl, now=now)
    if step.decision is not None:
        return step.decision
    assert step.claim is not None
    probe = describe_frame(pixels, data)
    with ctx.tx() as s:
        return second_factor.decide_verified(s, ctx.gallery, step.claim, probe, actor=who.actor, now=now)


def issue_challenge(ctx: Context, who: Principal, gate_id: str, *, steps: Sequence[str] | None = None,
                    now: dt.datetime | None = None) -> LivenessChallenge:
    """A liveness challenge (random steps, single-use nonce, time window) for one face attempt."""
    who.require("access")
    with ctx.tx() as s:
        scope.gate(s, who, gate_id)
        row = decisions.issue_challenge(s, gate_id=gate_id, actor=who.actor, now=now or ctx.now(), steps=steps)
        s.expunge(row)
        return row


def answer_challenge(ctx: Context, who: Principal, gate_id: str, nonce: str, frames: Sequence[bytes], *,
                     timestamps: Sequence[float] | None = None, client_id: str | None = None,
                     device_id: str | None = None, now: dt.datetime | None = None,
                     pad_model: pad_models.PadModel | None | str = "default",
                     credential: tuple[str, str] | None = None) -> BurstOutcome:
    """Answer a challenge with a frame burst (R24): E_CHALLENGE_UNKNOWN for a nonce not issued at this
    gate; bad frames or timestamps are errors (nothing written). Then, outside any transaction: the
    frames are decoded, screened for replay and injection (reads), judged (PAD model, the prompted
    steps on landmarks) and, if passed, the first frame described; one transaction then spends the
    challenge (locked, so a nonce answers once) and lets the access room decide.

    At a two-factor gate (``face_mode`` = ``verify_after_credential``) the burst comes with
    ``credential`` = (method, value): after decoding, one transaction checks it and asks the policy
    gate for the resident's VERIFY grant (a wrong credential, or a decision by policy, spends the
    challenge and the burst is never judged); then the burst is judged and the face matched 1:1.
    An identify gate takes no credential (E_INVALID_ARGUMENT), as a two-factor gate needs one."""
    who.require("access")
    now = now or ctx.now()
    with ctx.read() as s:
        gate = scope.gate(s, who, gate_id)
        if gates.two_factor(gate) != (credential is not None):
            raise TrustfaceError(E_INVALID_ARGUMENT, "this gate takes the face after a PIN, card or QR code: send "
                                 "method and value with the burst" if credential is None else
                                 "this gate identifies a face on its own: send the burst without a credential")
        row = liveness.challenge_for(s, gate_id=gate_id, nonce=nonce)
        spent = liveness.challenge_spent(row, now)
        if spent is None:
            decoded = liveness.prepare_frames(row, frames, timestamps)
            screen = liveness.screen_burst(s, row, decoded, now=now, client_id=client_id, device_id=device_id)
    claim = None
    if credential is not None and spent is None:
        with ctx.tx() as s:
            locked = liveness.challenge_for(s, gate_id=gate_id, nonce=nonce, for_update=True)
            step = second_factor.claim_for_burst(s, ctx.credential_secret, locked, method=credential[0],
                                                 value=credential[1], actor=who.actor, grant_ttl=ctx.grant_ttl,
                                                 now=now)
        if isinstance(step, BurstOutcome):
            return step
        claim = step
    verdict = probe = None
    if spent is None:
        verdict = liveness.judge_burst(row, decoded, screen, pad_model=pad_model)
        if verdict.passed:
            probe = face_probe(decoded[0].pixels)
            probe = FaceProbe(probe.pixels, decoded[0].data, probe.descriptor, probe.failure)
    with ctx.tx() as s:
        locked = liveness.challenge_for(s, gate_id=gate_id, nonce=nonce, for_update=True)
        answered = decisions.decide_spent_challenge(s, locked, actor=who.actor, now=now)
        if answered is not None:  # spent before, or by a concurrent burst while this one was judged
            return answered
        assert verdict is not None
        return decisions.decide_burst(s, ctx.gallery, locked, verdict, probe, actor=who.actor,
                                      grant_ttl=ctx.grant_ttl, client_id=client_id, device_id=device_id, now=now,
                                      claim=claim)
