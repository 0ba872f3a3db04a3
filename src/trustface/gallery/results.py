"""What the gallery returns: subject ids, distances and decisions, never template bytes or
descriptors (R11). Distances are Euclidean in descriptor space (the keyed transform keeps them);
similarities are in [0, 1], 1 for identical descriptors (:func:`trustface.engine.similarity`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Enrolment:
    """One gallery (site x purpose x mode) enrolment of a subject: the templates written, the
    photos they came from, the tenant key version that protects them and the audit event."""

    subject_id: str
    site_id: str
    purpose: str
    mode: str
    template_ids: tuple[str, ...]
    photos: int
    key_version: int
    audit_seq: int

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "template_ids": list(self.template_ids)}


@dataclass(frozen=True)
class Candidate:
    """A consented subject within the threshold of a 1:N search."""

    subject_id: str
    distance: float
    similarity: float


@dataclass(frozen=True)
class VerifyResult:
    """The answer of a 1:1 verification: ``match`` when ``distance <= threshold``."""

    subject_id: str
    match: bool
    distance: float
    similarity: float
    operating_point: str
    threshold: float
    audit_seq: int

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "distance": round(self.distance, 4), "similarity": round(self.similarity, 4)}


@dataclass(frozen=True)
class IdentifyResult:
    """``candidates``: consented subjects within the threshold, nearest first (at most k);
    ``unknown``: no consented subject is within the threshold (open set)."""

    candidates: tuple[Candidate, ...]
    operating_point: str
    threshold: float
    gallery_size: int
    approximate: bool
    audit_seq: int
    unknown: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "unknown", not self.candidates)

    def to_dict(self) -> dict[str, Any]:
        return {"unknown": self.unknown,
                "candidates": [{"subject_id": c.subject_id, "distance": round(c.distance, 4),
                                "similarity": round(c.similarity, 4)} for c in self.candidates],
                "operating_point": self.operating_point, "threshold": self.threshold,
                "gallery_size": self.gallery_size, "approximate": self.approximate, "audit_seq": self.audit_seq}
