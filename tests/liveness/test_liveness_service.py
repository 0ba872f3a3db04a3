"""The challenge's nonce and time window, in the service (explicit clock), on SQLite and PostgreSQL."""

import datetime as dt

import pytest
from _api_conftest import build_site
from lvframes import sequence, times

from trustface import audit
from trustface.errors import TrustfaceError
from trustface.liveness import service as liveness

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.timezone.utc)
STEPS = ["blink", "turn_left", "open_mouth"]


def test_expired_nonce_fails_and_nonces_are_bound_to_their_gate(api):
    world = build_site(api, api.admin["key"], minors_notice=False)
    face_gate, side_gate = world["gate_ids"]
    gallery = api.client.app.state.trustface.gallery
    frames = sequence(STEPS)
    with api.dep.transaction() as s:
        ch = liveness.issue_challenge(s, gate_id=face_gate, actor="gate:test", now=T0, steps=STEPS)
        other = liveness.issue_challenge(s, gate_id=face_gate, actor="gate:test", now=T0, steps=STEPS)
        assert ch.expires_at == T0 + liveness.CHALLENGE_WINDOW and ch.nonce != other.nonce
        assert liveness.challenge_to_dict(ch)["prompts"][0] == "Blink"
        for bad in (["blink", "blink"], ["smile"], []):
            with pytest.raises(TrustfaceError) as info:
                liveness.issue_challenge(s, gate_id=face_gate, actor="gate:test", now=T0, steps=bad)
            assert info.value.code == "E_INVALID_ARGUMENT"
        with pytest.raises(TrustfaceError) as info:
            liveness.issue_challenge(s, gate_id=side_gate, actor="gate:test", now=T0)
        assert info.value.code == "E_METHOD_NOT_OFFERED"

    # a real burst that performs the steps, one second after the window closed: refused
    with api.dep.transaction() as s:
        late = liveness.check_burst(s, gallery, gate_id=face_gate, nonce=ch.nonce, frames=frames, actor="gate:test",
                                    timestamps=times(len(frames)), now=T0 + liveness.CHALLENGE_WINDOW + dt.timedelta(seconds=1))
    assert late.passed is False and late.reasons[0]["code"] == "E_CHALLENGE_EXPIRED"
    assert late.decision.reason == "E_CHALLENGE_EXPIRED" and late.decision.alternatives == ["pin", "card"]
    with api.dep.session() as s:
        assert audit.verify(s).ok

    # a nonce answers only at the gate it was issued for, and only once
    with api.dep.transaction() as s, pytest.raises(TrustfaceError) as info:
        liveness.check_burst(s, gallery, gate_id=side_gate, nonce=other.nonce, frames=frames, actor="gate:test",
                             now=T0 + dt.timedelta(seconds=5))
    assert info.value.code == "E_CHALLENGE_UNKNOWN"
    with api.dep.transaction() as s:
        # too many frames, or timestamps that do not match the frames, are bad requests
        with pytest.raises(TrustfaceError):
            liveness.check_burst(s, gallery, gate_id=face_gate, nonce=other.nonce, frames=frames * 3, actor="gate:test",
                                 now=T0 + dt.timedelta(seconds=5))
        with pytest.raises(TrustfaceError):
            liveness.check_burst(s, gallery, gate_id=face_gate, nonce=other.nonce, frames=frames, actor="gate:test",
                                 timestamps=[0, 1], now=T0 + dt.timedelta(seconds=5))
    with api.dep.transaction() as s:
        first = liveness.check_burst(s, gallery, gate_id=face_gate, nonce=other.nonce, frames=frames, actor="gate:test",
                                     timestamps=times(len(frames)), now=T0 + dt.timedelta(seconds=5))
    assert first.passed is True and first.decision.reason == "E_NO_MATCH"  # nobody enrolled: live, but unknown
    with api.dep.transaction() as s:
        again = liveness.check_burst(s, gallery, gate_id=face_gate, nonce=other.nonce, frames=frames, actor="gate:test",
                                     timestamps=times(len(frames)), now=T0 + dt.timedelta(seconds=6))
    assert again.reasons[0]["code"] == "E_CHALLENGE_EXPIRED"
    assert liveness.parse_timestamps("0, 120,250") == [0.0, 120.0, 250.0] and liveness.parse_timestamps("") is None
    with pytest.raises(TrustfaceError):
        liveness.parse_timestamps("0,a")
