"""PAD evaluation in the manner of ISO/IEC 30107-3 on a labelled set built from the real data set.

Two subsystems are measured, each with APCER per attack species, the worst-case APCER and BPCER:

* ``burst`` (the liveness route): the passive checks of a frame burst (replay against the gate's
  recent frames and the blocklist, injection signals), the PAD model (:class:`MoireModel`), the
  near-copy screen (:mod:`trustface.liveness.nearcopy`) and continuity
  (:mod:`trustface.liveness.continuity`). The prompted steps are *not* part of this figure: real
  video cannot be made to follow a random challenge after the fact, so they are tested
  functionally (tests/liveness), not measured here.
* ``gate_frame`` (``POST /v1/gates/{id}/access`` at an attended gate, liveness off): the
  single-frame replay screen, near copies included.

Bona fide presentations (all real):
* video: bursts of 5 frames (every 2nd frame, about 15 fps, real timestamps) from
  ``photos/examples/short_hamilton_clip.mp4``, decoded with ffmpeg (or imageio when installed;
  without either the video part is left out and the report says so);
* photo sequences: 5 LFW photos of one person (different sittings, 200 ms apart) for LFW people
  with at least 5 photos, chosen by a fixed rule (every ``stride``-th such person, sorted by name).
  On the single-frame route their first photo is a bona fide frame. On the burst route a set of
  photos from different sittings is exactly what continuity refuses, so there they are the
  ``photo_set`` attack species (different photos of one person as a burst), not bona fide.

Attack presentations, each made from a bona fide presentation that passed *earlier* at the same
gate (so the attacker could have recorded it), inserted into the stream after it:
* ``still_replay``: its first frame (the one the gate decided on) shown as a still: the exact bytes, a re-encoded copy, or copies
  each re-encoded with fresh noise (an attacker avoiding identical frames), in turn;
* ``session_replay``: the whole burst played again, re-encoded (every other one: the exact bytes);
* ``near_copy_replay``: its first frame (single-frame route) or every frame (burst route) replayed
  after one common edit, in turn: brightness or contrast +-15 %, a 6 px crop, scaling by 0.8 or
  1.25, mirroring, rotation by +-4 degrees, JPEG re-encoding at quality 60, Gaussian noise;
* ``print_recapture``: a simulated re-captured print of a picture of the same subject that the
  gate never saw (the person's 6th LFW photo; for video, the burst's first frame mirrored, and
  likewise for the few LFW people with exactly 5 photos): ink colour shift (less
  saturation, gamma, channel gains, compressed range), blur, a moire grating (period 2.5-6 px, random
  angle, 4-12 % amplitude), sensor noise, JPEG; 5 frames with a 0-2 px hand jitter;
* ``screen_replay``: a simulated phone or monitor showing that picture, filmed: the picture on an
  RGB stripe subpixel grid (3 px per pixel), resampled to the frame with a small scale error (the
  grid beats against the sensor: moire), a gamma and white-point shift, a glare gradient, noise,
  JPEG; 5 frames with a 0-2 px jitter;
* ``photo_set`` (burst route): the LFW photo sequences above, with their timestamps.

The stream is processed in order through one gate's memory store: a bona fide burst that passes
is remembered (as the service does), a detected attack is blocklisted, a missed attack is
remembered as if it had passed. Seeded; runs in well under a minute on 2 cores.
"""

from __future__ import annotations

import datetime as dt
import io
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from trustface import imaging
from trustface.liveness import active, continuity, nearcopy, passive
from trustface.liveness import judge as judging
from trustface.liveness import pad as pad_models

SPECIES = ("still_replay", "session_replay", "near_copy_replay", "print_recapture", "screen_replay", "photo_set")
#: what each species is made of (the report says it)
SIMULATED = {"still_replay": "real frames replayed (exact, re-encoded, re-encoded with noise)",
             "session_replay": "real bursts replayed (exact or re-encoded)",
             "near_copy_replay": "real frames edited as an attacker would (real edits, not simulated captures)",
             "print_recapture": "SIMULATED print re-capture (colour shift, blur, moire grating, noise)",
             "screen_replay": "SIMULATED screen re-capture (RGB subpixel grid resampled, gamma, glare, noise)",
             "photo_set": "real LFW photos of one person from different sittings, as a burst"}
EDITS = ("brightness+15", "brightness-15", "contrast+15", "contrast-15", "crop6", "scale0.8", "scale1.25", "mirror",
         "rotate+4", "rotate-4", "jpeg60", "noise")
GATE = "gate_bench"
BURST = 5


@dataclass(eq=False)
class Presentation:
    label: str  # "bona_fide" or a species
    source: str  # "video" / "photos" (bona fide), the bona fide index (attacks)
    frames: list[passive.Frame]
    origin: int = -1  # index of the bona fide presentation an attack was made from
    variant: str = ""
    unseen: np.ndarray | None = None  # another picture of the subject the gate never saw (print source)


@dataclass
class Tally:
    total: int = 0
    wrong: int = 0  # attacks accepted (APCER) / bona fide refused (BPCER)
    signals: dict = field(default_factory=dict)

    def rate(self) -> float | None:
        return None if self.total == 0 else self.wrong / self.total


def _jpeg(pixels: np.ndarray, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _frame(data: bytes, t_ms: float | None) -> passive.Frame:
    return passive.Frame(imaging.load_image(data), data, t_ms)


def _bytes_of(frame: passive.Frame) -> bytes:
    """The bytes a frame was uploaded as (every frame of this harness comes from :func:`_frame`)."""
    return frame.data if frame.data is not None else _jpeg(frame.pixels)


# --- sources ------------------------------------------------------------------------------------

def decode_video(path: Path) -> tuple[list[np.ndarray], list[float], str]:
    """Every frame of a video (RGB) with its time in ms, and the decoder used."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg:
        probe = subprocess.run([ffmpeg, "-v", "error", "-i", str(path), "-fps_mode", "passthrough", "-f", "rawvideo",
                                "-pix_fmt", "rgb24", "-"], capture_output=True, check=True)
        info = subprocess.run([shutil.which("ffprobe") or "ffprobe", "-v", "error", "-select_streams", "v:0",
                               "-show_entries", "stream=width,height,r_frame_rate", "-of", "csv=p=0", str(path)],
                              capture_output=True, text=True, check=True).stdout.strip().split(",")
        w, h = int(info[0]), int(info[1])
        num, den = (float(x) for x in info[2].split("/"))
        video = np.frombuffer(probe.stdout, np.uint8).reshape(-1, h, w, 3)
        return [np.ascontiguousarray(f) for f in video], [i * 1000.0 * den / num for i in range(len(video))], "ffmpeg"
    try:
        import imageio.v3 as iio
    except ImportError:
        return [], [], "none"
    frames = [np.asarray(f)[:, :, :3] for f in iio.imiter(path)]
    fps = float(iio.immeta(path).get("fps", 29.97))
    return frames, [i * 1000.0 / fps for i in range(len(frames))], "imageio"


def bona_fide(data_root: Path, *, people: int, stride: int,
              video_bursts: int | None = None) -> tuple[list[Presentation], dict]:
    out: list[Presentation] = []
    notes: dict = {}
    video = data_root / "photos" / "examples" / "short_hamilton_clip.mp4"
    frames, times, decoder = decode_video(video) if video.exists() else ([], [], "missing")
    notes["video_decoder"] = decoder
    step, span = 2, 2 * (BURST - 1) + 1
    for start in range(0, len(frames) - span + 1, span)[:video_bursts]:
        idx = list(range(start, start + span, step))
        out.append(Presentation("bona_fide", "video",
                                [_frame(_jpeg(frames[i], 90), round(times[i], 1)) for i in idx],
                                unseen=np.ascontiguousarray(frames[idx[0]][:, ::-1])))
    notes["video_bursts"] = sum(1 for p in out if p.source == "video")
    lfw = data_root / "lfw" / "images"
    eligible = sorted(d for d in lfw.iterdir() if d.is_dir() and len(list(d.glob("*.jpg"))) >= BURST) \
        if lfw.exists() else []
    chosen = eligible[::stride][:people]
    for person in chosen:
        photos = sorted(person.glob("*.jpg"))
        frames_ = [_frame(p.read_bytes(), 200.0 * i) for i, p in enumerate(photos[:BURST])]
        unseen = imaging.load_image(photos[BURST]) if len(photos) > BURST else \
            np.ascontiguousarray(frames_[0].pixels[:, ::-1])
        out.append(Presentation("bona_fide", "photos", frames_, unseen=unseen))
    notes["photo_sequences"] = len(chosen)
    return out, notes


# --- attacks ------------------------------------------------------------------------------------

def print_recapture(pixels: np.ndarray, rng: np.random.Generator, jitter: tuple[int, int] = (0, 0)) -> np.ndarray:
    """A simulated print held to the camera: colour shift, blur, moire, noise (see module doc)."""
    x = pixels.astype(np.float64) / 255.0
    grey = x.mean(axis=2, keepdims=True)
    mix = rng.uniform(0.15, 0.35)
    x = x * (1 - mix) + grey * mix
    x = x ** rng.uniform(1.1, 1.4) * rng.uniform(0.9, 1.1, size=3)
    x = 0.08 + 0.8 * x
    im = Image.fromarray(np.clip(x * 255, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(rng.uniform(0.8, 1.8)))
    y = np.asarray(im).astype(np.float64)
    if jitter != (0, 0):
        y = np.roll(y, jitter, axis=(0, 1))
    h, w = y.shape[:2]
    period, angle = rng.uniform(2.5, 6.0), rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:h, 0:w]
    grating = np.cos(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / period)
    y = y * (1 + rng.uniform(0.04, 0.12) * grating[..., None]) + rng.normal(0, 2.0, size=y.shape)
    return np.clip(y, 0, 255).astype(np.uint8)


def screen_replay(pixels: np.ndarray, rng: np.random.Generator, jitter: tuple[int, int] = (0, 0)) -> np.ndarray:
    """A simulated screen showing ``pixels``, filmed (see module doc)."""
    h, w = pixels.shape[:2]
    x = (pixels.astype(np.float64) / 255.0) ** rng.uniform(0.8, 1.2) * rng.uniform(0.85, 1.05, size=3)
    big = np.repeat(np.repeat(x, 3, axis=0), 3, axis=1)
    stripes = np.zeros((1, 3, 3))
    for c in range(3):
        stripes[0, c, c] = 1.0
    big = big * np.tile(stripes, (1, w, 1))[:, :3 * w] * 2.4 + 0.02
    scale = rng.uniform(0.97, 1.03)
    shown = Image.fromarray(np.clip(big * 255, 0, 255).astype(np.uint8)).resize(
        (int(w * scale), int(h * scale)), Image.Resampling.BILINEAR).resize((w, h), Image.Resampling.BILINEAR)
    y = np.asarray(shown).astype(np.float64)
    if jitter != (0, 0):
        y = np.roll(y, jitter, axis=(0, 1))
    yy, xx = np.mgrid[0:h, 0:w]
    glare = 40.0 * np.exp(-(((xx - rng.uniform(0, w)) / (0.4 * w)) ** 2 + ((yy - rng.uniform(0, h)) / (0.4 * h)) ** 2))
    y = y + glare[..., None] + rng.normal(0, 2.0, size=y.shape)
    return np.clip(y, 0, 255).astype(np.uint8)


def edit(pixels: np.ndarray, name: str, rng: np.random.Generator) -> np.ndarray:
    """One of :data:`EDITS` applied to a frame."""
    from PIL import ImageEnhance

    im = Image.fromarray(np.ascontiguousarray(pixels))
    h, w = pixels.shape[:2]
    if name.startswith(("brightness", "contrast")):
        kind = ImageEnhance.Brightness if name.startswith("brightness") else ImageEnhance.Contrast
        return np.asarray(kind(im).enhance(1.15 if name.endswith("+15") else 0.85))
    if name == "crop6":
        return np.ascontiguousarray(pixels[6:, 6:])
    if name.startswith("scale"):
        f = float(name[5:])
        return np.asarray(im.resize((int(w * f), int(h * f)), Image.Resampling.BICUBIC))
    if name == "mirror":
        return np.ascontiguousarray(pixels[:, ::-1])
    if name.startswith("rotate"):
        return np.asarray(im.rotate(float(name[6:]), resample=Image.Resampling.BICUBIC))
    if name == "jpeg60":
        return imaging.load_image(_jpeg(pixels, 60))
    return np.clip(pixels + rng.normal(0, 4, pixels.shape), 0, 255).astype(np.uint8)


def _noisy(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip(pixels.astype(np.float64) + rng.normal(0, 1.5, size=pixels.shape), 0, 255).astype(np.uint8)


def attacks_from(b: Presentation, index: int, rng: np.random.Generator, turn: int) -> list[Presentation]:
    times = [f.t_ms for f in b.frames]
    pick = b.frames[0]  # the frame the gate decided on
    variant = ("exact", "reencoded", "noisy")[turn % 3]
    if variant == "exact":
        still = [_bytes_of(pick)] * BURST
    elif variant == "reencoded":
        still = [_jpeg(pick.pixels, int(rng.integers(80, 96)))] * BURST
    else:
        still = [_jpeg(_noisy(pick.pixels, rng), int(rng.integers(85, 96))) for _ in range(BURST)]
    out = [Presentation("still_replay", str(index), [_frame(d, t) for d, t in zip(still, times, strict=False)], index, variant)]
    session_variant = "exact" if turn % 2 == 0 else "reencoded"
    session = [_bytes_of(f) if session_variant == "exact" else _jpeg(f.pixels, int(rng.integers(85, 96))) for f in b.frames]
    out.append(Presentation("session_replay", str(index), [_frame(d, t) for d, t in zip(session, times, strict=False)], index,
                            session_variant))
    source = b.unseen if b.unseen is not None else b.frames[0].pixels
    prints = [_jpeg(print_recapture(source, rng, (int(rng.integers(0, 3)), int(rng.integers(0, 3)))),
                    int(rng.integers(85, 93))) for _ in range(BURST)]
    out.append(Presentation("print_recapture", str(index), [_frame(d, 66.7 * i) for i, d in enumerate(prints)],
                            index, "simulated"))
    screens = [_jpeg(screen_replay(source, rng, (int(rng.integers(0, 3)), int(rng.integers(0, 3)))),
                     int(rng.integers(85, 93))) for _ in range(BURST)]
    out.append(Presentation("screen_replay", str(index), [_frame(d, 66.7 * i) for i, d in enumerate(screens)],
                            index, "simulated"))
    name = EDITS[turn % len(EDITS)]
    edited = [_jpeg(edit(f.pixels, name, rng), 92) for f in b.frames]
    out.append(Presentation("near_copy_replay", str(index), [_frame(d, t) for d, t in zip(edited, times, strict=False)],
                            index, name))
    return out


def build_stream(bona: list[Presentation], seed: int) -> list[Presentation]:
    """Bona fide presentations in a shuffled order; each attack some time after its source."""
    rng = np.random.default_rng(seed)
    perm = [int(i) for i in rng.permutation(len(bona))]
    order = [bona[i] for i in perm]
    stream: list[Presentation] = list(order)
    for turn, (i, b) in enumerate(zip(perm, order, strict=False)):
        for attack in attacks_from(b, i, rng, turn):
            after = stream.index(b)
            stream.insert(int(rng.integers(after + 1, len(stream) + 1)), attack)
    return stream


# --- evaluation ---------------------------------------------------------------------------------

def _single(p: Presentation) -> Presentation:
    return Presentation(p.label, p.source, p.frames[:1], p.origin, p.variant)


def _label(p: Presentation, burst: bool) -> str:
    """On the burst route a sequence of photos from different sittings is the photo_set attack."""
    return "photo_set" if burst and p.label == "bona_fide" and p.source == "photos" else p.label


def _face_checks(p: Presentation, store: passive.MemoryStore, now: dt.datetime, *, burst: bool):
    """(signals, marks) of the checks that need the face: near copies, then (bursts) continuity."""
    known = store.recent_marks(GATE, now - passive.REPLAY_WINDOW)
    if not burst:
        probe = nearcopy.probe(p.frames[0].pixels)
        marks = [(probe.mark.chip, probe.mark.descriptor) if probe is not None else None]
        copied = nearcopy.copied(probe, [nearcopy.Mark(c, d) for c, d in known])
        return (["near_copy"] if copied else []), marks
    copies, marks = judging.near_copies(p.frames, known)
    if copies and (0 in copies or len(copies) >= 2):
        return ["near_copy"], marks
    pixels = [f.pixels for f in p.frames]
    readings = active.read_frames(pixels)
    looks = [continuity.look(f, r.box) for f, r in zip(pixels, readings, strict=True)]
    found = continuity.check([f.t_ms for f in p.frames], looks, [r.descriptor for r in readings], steps=0)
    return ([] if found.ok else ["continuity"]), marks


def evaluate(stream: list[Presentation], *, burst: bool, model) -> dict:
    store = passive.MemoryStore()
    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    tallies = {"bona_fide": Tally(), **{s: Tally() for s in SPECIES}}
    by_source: dict[str, Tally] = {}
    variants: dict[str, Tally] = {}
    scores: dict[str, list[float]] = {}
    for p in stream:
        if not burst and p.label in ("session_replay", "photo_set"):
            continue  # a recorded session is a burst; a single frame of it is a still replay
        label = _label(p, burst)
        p = p if burst else _single(p)
        now += dt.timedelta(seconds=30)
        verdict = passive.check(p.frames, store=store, gate_id=GATE, now=now, burst=burst)
        signals = [s.kind for s in verdict.signals]
        if model is not None:
            score = float(model.score([f.pixels for f in p.frames]))
            # the raw moire peak (the score before clipping to 0..1) orders presentations for APCER@BPCER
            raw = max(pad_models.moire_peak(f.pixels) for f in p.frames) \
                if isinstance(model, pad_models.MoireModel) else score
            scores.setdefault(label, []).append(raw)
            if not signals and score >= model.threshold:
                signals = ["pad_model"]
        marks: list = []
        if not signals:
            signals, marks = _face_checks(p, store, now, burst=burst)
        refused = bool(signals)
        t = tallies[label]
        t.total += 1
        wrong = refused if label == "bona_fide" else not refused
        t.wrong += int(wrong)
        for s in set(signals):
            t.signals[s] = t.signals.get(s, 0) + 1
        key = p.source if label == "bona_fide" else f"{label}/{p.variant or p.source}"
        bucket = (by_source if label == "bona_fide" else variants).setdefault(key, Tally())
        bucket.total += 1
        bucket.wrong += int(wrong)
        if refused:
            if label != "bona_fide" and "continuity" not in signals:
                for fp in verdict.fingerprints:  # a detected attack joins the blocklist
                    if fp.sha256:
                        store.report("sha256", fp.sha256, label, now)
                    store.report("phash", fp.phash, label, now)
        else:
            store.remember(GATE, verdict.fingerprints, now, marks)  # passed: remembered like a real pass
    apcer = {s: rate for s in SPECIES if (rate := tallies[s].rate()) is not None}  # species with presentations
    out = {
        "apcer": apcer,
        "apcer_worst": max(apcer.values()) if apcer else None,
        "apcer_worst_species": max(apcer, key=apcer.__getitem__) if apcer else None,
        "bpcer": tallies["bona_fide"].rate(),
        "counts": {k: {"presentations": t.total, "errors": t.wrong, "signals": dict(sorted(t.signals.items()))}
                   for k, t in tallies.items() if t.total},
        "bpcer_by_source": {k: {"presentations": t.total, "refused": t.wrong, "bpcer": t.rate()}
                            for k, t in sorted(by_source.items())},
        "apcer_by_variant": {k: {"presentations": t.total, "accepted": t.wrong, "apcer": t.rate()}
                             for k, t in sorted(variants.items())},
    }
    if scores.get("bona_fide"):
        out["pad_model_at_bpcer5"] = at_bpcer(scores, 0.05)
    return out


def at_bpcer(scores: dict[str, list[float]], bpcer: float) -> dict:
    """The PAD model's score alone (the raw moire peak for :class:`MoireModel`): the threshold at
    which ``bpcer`` of the bona fide presentations are refused, and each species' APCER there, as
    if the model were the only check (ISO/IEC 30107-3, APCER at a fixed BPCER)."""
    bona = np.sort(np.asarray(scores["bona_fide"]))
    threshold = float(np.quantile(bona, 1.0 - bpcer, method="higher")) + 1e-9
    return {"bpcer_target": bpcer, "threshold": round(threshold, 4),
            "bpcer": float(np.mean(bona >= threshold)),
            "apcer": {s: float(np.mean(np.asarray(v) < threshold)) for s, v in sorted(scores.items())
                      if s != "bona_fide" and v}}


def run(data_root: Path, *, people: int = 40, stride: int = 10, seed: int = 8,
        video_bursts: int | None = None) -> dict:
    """The whole evaluation; the returned dict is what ``trustface bench pad --json`` writes."""
    import platform
    import time

    started = time.perf_counter()
    bona, notes = bona_fide(data_root, people=people, stride=stride, video_bursts=video_bursts)
    if not bona:
        raise FileNotFoundError(f"no bona fide data under {data_root} (video or LFW)")
    stream = build_stream(bona, seed)
    model = pad_models.MoireModel()
    burst = evaluate(stream, burst=True, model=model)
    frame = evaluate(stream, burst=False, model=None)
    return {
        "standard": "ISO/IEC 30107-3 (APCER per PAI species, worst case, BPCER)",
        **burst,
        "subsystem": "burst: passive checks + PAD model + near copies + continuity (the liveness route); the "
                     "prompted steps not included",
        "pad_model": {"name": model.name, "version": model.version, "threshold": model.threshold},
        "gate_frame": {**frame, "subsystem": "single frame at POST /access (an attended gate, liveness off): replay "
                                             "screen with near copies, no PAD model"},
        "species": {s: SIMULATED[s] for s in SPECIES},
        "data": {**notes, "bona_fide": len(bona), "attacks": len(stream) - len(bona), "seed": seed,
                 "lfw_rule": f"every {stride}th LFW person with >= {BURST} photos, sorted by name, first {people}"},
        "not_covered": ["3D masks", "paper masks", "real screens (phone/tablet/monitor replay)", "real prints",
                        "a video of the resident performing the steps (replayed to the camera)",
                        "deepfake or face-swap injection", "presentations following the active challenge"],
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "seconds": round(time.perf_counter() - started, 1),
    }
