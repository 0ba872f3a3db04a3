"""The hash chain: canonical form, event hash, signed head, verification, evidence bundles (R21).

Format (``trustface-audit/1``), also in docs/policy.md:

* ``body``   = canonical JSON (UTF-8, keys sorted, no spaces) of
  ``{"seq", "time", "type", "actor", "tenant", "subject", "payload"}``
* ``digest`` = SHA-256(body), hex
* ``hash``   = SHA-256(ASCII ``prev_hash`` + ``digest``), hex; the first event's ``prev_hash`` is 64 zeros
* head     = (last seq, last hash), signed ``HMAC-SHA256(audit key, "trustface-audit-head:{seq}:{hash}")``

Hashing ``prev_hash || digest`` (rather than one JSON with ``prev_hash`` inside) lets a subject's
evidence bundle prove its events are in the chain while revealing only the *digests* of other
people's events (SPC-6, PIPL-69: burden of proof without disclosing third parties).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Protocol

GENESIS = "0" * 64
FORMAT = "trustface-audit/1"

#: Event types (issue 3 §5): every consent, notice, grant, denial, enrolment, match, analysis,
#: export, deletion and admin action.
EVENT_TYPES = frozenset(
    {"consent", "notice", "grant", "denial", "enrolment", "match", "analysis", "export", "deletion", "admin",
     "access"}
)

# --- no biometric data in payloads (SPC-1.3, R9, R21) -------------------------------------------
_FORBIDDEN_KEYS = frozenset(
    {
        "descriptor", "descriptors", "embedding", "embeddings", "template", "template_bytes",
        "image", "images", "photo", "face_image", "frame", "encoding", "encodings", "vector",
        "features", "landmarks", "probe", "pixels", "crop",
    }
)
_MAX_STR = 2000
_MAX_LIST = 64
_MAX_NUMBERS_IN_LIST = 8


class BiometricPayloadError(ValueError):
    """An audit payload looked like it carried biometric data (arrays, bytes, vectors, images)."""


def check_payload(value: Any, path: str = "payload") -> None:
    """Reject anything that could smuggle face data into the (long-lived, exported) audit trail."""
    kind = type(value)
    if value is None or kind is bool or kind is int:
        return
    if kind is str:
        if len(value) > _MAX_STR:
            raise BiometricPayloadError(f"{path}: string longer than {_MAX_STR} characters")
        return
    if kind is dict:
        for key, item in value.items():
            if not isinstance(key, str):
                raise BiometricPayloadError(f"{path}: keys must be strings")
            if key.lower() in _FORBIDDEN_KEYS:
                raise BiometricPayloadError(f"{path}.{key}: biometric fields are not allowed in audit events")
            check_payload(item, f"{path}.{key}")
        return
    if kind is list or kind is tuple:
        if len(value) > _MAX_LIST:
            raise BiometricPayloadError(f"{path}: list longer than {_MAX_LIST} items")
        numbers = sum(1 for v in value if isinstance(v, (int, float)) and not isinstance(v, bool))
        if numbers > _MAX_NUMBERS_IN_LIST:
            raise BiometricPayloadError(f"{path}: numeric vectors are not allowed in audit events")
        for i, item in enumerate(value):
            check_payload(item, f"{path}[{i}]")
        return
    if kind is float:
        return
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise BiometricPayloadError(f"{path}: binary data is not allowed in audit events")
    if hasattr(value, "__array__") or hasattr(value, "tobytes"):
        raise BiometricPayloadError(f"{path}: arrays are not allowed in audit events")
    # anything else (subclasses, objects, sets, numpy scalars ...) is refused: payloads are plain JSON
    raise BiometricPayloadError(f"{path}: {type(value).__name__} is not allowed in audit events")


# --- canonical form and hashes ------------------------------------------------------------------

def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def format_time(now: dt.datetime) -> str:
    if now.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return now.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


def body_of(seq: int, time: str, type_: str, actor: str, tenant: str | None, subject: str | None,
            payload_json: str) -> str:
    """Canonical body; ``payload_json`` is already canonical and is spliced in verbatim."""
    head = canonical({"actor": actor, "seq": seq, "subject": subject, "tenant": tenant, "time": time,
                      "type": type_})
    # keys sorted: actor, payload, seq, ... -> insert "payload" after "actor"
    actor_part_end = head.index(',"seq":')
    return head[:actor_part_end] + ',"payload":' + payload_json + head[actor_part_end:]


def digest_of(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def link(prev_hash: str, digest: str) -> str:
    return hashlib.sha256((prev_hash + digest).encode("ascii")).hexdigest()


def sign_head(key: bytes, seq: int, hash_: str) -> str:
    return hmac.new(key, f"trustface-audit-head:{seq}:{hash_}".encode("ascii"), hashlib.sha256).hexdigest()


def row_digest(row: dict) -> str:
    return digest_of(body_of(row["seq"], row["occurred_at"], row["type"], row["actor"], row["tenant_id"],
                             row["subject_id"], row["payload"]))


# --- verification -------------------------------------------------------------------------------

@dataclass
class ChainVerification:
    """The outcome of walking the whole chain: ``ok``, how many ``events`` linked, the seq of the
    first bad event (``first_bad``) with the ``reason``, and the seq the signed head names.

    (Not to be confused with the gallery's 1:1 match result, :class:`trustface.gallery.VerifyResult`.)"""

    ok: bool
    events: int
    first_bad: int | None = None
    reason: str = ""
    head_seq: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "events": self.events, "first_bad_seq": self.first_bad,
                "reason": self.reason, "head_seq": self.head_seq}


class SignedHead(Protocol):
    """The chain head as stored: the last seq, its hash and the HMAC signature over both."""

    seq: int
    hash: str
    signature: str


def verify_rows(rows: Iterable[dict[str, Any]], head: SignedHead | None, key: bytes) -> ChainVerification:
    """Walk the chain in seq order and check every link, then the signed head."""
    prev = GENESIS
    expected = 1
    count = 0
    for row in rows:
        seq = row["seq"]
        if seq != expected:
            if seq > expected:
                return ChainVerification(False, count, expected,
                                    f"event seq {expected} is missing (deleted or reordered); next is {seq}")
            return ChainVerification(False, count, seq, f"event seq {seq} out of order")  # pragma: no cover
        if row["type"] not in EVENT_TYPES:
            return ChainVerification(False, count, seq, f"event seq {seq} has unknown type {row['type']!r}")
        if row["prev_hash"] != prev:
            return ChainVerification(False, count, seq,
                                f"event seq {seq} does not link to event seq {seq - 1} (prev_hash mismatch)")
        try:
            json.loads(row["payload"])
            digest = row_digest(row)
        except (ValueError, TypeError):
            return ChainVerification(False, count, seq, f"event seq {seq} has an unreadable payload")
        if link(prev, digest) != row["hash"]:
            return ChainVerification(False, count, seq, f"event seq {seq} was altered (hash mismatch)")
        prev = row["hash"]
        expected += 1
        count += 1
    last = expected - 1
    if head is None:
        if count == 0:
            return ChainVerification(True, 0, head_seq=None)
        return ChainVerification(False, count, last, "the signed chain head is missing")
    if not hmac.compare_digest(sign_head(key, head.seq, head.hash), head.signature):
        return ChainVerification(False, count, head.seq, "the chain head signature is invalid (head edited)",
                            head_seq=head.seq)
    if head.seq > last:
        return ChainVerification(False, count, last + 1,
                            f"events after seq {last} are missing (truncated): the signed head is at seq "
                            f"{head.seq}", head_seq=head.seq)
    if head.seq < last:
        return ChainVerification(False, count, head.seq + 1,
                            f"event seq {head.seq + 1} is not covered by the signed head (appended outside "
                            f"trustface or head rolled back)", head_seq=head.seq)
    if head.hash != prev:
        return ChainVerification(False, count, head.seq, f"event seq {head.seq} does not match the signed head",
                            head_seq=head.seq)
    return ChainVerification(True, count, head_seq=head.seq)


# --- evidence bundles ---------------------------------------------------------------------------

@dataclass
class BundleCheck:
    ok: bool
    reason: str = ""
    events: int = 0
    details: list = field(default_factory=list)


def verify_bundle(bundle: dict, key: bytes | None = None) -> BundleCheck:
    """Recheck a subject evidence bundle without database access (a third party can run this).

    Recomputes each of the subject's events from its fields, checks it against the digest list,
    walks the digest list from ``start_prev_hash`` to the head hash. With ``key`` also checks the
    head signature (only the deployment holds the key).
    """
    events = {e["seq"]: e for e in bundle.get("events", [])}
    links = bundle.get("chain", [])
    if not events:
        return BundleCheck(True, "no events for this subject", 0)
    prev = bundle["start_prev_hash"]
    for entry in links:
        seq, digest = entry["seq"], entry["digest"]
        event = events.get(seq)
        if event is not None:
            row = dict(event)
            row["payload"] = canonical(event["payload"])
            if row_digest(row) != digest:
                return BundleCheck(False, f"event seq {seq}: contents do not match its digest")
            if event["prev_hash"] != prev:
                return BundleCheck(False, f"event seq {seq}: prev_hash does not link")
        prev = link(prev, digest)
        if event is not None and event["hash"] != prev:
            return BundleCheck(False, f"event seq {seq}: hash mismatch")
    covered = {e["seq"] for e in links}
    missing = sorted(set(events) - covered)
    if missing:
        return BundleCheck(False, f"event seq {missing[0]} is not in the chain proof")
    head = bundle["head"]
    if prev != head["hash"] or (links and links[-1]["seq"] != head["seq"]):
        return BundleCheck(False, "the chain proof does not end at the head")
    if key is not None and not hmac.compare_digest(sign_head(key, head["seq"], head["hash"]), head["signature"]):
        return BundleCheck(False, "head signature invalid")
    return BundleCheck(True, "ok", len(events))
