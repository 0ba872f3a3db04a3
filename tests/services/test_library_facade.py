"""The library API the README shows: open a deployment, act as a named local caller, and run the
same use cases as the API and the CLI (real model, real photos, SQLite file, real crypto)."""

import pytest

import trustface
from trustface import demo
from trustface.services import faces, gates


def test_open_a_deployment_and_run_the_use_cases(demo_site, examples):
    directory, url, world, resident = demo_site
    ctx = trustface.open_deployment(directory, database_url=url)
    me = trustface.local_caller("admin:facade")
    assert isinstance(ctx, trustface.Context) and isinstance(ctx.settings, trustface.Settings)
    assert me.actor == "admin:facade"
    try:
        done = faces.enrol(ctx, me, resident, [(examples / "obama.jpg").read_bytes()], purpose=demo.PURPOSE,
                           modes="verify,identify")
        assert sorted(e.mode for e in done.enrolments) == ["identify", "verify"] and done.photos_kept == 0
        found = faces.identify(ctx, me, world["site_id"], examples / "obama2.jpg", purpose=demo.PURPOSE)
        assert found.candidates[0].subject_id == resident
        stranger = faces.identify(ctx, me, world["site_id"], examples / "biden.jpg", purpose=demo.PURPOSE)
        assert stranger.unknown
        # a stranger at a face gate is refused and offered the other ways in (PIPL-24); the demo's
        # Main gate requires the liveness burst, so this single frame goes to an attended desk
        desk = gates.create_gate(ctx, me, site_id=world["site_id"], name="Concierge desk", methods=["face", "pin"],
                                 liveness="off", liveness_off_reason="attended by the concierge (test)")
        refused = gates.attempt_face(ctx, me, desk["id"], examples / "biden.jpg")
        assert not refused.granted and refused.reason == "E_NO_MATCH" and refused.alternatives
        with pytest.raises(trustface.TrustfaceError) as info:
            faces.verify(ctx, me, world["site_id"], "sub_nobody", examples / "obama2.jpg", purpose=demo.PURPOSE)
        assert info.value.code == "E_NOT_FOUND"
    finally:
        ctx.deployment.close()
