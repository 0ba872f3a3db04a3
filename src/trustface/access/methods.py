"""Which ways in a gate offers, and what to offer when a face match fails."""

from __future__ import annotations

from collections.abc import Iterable

from trustface.access.codes import E_FACE_ONLY_POLICY
from trustface.errors import E_INVALID_ARGUMENT, TrustfaceError

FACE = "face"
#: Every method a gate can offer; all but face need no biometric data.
METHODS = (FACE, "pin", "card", "qr", "visitor_pass")
NON_FACE = tuple(m for m in METHODS if m != FACE)


def validate_gate_methods(methods: Iterable[str]) -> tuple[str, ...]:
    """The gate's methods, de-duplicated in the canonical order, or a refusal.

    Face may be offered but never alone: a person who declines face processing must still get
    in by another reasonable method (SPC-10, PIPL-16, CAC-10; R6). This holds for every site
    type, not only residential communities, so the rule cannot be configured away.
    """
    given = list(methods)
    unknown = sorted(set(given) - set(METHODS))
    if unknown:
        raise TrustfaceError(E_INVALID_ARGUMENT, f"unknown access method(s) {', '.join(unknown)}: use {', '.join(METHODS)}.")
    if not given:
        raise TrustfaceError(E_INVALID_ARGUMENT, "a gate needs at least one access method.")
    chosen = tuple(m for m in METHODS if m in given)
    if chosen == (FACE,):
        raise TrustfaceError(
            E_FACE_ONLY_POLICY,
            "face cannot be the only way through a gate: add a PIN, card, QR code or visitor pass.",
        )
    return chosen


def alternatives(methods: Iterable[str]) -> list[str]:
    """The non-face methods of a gate, offered whenever a face match fails or is uncertain, so a
    failed match never ends in a bare "denied" (PIPL-24, R25)."""
    offered = set(methods)
    return [m for m in NON_FACE if m in offered]


# --- the face step: 1:N identification, or 1:1 after a credential --------------------------------

#: the face names the resident among everyone enrolled (1:N): a stranger's risk grows with the gallery
IDENTIFY_FACE = "identify"
#: a PIN, card or QR code names the resident, then the face is matched 1:1 against that resident only
VERIFY_AFTER_CREDENTIAL = "verify_after_credential"
FACE_MODES = (IDENTIFY_FACE, VERIFY_AFTER_CREDENTIAL)
#: the credentials that name one resident, so a face can follow them (a visitor pass names nobody)
FIRST_FACTORS = ("pin", "card", "qr")
#: the method of a decision where a credential and then the face opened the gate
CREDENTIAL_AND_FACE = "credential+face"


def validate_face_mode(face_mode: str, methods: Iterable[str],
                       credential_alone: Iterable[str] | None) -> tuple[str, tuple[str, ...]]:
    """The gate's face mode and, at a two-factor gate, the credentials that also open it without a
    face (canonical order), or a refusal.

    A two-factor gate (``verify_after_credential``) offers face and at least one resident credential
    (PIN, card, QR code) to name the resident first. Face never opens alone, and a resident who
    declines face must still get in (R6, SPC-10, PIPL-16): at least one of those credentials opens
    the gate alone; by default all of them do, as at any gate. ``credential_alone`` only applies
    to a two-factor gate (at an identify gate every non-face method opens alone)."""
    chosen = tuple(methods)
    if face_mode not in FACE_MODES:
        raise TrustfaceError(E_INVALID_ARGUMENT, f"face_mode is one of {', '.join(FACE_MODES)}.")
    alone = None if credential_alone is None else list(credential_alone)
    if face_mode == IDENTIFY_FACE:
        if alone:
            raise TrustfaceError(E_INVALID_ARGUMENT, "credential_alone applies to a gate whose face_mode is "
                                                     f"{VERIFY_AFTER_CREDENTIAL}; here every non-face method opens alone.")
        return face_mode, ()
    if FACE not in chosen:
        raise TrustfaceError(E_INVALID_ARGUMENT, f"face_mode {VERIFY_AFTER_CREDENTIAL} checks a face after a "
                                                 "credential: add face to the gate's methods.")
    factors = [m for m in FIRST_FACTORS if m in chosen]
    if not factors:
        raise TrustfaceError(E_INVALID_ARGUMENT, "a two-factor gate needs a PIN, card or QR code to name the resident "
                                                 "before the face: add one to the gate's methods.")
    if alone is None:
        return face_mode, tuple(factors)
    stray = sorted(set(alone) - set(factors))
    if stray:
        raise TrustfaceError(E_INVALID_ARGUMENT, f"credential_alone lists {', '.join(stray)}: it names some of the "
                                                 f"gate's credentials ({', '.join(factors)}).")
    if not alone:
        raise TrustfaceError(E_FACE_ONLY_POLICY, "a resident who declines face must still get in (R6): let at least "
                                                 f"one of {', '.join(factors)} open the gate alone (credential_alone).")
    return face_mode, tuple(m for m in factors if m in alone)
