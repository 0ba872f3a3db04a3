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
