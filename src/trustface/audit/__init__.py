"""The append-only, hash-chained audit trail (R21; SPC-6, PIPL-56, PIPL-69, GDPR-7(1)).

Use :func:`record` inside the same session/transaction as the change it records; the session
refuses to commit domain changes without one (:mod:`trustface.db.session`). The audit HMAC key
comes from ``session.info["audit_key"]`` (set by :class:`trustface.deployment.Deployment`).

Public functions: :func:`record`, :func:`record_many`, :func:`verify`, :func:`export_subject`,
:func:`trustface.audit.chain.verify_bundle`.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy.orm import Session

from trustface.audit.chain import (
    EVENT_TYPES,
    FORMAT,
    GENESIS,
    BiometricPayloadError,
    ChainVerification,
    body_of,
    canonical,
    check_payload,
    digest_of,
    format_time,
    link,
    row_digest,
    sign_head,
    verify_bundle,
    verify_rows,
)
from trustface.db import audit_store

__all__ = [
    "EVENT_TYPES", "BiometricPayloadError", "ChainVerification", "record", "record_many", "verify",
    "export_subject", "verify_bundle", "utcnow",
]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _key(session: Session) -> bytes:
    key = session.info.get("audit_key")
    if not key:
        raise RuntimeError("this session has no audit key; open it through trustface.deployment.Deployment")
    return key


def _build(head: audit_store.Head, key: bytes, type_: str, actor: str, tenant_id: str | None,
           subject_id: str | None, payload: dict | None, now: dt.datetime) -> dict:
    if type_ not in EVENT_TYPES:
        raise ValueError(f"unknown audit event type {type_!r}")
    if not actor:
        raise ValueError("every audit event names an actor")
    payload = {} if payload is None else payload
    check_payload(payload)
    payload_json = canonical(payload)
    seq = head.seq + 1
    time = format_time(now)
    prev = head.hash or GENESIS
    h = link(prev, digest_of(body_of(seq, time, type_, actor, tenant_id, subject_id, payload_json)))
    head.seq, head.hash = seq, h
    return {"seq": seq, "occurred_at": time, "type": type_, "actor": actor, "tenant_id": tenant_id,
            "subject_id": subject_id, "payload": payload_json, "prev_hash": prev, "hash": h}


def record(session: Session, type_: str, *, actor: str, tenant_id: str | None = None,
           subject_id: str | None = None, payload: dict[str, Any] | None = None,
           now: dt.datetime | None = None) -> int:
    """Append one event in the session's transaction; returns its seq."""
    key = _key(session)
    head = audit_store.lock_head(session)
    saved = (head.seq, head.hash)
    try:
        row = _build(head, key, type_, actor, tenant_id, subject_id, payload, now or utcnow())
    except Exception:
        head.seq, head.hash = saved
        raise
    head.signature = sign_head(key, head.seq, head.hash)
    audit_store.append(session, [row], head)
    return row["seq"]


def record_many(session: Session, events: list[dict], *, now: dt.datetime | None = None) -> list[int]:
    """Append several events (dicts with ``type``, ``actor`` and optional ``tenant_id``,
    ``subject_id``, ``payload``, ``now``) in one statement; returns their seqs."""
    key = _key(session)
    head = audit_store.lock_head(session)
    saved = (head.seq, head.hash)
    rows = []
    try:
        for ev in events:
            rows.append(_build(head, key, ev["type"], ev["actor"], ev.get("tenant_id"), ev.get("subject_id"),
                               ev.get("payload"), ev.get("now") or now or utcnow()))
    except Exception:
        head.seq, head.hash = saved
        raise
    if not rows:
        return []
    head.signature = sign_head(key, head.seq, head.hash)
    audit_store.append(session, rows, head)
    return [r["seq"] for r in rows]


def verify(session: Session) -> ChainVerification:
    """Check every link of the chain and the signed head (edits, deletions, reordering, truncation)."""
    key = _key(session)
    head = audit_store.read_head(session)
    return verify_rows(audit_store.iter_events(session), head, key)


def export_subject(session: Session, subject_id: str, *, actor: str = "system:export",
                   now: dt.datetime | None = None) -> dict:
    """The subject's evidence bundle (SPC-6): their events, a digest-only chain proof from their
    first event to the signed head, and the verification result. Records an ``export`` event."""
    now = now or utcnow()
    record(session, "export", actor=actor, subject_id=subject_id,
           payload={"action": "evidence_bundle", "subject_id": subject_id}, now=now)
    result = verify(session)
    events = audit_store.events_for_subject(session, subject_id)
    head = audit_store.read_head(session)
    chain: list[dict] = []
    start_prev = GENESIS
    if events:
        start_prev = events[0]["prev_hash"]
        for row in audit_store.iter_events(session, start_seq=events[0]["seq"]):
            chain.append({"seq": row["seq"], "digest": row_digest(row)})
    out_events = []
    for row in events:
        item = dict(row)
        item["payload"] = json.loads(row["payload"])
        out_events.append(item)
    return {
        "format": "trustface-evidence/1",
        "chain_format": FORMAT,
        "subject_id": subject_id,
        "generated_at": format_time(now),
        "events": out_events,
        "start_prev_hash": start_prev,
        "chain": chain,
        "head": {"seq": head.seq, "hash": head.hash, "signature": head.signature} if head else None,
        "verification": result.to_dict(),
        "how_to_verify": (
            "For each event: body = canonical JSON of {seq,time=occurred_at,type,actor,tenant=tenant_id,"
            "subject=subject_id,payload}; digest = sha256(body). Walk 'chain' from start_prev_hash: "
            "hash = sha256(prev_hash + digest). Each event's hash must appear at its seq and the walk "
            "must end at head.hash. See docs/policy.md."
        ),
    }
