"""Queries of the liveness room: challenges, recent probe fingerprints and the attack blocklist
(ARCHITECTURE: only ``db`` has SQL). Callers write the audit event of the same transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import delete, or_, select
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from trustface.db.models import LivenessChallenge, LivenessIndicator, LivenessProbe, new_id
from trustface.db.session import mark_domain_changed

#: ``IN (...)`` lists are split into chunks of this size
_CHUNK = 500


def add_challenge(session: Session, challenge: LivenessChallenge) -> LivenessChallenge:
    session.add(challenge)
    session.flush()
    return challenge


def challenge(session: Session, nonce: str, *, for_update: bool = False) -> LivenessChallenge | None:
    query = select(LivenessChallenge).where(LivenessChallenge.nonce == nonce)
    if for_update and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.scalars(query).first()


def add_probes(session: Session, gate_id: str, rows: Iterable[tuple], seen_at: dt.datetime) -> int:
    """Remember (sha256 of bytes or None, sha256 of pixels, pHash[, chip pHash, descriptor hex]) of
    frames that passed at a gate (the last two: the near-copy mark of the frame's face, or None)."""
    count = 0
    for row in rows:
        sha256, pixels, phash = row[:3]
        chip, descriptor = (row[3], row[4]) if len(row) >= 5 else (None, None)
        session.add(LivenessProbe(id=new_id("prb"), gate_id=gate_id, sha256=sha256, pixels=pixels, phash=phash,
                                  chip=chip, descriptor=descriptor, seen_at=seen_at))
        count += 1
    session.flush()
    return count


def seen_digests(session: Session, gate_id: str, digests: Iterable[str], since: dt.datetime) -> set[str]:
    """Which of ``digests`` (byte or pixel SHA-256) were remembered at the gate since ``since``."""
    wanted = [d for d in dict.fromkeys(digests) if d]
    found: set[str] = set()
    for i in range(0, len(wanted), _CHUNK):
        chunk = wanted[i:i + _CHUNK]
        rows = session.execute(select(LivenessProbe.sha256, LivenessProbe.pixels).where(
            LivenessProbe.gate_id == gate_id, LivenessProbe.seen_at >= since,
            or_(LivenessProbe.sha256.in_(chunk), LivenessProbe.pixels.in_(chunk))))
        for sha256, pixels in rows:
            found.update(d for d in (sha256, pixels) if d in chunk)
    return found


def recent_phashes(session: Session, gate_id: str, since: dt.datetime, limit: int = 5000) -> list[str]:
    return list(session.scalars(select(LivenessProbe.phash).where(
        LivenessProbe.gate_id == gate_id, LivenessProbe.seen_at >= since)
        .order_by(LivenessProbe.seen_at.desc()).limit(limit)))


def recent_marks(session: Session, gate_id: str, since: dt.datetime, limit: int = 5000) -> list[tuple[str, str]]:
    """(chip pHash, descriptor hex) of the near-copy marks remembered at the gate since ``since``."""
    rows = session.execute(select(LivenessProbe.chip, LivenessProbe.descriptor).where(
        LivenessProbe.gate_id == gate_id, LivenessProbe.seen_at >= since, LivenessProbe.chip.is_not(None),
        LivenessProbe.descriptor.is_not(None)).order_by(LivenessProbe.seen_at.desc()).limit(limit))
    return [(chip, descriptor) for chip, descriptor in rows if chip and descriptor]


def recent_challenges(session: Session, gate_id: str, since: dt.datetime) -> list[LivenessChallenge]:
    """Challenges issued at the gate since ``since``, newest first (rate limit, no free re-roll)."""
    return list(session.scalars(select(LivenessChallenge).where(
        LivenessChallenge.gate_id == gate_id, LivenessChallenge.issued_at >= since)
        .order_by(LivenessChallenge.issued_at.desc())))


def purge_probes(session: Session, before: dt.datetime) -> int:
    """Forget fingerprints older than the replay window."""
    result = cast("CursorResult[Any]", session.execute(delete(LivenessProbe).where(LivenessProbe.seen_at < before)))
    if result.rowcount:
        mark_domain_changed(session)
    return result.rowcount or 0


def indicator(session: Session, kind: str, value: str) -> LivenessIndicator | None:
    return session.scalars(select(LivenessIndicator).where(LivenessIndicator.kind == kind,
                                                           LivenessIndicator.value == value)).first()


def active_indicators(session: Session, kind: str, values: Iterable[str] | None, now: dt.datetime) -> list[LivenessIndicator]:
    """Indicators of ``kind`` still valid at ``now``: all of them, or those whose value is in ``values``."""
    query = select(LivenessIndicator).where(LivenessIndicator.kind == kind, or_(
        LivenessIndicator.valid_until.is_(None), LivenessIndicator.valid_until > now))
    if values is None:
        return list(session.scalars(query))
    wanted = [v for v in dict.fromkeys(values) if v]
    out: list[LivenessIndicator] = []
    for i in range(0, len(wanted), _CHUNK):
        out.extend(session.scalars(query.where(LivenessIndicator.value.in_(wanted[i:i + _CHUNK]))))
    return out


def indicators(session: Session, *, source: str | None = None) -> list[LivenessIndicator]:
    query = select(LivenessIndicator)
    if source is not None:
        query = query.where(LivenessIndicator.source == source)
    return list(session.scalars(query.order_by(LivenessIndicator.first_seen, LivenessIndicator.id)))


def add_indicator(session: Session, row: LivenessIndicator) -> LivenessIndicator:
    session.add(row)
    session.flush()
    return row
