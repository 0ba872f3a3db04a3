"""The face step of a gate (issue 16, item 3): 1:N identification, or a 1:1 match after a PIN,
card or QR code that names the resident. Face never opens alone and a resident who declines face
still gets in (R6, SPC-10, PIPL-16)."""

from __future__ import annotations

import pytest

from trustface.access import methods
from trustface.errors import TrustfaceError

TWO = methods.VERIFY_AFTER_CREDENTIAL


def code_of(*args) -> str:
    with pytest.raises(TrustfaceError) as info:
        methods.validate_face_mode(*args)
    assert info.value.message.endswith(".")
    return info.value.code


def test_identify_is_today_and_takes_no_credential_alone_list():
    assert methods.validate_face_mode("identify", ("face", "pin"), None) == ("identify", ())
    assert code_of("identify", ("face", "pin"), ["pin"]) == "E_INVALID_ARGUMENT"


def test_R6_two_factor_defaults_to_every_credential_opening_alone():
    assert methods.validate_face_mode(TWO, ("face", "pin", "card", "qr", "visitor_pass"), None) == \
        (TWO, ("pin", "card", "qr"))
    assert methods.validate_face_mode(TWO, ("face", "pin", "card"), ["card"]) == (TWO, ("card",))


def test_two_factor_needs_a_face_and_a_credential_that_names_a_resident():
    assert code_of(TWO, ("pin", "card"), None) == "E_INVALID_ARGUMENT"
    assert code_of(TWO, ("face", "visitor_pass"), None) == "E_INVALID_ARGUMENT"


def test_R6_SPC_10_a_resident_who_declines_face_must_still_get_in():
    assert code_of(TWO, ("face", "pin"), []) == "E_FACE_ONLY_POLICY"


def test_credential_alone_names_the_gates_own_credentials():
    assert code_of(TWO, ("face", "pin"), ["card"]) == "E_INVALID_ARGUMENT"
    assert code_of(TWO, ("face", "pin", "visitor_pass"), ["visitor_pass"]) == "E_INVALID_ARGUMENT"


@pytest.mark.parametrize("mode", ["", "verify", "IDENTIFY", "both"])
def test_unknown_face_modes_refused(mode):
    assert code_of(mode, ("face", "pin"), None) == "E_INVALID_ARGUMENT"
