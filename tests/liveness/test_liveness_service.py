"""The challenge's nonce and time window, its rate limit per gate and no free re-roll, in the service
(explicit clock), on SQLite and PostgreSQL."""

import datetime as dt

import pytest
from _api_conftest import build_site
from lvframes import VIDEO_STEPS, first_photos, video_burst

from trustface import audit
from trustface.errors import TrustfaceError
from trustface.liveness import service as liveness
from trustface.services import cli_principal, gates

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.timezone.utc)
STEPS = VIDEO_STEPS


def test_expired_nonce_fails_and_nonces_are_bound_to_their_gate(api):
    world = build_site(api, api.admin["key"], minors_notice=False)
    face_gate, side_gate = world["gate_ids"]
    ctx, who = api.client.app.state.trustface.ctx, cli_principal("gate:test")
    frames, stamps = video_burst()
    ch = gates.issue_challenge(ctx, who, face_gate, now=T0, steps=STEPS)
    other = gates.issue_challenge(ctx, who, face_gate, now=T0, steps=STEPS)
    assert ch.expires_at == T0 + liveness.CHALLENGE_WINDOW and ch.nonce != other.nonce
    assert liveness.challenge_to_dict(ch)["prompts"][0] == "Turn your head to your left"
    for bad in (["blink", "blink"], ["smile"], []):
        with pytest.raises(TrustfaceError) as info:
            gates.issue_challenge(ctx, who, face_gate, now=T0, steps=bad)
        assert info.value.code == "E_INVALID_ARGUMENT"
    with pytest.raises(TrustfaceError) as info:
        gates.issue_challenge(ctx, who, side_gate, now=T0)
    assert info.value.code == "E_METHOD_NOT_OFFERED"

    # a real burst that performs the steps, one second after the window closed: refused
    late = gates.answer_challenge(ctx, who, face_gate, ch.nonce, frames, timestamps=stamps,
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
    first = gates.answer_challenge(ctx, who, face_gate, other.nonce, frames, timestamps=stamps,
                                   now=T0 + dt.timedelta(seconds=5))
    assert first.passed is True and first.decision.reason == "E_NO_MATCH"  # nobody enrolled: live, but unknown
    again = gates.answer_challenge(ctx, who, face_gate, other.nonce, frames, timestamps=stamps,
                                   now=T0 + dt.timedelta(seconds=6))
    assert again.reasons[0]["code"] == "E_CHALLENGE_EXPIRED"
    assert liveness.parse_timestamps("0, 120,250") == [0.0, 120.0, 250.0] and liveness.parse_timestamps("") is None
    with pytest.raises(TrustfaceError):
        liveness.parse_timestamps("0,a")


def test_challenges_are_rate_limited_per_gate_and_a_failed_one_is_not_re_rolled(api):
    """A gate hands out CHALLENGES_PER_MINUTE challenges a minute (E_RATE_LIMITED beyond, with a
    retry time); the next challenge after one that was not passed keeps its steps within the
    re-roll window, so an attacker cannot ask again until easy steps come up (issue 17)."""
    world = build_site(api, api.admin["key"], minors_notice=False)
    face_gate = world["gate_ids"][0]
    ctx, who = api.client.app.state.trustface.ctx, cli_principal("gate:test")
    first = gates.issue_challenge(ctx, who, face_gate, now=T0)
    # a burst of five photos of one person, which fails: the next challenge has the same steps
    failed = gates.answer_challenge(ctx, who, face_gate, first.nonce, first_photos("Colin_Powell", 5),
                                    timestamps=[0, 400, 800, 1200, 1600], now=T0 + dt.timedelta(seconds=3))
    assert failed.passed is False
    steps = first.steps
    for k in range(1, liveness.CHALLENGES_PER_MINUTE):
        again = gates.issue_challenge(ctx, who, face_gate, now=T0 + dt.timedelta(seconds=5 + k))
        assert again.steps == steps and again.nonce != first.nonce
    with pytest.raises(TrustfaceError) as info:
        gates.issue_challenge(ctx, who, face_gate, now=T0 + dt.timedelta(seconds=20))
    assert info.value.code == "E_RATE_LIMITED" and info.value.retry_after >= 1
    # a minute later the gate hands out challenges again; after the re-roll window, new steps may come
    later = gates.issue_challenge(ctx, who, face_gate, now=T0 + dt.timedelta(seconds=70))
    assert later.steps == steps
    fresh = [gates.issue_challenge(ctx, who, face_gate, now=T0 + liveness.REROLL_WINDOW + dt.timedelta(minutes=k + 1))
             for k in range(0, 8, 2)]
    assert all(len(c.steps.split(",")) == 3 for c in fresh)
    with api.dep.session() as s:
        assert audit.verify(s).ok
