"""Passive checks on real frames: the perceptual hash, editing-tool metadata, injection signals,
the blocklist and the PAD model interface (no database: the memory store)."""

import datetime as dt
import io

import numpy as np
import pytest
from conftest_data import require_data
from lvframes import NEUTRAL, jpeg, lfw_bytes, pixels
from PIL import Image, PngImagePlugin

from trustface.liveness import pad, passive
from trustface.liveness import phash as ph

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)


def frame(data: bytes, t=None) -> passive.Frame:
    from trustface import imaging

    return passive.Frame(imaging.load_image(data), data, t)


def test_phash_tells_copies_from_other_pictures():
    a = pixels(NEUTRAL[0])
    h = ph.phash(a)
    assert len(h) == 64 and ph.phash(a) == h
    reencoded = ph.phash(pixels_of(jpeg(a, 70)))
    assert ph.hamming(h, reencoded) <= passive.PHASH_BLOCK_DISTANCE
    smaller = ph.phash(np.asarray(Image.fromarray(a).resize((200, 200))))
    assert ph.hamming(h, smaller) <= passive.PHASH_BLOCK_DISTANCE
    # another photo of the same man, and the same photo mirrored, are other pictures
    assert ph.hamming(h, ph.phash(pixels(NEUTRAL[1]))) > 40
    assert ph.hamming(h, ph.phash(np.ascontiguousarray(a[:, ::-1]))) > 40
    assert ph.pixel_digest(pixels_of(lfw_bytes(NEUTRAL[0]))) == ph.pixel_digest(a)
    assert ph.byte_digest(b"x") != ph.byte_digest(b"y")


def pixels_of(data: bytes):
    from trustface import imaging

    return imaging.load_image(data)


def test_editing_metadata(examples):
    # the sample photos of the data set were saved by Photoshop, and say so
    assert "Photoshop" in passive.editing_tool((examples / "obama2.jpg").read_bytes())
    assert passive.editing_tool((examples / "two_people.jpg").read_bytes()) is None
    base = jpeg(pixels(NEUTRAL[0]))
    assert passive.editing_tool(base) is None
    for software, flagged in (("GIMP 2.10.34", True), ("Snapseed 2.0", True), ("iOS 17.4.1", False),
                              ("Adobe Photoshop Lightroom Classic 13.1", True), ("HDR+ 1.0.540104767zd", False)):
        exif = Image.Exif()
        exif[0x0131] = software
        buf = io.BytesIO()
        Image.open(io.BytesIO(base)).save(buf, "JPEG", exif=exif.tobytes())
        assert bool(passive.editing_tool(buf.getvalue())) is flagged, software
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description xmp:CreatorTool="FaceApp 11"/>'
           b'</rdf:RDF></x:xmpmeta>')
    buf = io.BytesIO()
    Image.open(io.BytesIO(base)).save(buf, "JPEG", xmp=xmp)
    assert "FaceApp" in passive.editing_tool(buf.getvalue())
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "GIMP 2.10")
    buf = io.BytesIO()
    Image.open(io.BytesIO(base)).save(buf, "PNG", pnginfo=info)
    assert passive.editing_tool(buf.getvalue()) == "GIMP 2.10"


def test_burst_signals_and_the_blocklist():
    store = passive.MemoryStore()
    real = [frame(lfw_bytes(n), 150.0 * i) for i, n in enumerate(NEUTRAL)]
    ok = passive.check(real, store=store, gate_id="g1", now=NOW, burst=True)
    assert ok.ok and ok.code is None and len(ok.fingerprints) == 4
    store.remember("g1", ok.fingerprints, NOW)

    def kinds(frames, **kw):
        v = passive.check(frames, store=store, gate_id=kw.pop("gate", "g1"), now=kw.pop("now", NOW), burst=True, **kw)
        return [s.kind for s in v.signals], v

    # the same burst again, byte-exact: a replay; at another gate it is not
    assert kinds(real)[0] == ["replay_exact"]
    assert kinds(real, gate="g2")[0] == []
    # after the window it is forgotten
    assert kinds(real, now=NOW + passive.REPLAY_WINDOW + dt.timedelta(seconds=1))[0] == []
    # re-encoded: a recorded session played again
    recorded = [frame(jpeg(f.pixels, 85), f.t_ms) for f in real]
    signals, verdict = kinds(recorded)
    assert signals == ["session_replay"] and verdict.code == "E_REPLAY_DETECTED"
    # a still repeated; sizes that change; timing that cannot be
    still = frame(lfw_bytes("George_W_Bush_0104"))
    assert "identical_frames" in kinds([still] * 4)[0]
    assert "frame_size" in kinds([still, frame(jpeg(still.pixels[:200, :200]))])[0]
    fresh = [frame(lfw_bytes(n), t) for n, t in zip(("Colin_Powell_0001", "Colin_Powell_0002", "Colin_Powell_0003"),
                                                     (0, 2, 400), strict=False)]
    assert kinds(fresh)[0] == ["timing"]  # 2 ms apart: faster than any camera
    assert kinds(fresh, issued_at=NOW - dt.timedelta(seconds=60), window=dt.timedelta(milliseconds=100))[0] == ["timing"]
    later = [passive.Frame(f.pixels, f.data, t) for f, t in zip(fresh, (0, 2000, 9000), strict=False)]
    assert kinds(later, issued_at=NOW - dt.timedelta(seconds=1))[0] == ["timing"]  # longer than since the challenge
    assert kinds([passive.Frame(f.pixels, f.data, None) for f in fresh])[0] == []
    # the blocklist: exact hash, perceptual copy, client and device identifiers
    store.report("sha256", ph.byte_digest(lfw_bytes("Colin_Powell_0001")), "still_replay", NOW)
    assert kinds(fresh[:1])[0] == ["blocklist_exact"]
    store.report("phash", ph.phash(pixels("Colin_Powell_0002")), "print_recapture", NOW)
    copy = frame(jpeg(pixels("Colin_Powell_0002"), 75))
    signals, verdict = kinds([copy])
    assert signals == ["blocklist_phash"] and verdict.species == "print_recapture"
    store.report("device", passive.id_digest("cam-7"), "digital_injection", NOW)
    assert kinds([frame(lfw_bytes("Colin_Powell_0003"))], device_id="cam-7")[0] == ["blocked_device"]
    # single frames (the gate path): replay and blocklist only
    single = passive.check([frame(lfw_bytes(NEUTRAL[0]))], store=store, gate_id="g1", now=NOW, burst=False)
    assert [s.kind for s in single.signals] == ["replay_exact"]


def test_pad_model_protocol_and_moire(examples):
    assert isinstance(pad.MoireModel(), pad.PadModel)
    assert isinstance(pad.default_model(), pad.MoireModel)
    model = pad.MoireModel()
    real = [pixels(n) for n in NEUTRAL] + [pixels_of((examples / "obama2.jpg").read_bytes())]
    assert model.score(real) < model.threshold
    from trustface.bench.pad import print_recapture

    rng = np.random.default_rng(3)
    printed = print_recapture(pixels(NEUTRAL[0]), rng)
    assert model.score([pixels_of(jpeg(printed, 90))]) >= model.threshold

    class Always:
        name, version, threshold = "always", "0", 0.5

        def score(self, frames):
            return 1.0

    previous = pad.default_model()
    try:
        pad.set_default_model(Always())
        assert pad.default_model().name == "always"
        with pytest.raises(TypeError):
            pad.set_default_model(object())
    finally:
        pad.set_default_model(previous)


def test_data_is_there():
    require_data("lfw", "images", "George_W_Bush")
