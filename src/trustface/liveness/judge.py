"""The verdict on a screened burst (pure computation, no database): near-copy replay, the PAD model,
the prompted steps on 68-point landmarks, and continuity (one capture, not a photo set).

:func:`judge` is what :func:`trustface.liveness.service.judge_burst` runs between the screen (database
reads) and the settlement (the caller's transaction). A burst refused by the passive screen gets no
face work at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from trustface.liveness import active, continuity, nearcopy, passive
from trustface.liveness import pad as pad_models
from trustface.liveness.codes import E_INJECTION_SUSPECTED, E_LIVENESS_FAILED, E_REPLAY_DETECTED

#: frames of a burst whose near-copy marks are taken (the first, then spread over the burst)
MARKED_FRAMES = 5


@dataclass
class BurstVerdict:
    """What liveness says of a burst: ``passed``, and why not (``reasons``, first the most serious),
    the steps seen done, the PAD score. A verdict, never a gate decision."""

    passed: bool
    nonce: str
    steps: list[str]
    reasons: list[dict] = field(default_factory=list)
    steps_done: list[dict] = field(default_factory=list)
    pad: dict | None = None
    frames: int = 0
    screen: passive.Verdict | None = None
    #: near-copy marks (chip pHash, descriptor hex) of the frames, None where not taken
    marks: list[tuple[str, str] | None] = field(default_factory=list, repr=False)
    continuity: dict | None = None

    @property
    def first_reason(self) -> dict | None:
        """The reason a refusal names: a replay, then an injection, then the rest."""
        if not self.reasons:
            return None
        order = (E_REPLAY_DETECTED, E_INJECTION_SUSPECTED)
        return min(self.reasons, key=lambda r: order.index(r["code"]) if r["code"] in order else len(order))

    def audit_extra(self) -> dict[str, object]:
        """Codes, signal names and counts for the access event: never a frame or a hash."""
        extra: dict[str, object] = {"nonce_state": "used", "signals": sorted({r.get("signal", "") for r in self.reasons}),
                                    "steps_done": len(self.steps_done), "frames": self.frames}
        if self.pad:
            extra["pad_model"] = f"{self.pad['model']}/{self.pad['version']}"
        return extra

    def to_dict(self) -> dict[str, object]:
        return {"passed": self.passed, "nonce": self.nonce, "steps": list(self.steps),
                "steps_done": list(self.steps_done), "reasons": list(self.reasons), "pad": self.pad}


def marked_indices(n: int, k: int = MARKED_FRAMES) -> list[int]:
    """The first frame, then up to ``k - 1`` more spread evenly over the burst."""
    if n <= k:
        return list(range(n))
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def near_copies(frames: Sequence[passive.Frame],
                known: Sequence[tuple[str, str]]) -> tuple[list[int], list[tuple[str, str] | None]]:
    """(indices of marked frames that are near copies of remembered ones, each frame's mark or None)."""
    marks: list[tuple[str, str] | None] = [None] * len(frames)
    copies: list[int] = []
    remembered = [nearcopy.Mark(c, d) for c, d in known]
    for i in marked_indices(len(frames)):
        p = nearcopy.probe(frames[i].pixels)
        if p is None:
            continue
        marks[i] = (p.mark.chip, p.mark.descriptor)
        if nearcopy.copied(p, remembered):
            copies.append(i)
    return copies, marks


def judge(steps: list[str], nonce: str, frames: Sequence[passive.Frame], screen: passive.Verdict,
          known_marks: Sequence[tuple[str, str]], *, model: pad_models.PadModel | None) -> BurstVerdict:
    outcome = BurstVerdict(False, nonce, steps, frames=len(frames), screen=screen)
    reasons = [s.to_dict() for s in screen.signals]
    if not reasons:
        copies, outcome.marks = near_copies(frames, known_marks)
        if copies and (0 in copies or len(copies) >= 2):
            reasons.append({"code": E_REPLAY_DETECTED, "signal": "near_copy", "species": "near_copy_replay",
                            "frame_index": copies[0],
                            "message": "the frames are edited copies of frames already used at this gate"})
    if not reasons and model is not None:
        score = float(model.score([f.pixels for f in frames]))
        outcome.pad = {"model": model.name, "version": model.version, "score": round(score, 3),
                       "threshold": model.threshold}
        if score >= model.threshold:
            reasons.append({"code": E_LIVENESS_FAILED, "signal": "pad_model", "species": "print_recapture",
                            "message": f"the PAD model {model.name} flagged the frames"})
    if not reasons:
        readings = active.read_frames([f.pixels for f in frames])
        result = active.evaluate(steps, readings)
        outcome.steps_done = result.done
        looks = [continuity.look(f.pixels, r.box) for f, r in zip(frames, readings, strict=True)]
        finding = continuity.check([f.t_ms for f in frames], looks, [r.descriptor for r in readings],
                                   steps=len(steps), step_frames=[d["frame_index"] for d in result.done])
        outcome.continuity = finding.measures
        for text in finding.reasons:
            reasons.append({"code": E_LIVENESS_FAILED, "signal": "continuity", "species": "photo_set",
                            "message": text})
        for text in result.reasons:
            reasons.append({"code": E_LIVENESS_FAILED, "signal": "challenge", "message": text})
    outcome.reasons = reasons
    outcome.passed = not reasons
    return outcome
