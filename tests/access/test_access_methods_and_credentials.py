"""Gates always offer a non-face way in (R6); credentials are never stored in clear."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from trustface.access import credentials, methods
from trustface.errors import TrustfaceError

NOW = dt.datetime(2026, 11, 27, 7, 0, tzinfo=dt.timezone.utc)
KEY = os.urandom(32)


def code_of(call, *args, **kwargs) -> str:
    with pytest.raises(TrustfaceError) as info:
        call(*args, **kwargs)
    assert info.value.message.endswith(".")
    return info.value.code


def test_R6_SPC_10_face_only_gate_refused():
    assert code_of(methods.validate_gate_methods, ["face"]) == "E_FACE_ONLY_POLICY"
    assert code_of(methods.validate_gate_methods, ["face", "face"]) == "E_FACE_ONLY_POLICY"


def test_R6_face_with_another_way_in_allowed_in_canonical_order():
    assert methods.validate_gate_methods(["card", "face", "pin", "pin"]) == ("face", "pin", "card")
    assert methods.validate_gate_methods(["pin"]) == ("pin",)


@pytest.mark.parametrize("given", [[], ["retina"], ["face", "fingerprint"]])
def test_unknown_or_no_methods_refused(given):
    assert code_of(methods.validate_gate_methods, given) == "E_INVALID_ARGUMENT"


def test_R25_PIPL_24_failed_face_match_offers_the_other_methods():
    assert methods.alternatives(("face", "pin", "card")) == ["pin", "card"]
    assert "face" not in methods.alternatives(methods.METHODS)


def test_pin_is_hashed_with_argon2id_and_verified():
    stored = credentials.hash_pin("402917")
    assert stored.startswith("$argon2id$") and "402917" not in stored
    assert credentials.verify_pin(stored, "402917")
    assert not credentials.verify_pin(stored, "402918")
    assert not credentials.verify_pin("not-a-hash", "402917")
    assert credentials.hash_pin("402917") != stored  # salted


@pytest.mark.parametrize("pin", ["12345", "1234567890123", "000000", "123456", "987654", "12a456", ""])
def test_weak_or_malformed_pins_refused(pin):
    assert code_of(credentials.hash_pin, pin) == "E_WEAK_PIN"


def test_card_digest_is_keyed_and_normalised():
    a = credentials.card_digest(KEY, "04 A2-19 FF")
    assert a == credentials.card_digest(KEY, "04a219ff") and len(a) == 64
    assert a != credentials.card_digest(os.urandom(32), "04a219ff")  # useless without the key
    assert "04a219ff" not in a
    assert code_of(credentials.card_digest, KEY, "12") == "E_INVALID_ARGUMENT"


def test_qr_round_trip_expiry_site_and_tampering():
    token = credentials.issue_qr(KEY, holder="pass_1", site_id="site_a", valid_for=dt.timedelta(hours=2),
                                 single_use=True, now=NOW)
    claims = credentials.read_qr(KEY, token, site_id="site_a", now=NOW + dt.timedelta(hours=1))
    assert claims.holder == "pass_1" and claims.single_use and len(claims.nonce) == 24
    assert code_of(credentials.read_qr, KEY, token, site_id="site_a", now=NOW + dt.timedelta(hours=2)) == \
        "E_CREDENTIAL_EXPIRED"
    assert code_of(credentials.read_qr, KEY, token, site_id="site_b", now=NOW) == "E_CREDENTIAL_INVALID"
    assert code_of(credentials.read_qr, os.urandom(32), token, site_id="site_a", now=NOW) == "E_CREDENTIAL_INVALID"
    body, signature = token.split(".")
    forged = credentials._b64(credentials._unb64(body).replace(b"pass_1", b"pass_2")) + "." + signature
    assert code_of(credentials.read_qr, KEY, forged, site_id="site_a", now=NOW) == "E_CREDENTIAL_INVALID"
    assert code_of(credentials.read_qr, KEY, "garbage", site_id="site_a", now=NOW) == "E_CREDENTIAL_INVALID"
    other = credentials.issue_qr(KEY, holder="pass_1", site_id="site_a", valid_for=dt.timedelta(hours=2),
                                 single_use=True, now=NOW)
    assert credentials.read_qr(KEY, other, site_id="site_a", now=NOW).nonce != claims.nonce


def test_qr_validity_is_bounded():
    assert code_of(credentials.issue_qr, KEY, holder="s", site_id="a", valid_for=dt.timedelta(0), single_use=False,
                   now=NOW) == "E_INVALID_ARGUMENT"
