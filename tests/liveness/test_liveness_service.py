"""The challenge's nonce and time window, in the service (explicit clock), on SQLite and PostgreSQL."""

import datetime as dt

import pytest
from _api_conftest import build_site
from lvframes import sequence, times

from trustface import audit
from trustface.errors import TrustfaceError
from trustface.liveness import service as liveness
from trustface.services import cli_principal, gates

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.timezone.utc)
STEPS = ["blink", "turn_left", "open_mouth"]


def test_expired_nonce_fails_and_nonces_are_bound_to_their_gate(api):
    world = build_site(api, api.admin["key"], minors_notice=False)
    face_gate, side_gate = world["gate_ids"]
    ctx, who = api.client.app.state.trustface.ctx, cli_principal("gate:test")
    frames = sequence(STEPS)
    ch = gates.issue_challenge(ctx, who, face_gate, now=T0, steps=STEPS)
    other = gates.issue_challenge(ctx, who, face_gate, now=T0, steps=STEPS)
    assert ch.expires_at == T0 + liveness.CHALLENGE_WINDOW and ch.nonce != other.nonce
    assert liveness.challenge_to_dict(ch)["prompts"][0] == "Blink"
    for bad in (["blink", "blink"], ["smile"], []):
        with pytest.raises(TrustfaceError) as info:
            gates.issue_challenge(ctx, who, face_gate, now=T0, steps=bad)
        assert info.value.code == "E_INVALID_ARGUMENT"
    with pytest.raises(TrustfaceError) as info:
        gates.issue_challenge(ctx, who, side_gate, now=T0)
    assert info.value.code == "E_METHOD_NOT_OFFERED"

    # a real burst that performs the steps, one second after the window closed: refused
    late = gates.answer_challenge(ctx, who, face_gate, ch.nonce, frames, timestamps=times(len(frames)),
                                  now=T0 + liveness.CHALLENGE_WINDOW + dt.timedelta(seconds=1))
    assert late.passed is False and late.reasons[0]["code"] == "E_CHALLENGE_EXPIRED"
    assert late.decision.reason == "E_CHALLENGE_EXPIRED" and late.decision.alternatives == ["pin", "card"]
    with api.dep.session() as s:
        assert audit.verify(s).ok

    # a nonce answers only at the gate it was issued for, and only once
    with pytest.raises(TrustfaceError) as info:
        gates.answer_challenge(ctx, who, side_gate, other.nonce, frames, now=T0 + dt.timedelta(seconds=5))
    assert info.value.code == "E_CHALLENGE_UNKNOWN"
    # too many frames, or timestamps that do not match the frames, are bad requests
    with pytest.raises(TrustfaceError):
        gates.answer_challenge(ctx, who, face_gate, other.nonce, frames * 3, now=T0 + dt.timedelta(seconds=5))
    with pytest.raises(TrustfaceError):
        gates.answer_challenge(ctx, who, face_gate, other.nonce, frames, timestamps=[0, 1],
                               now=T0 + dt.timedelta(seconds=5))
    first = gates.answer_challenge(ctx, who, face_gate, other.nonce, frames, timestamps=times(len(frames)),
                                   now=T0 + dt.timedelta(seconds=5))
    assert first.passed is True and first.decision.reason == "E_NO_MATCH"  # nobody enrolled: live, but unknown
    again = gates.answer_challenge(ctx, who, face_gate, other.nonce, frames, timestamps=times(len(frames)),
                                   now=T0 + dt.timedelta(seconds=6))
    assert again.reasons[0]["code"] == "E_CHALLENGE_EXPIRED"
    assert liveness.parse_timestamps("0, 120,250") == [0.0, 120.0, 250.0] and liveness.parse_timestamps("") is None
    with pytest.raises(TrustfaceError):
        liveness.parse_timestamps("0,a")
