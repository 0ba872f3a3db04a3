"""No request stalls the site (issue 18): reads take no write lock, and a frame too large to come
from a gate camera is refused from its header, before any decoding or database work. Real SQLite
file, real PNG."""

import datetime as dt
import io
import json
import sys
from pathlib import Path

import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "compliance"))

from compliance_worlds import build_demo  # noqa: E402

from trustface.db import audit_store  # noqa: E402
from trustface.deployment import Deployment, init_deployment  # noqa: E402
from trustface.errors import TrustfaceError  # noqa: E402
from trustface.imaging import GATE_FRAME_MAX_PIXELS  # noqa: E402
from trustface.services import Context, admin, cli_principal, gates  # noqa: E402


@pytest.fixture
def site(tmp_path):
    init_deployment(tmp_path / "site", now=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1))
    dep = Deployment(tmp_path / "site")
    world = build_demo(dep)
    yield Context.open(dep, preload=False), world
    dep.close()


def test_a_read_goes_through_while_a_writer_holds_the_write_lock(site):
    ctx, world = site
    who = cli_principal("auditor:test")
    writer = ctx.deployment.session()
    try:
        writer.connection()  # BEGIN IMMEDIATE: this session now holds SQLite's write lock
        # with a write-locking BEGIN the read below would wait 30 s and fail "database is locked"
        sites = admin.list_sites(ctx, who)
        assert [s.id for s in sites] == [world["site_id"]]
        assert gates.get_gate(ctx, who, world["gate_ids"][0])["id"] == world["gate_ids"][0]
    finally:
        writer.rollback()
        writer.close()


def test_a_frame_too_large_for_a_gate_camera_is_refused_from_its_header(site):
    ctx, world = site
    buf = io.BytesIO()
    Image.new("1", (60000, 600)).save(buf, "PNG")  # 36 MP in a few KB: the stalling frame
    assert 60000 * 600 > GATE_FRAME_MAX_PIXELS and len(buf.getvalue()) < 10_000
    # an attended face gate takes single frames (the demo's Main gate requires the liveness burst,
    # whose frames have the same cap: liveness.prepare_frames)
    desk = gates.create_gate(ctx, cli_principal("admin:test"), site_id=world["site_id"], name="Desk",
                             methods=["face", "pin"], liveness="off",
                             liveness_off_reason="attended desk: a guard watches the gate")
    with ctx.deployment.session() as s:
        before = audit_store.read_head(s).seq
    with pytest.raises(TrustfaceError) as info:
        gates.attempt_face(ctx, cli_principal("gate:test"), desk["id"], buf.getvalue())
    assert info.value.code == "E_IMAGE_TOO_LARGE"
    with ctx.deployment.session() as s:
        assert audit_store.read_head(s).seq == before  # refused before anything was written
    # a PIN at the same moment is answered as usual
    decision = gates.attempt_credential(ctx, cli_principal("gate:test"), world["gate_ids"][1], method="pin",
                                        value="00000000")
    assert decision.granted is False and json.dumps(decision.to_dict())
