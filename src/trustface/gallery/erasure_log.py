"""The erasure log: every erasure and purge of face data, kept outside the database so that a
restored backup can never bring an erased face back (R13, R14, PIPL-47, GDPR-17).

Deleting a subject's wrapped data key shreds the templates of the *live* database only: a backup
taken earlier still holds the wrapped key, and the key file still unwraps it. So every purge also
appends one line to ``erasure.log`` beside the key file; ``trustface restore`` replays every line
written after the backup was taken (:mod:`trustface.services.backup`).

Format: one JSON object per line (mode 0600, append-only), holding only ids, modes, the reason,
the subject's key version, times and the deletion certificate ids, never a template, a photo or a
name. Each line carries ``n`` (1, 2, ...), ``prev`` (the previous line's ``mac``; 64 zeros for the
first) and ``mac`` = HMAC-SHA256(log key, prev || canonical body), the log key derived from the key
file's audit key: a line edited, dropped, reordered or inserted without the key file breaks the chain.

Order (write-ahead): the lines of a transaction are appended and **fsynced in the session's
``before_commit``**, i.e. before the database commit starts. If the process dies between the two,
the log names a purge the database never committed; a restore then replays it (idempotent: it
deletes what is left and ends the consent), which errs towards erasure. The other order could lose
a committed erasure from the log, and a restore would resurrect that face. A rolled-back
transaction writes nothing: its lines are dropped on rollback before they are written.

Sessions opened through :class:`trustface.deployment.Deployment` carry the log's path in
``session.info[LOG_INFO_KEY]``; a session without it (a restore's replay, a bare test session)
logs nothing.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from trustface.db import audit_store, gallery_store
from trustface.db.write_ahead import before_commit
from trustface.errors import TrustfaceError
from trustface.policy import codes

LOG_FILE = "erasure.log"
LOG_INFO_KEY = "erasure_log"
FORMAT = "trustface-erasure-log/1"
GENESIS = "0" * 64
_PENDING = "_tf_erasure_pending"
_LISTENING = "_tf_erasure_listening"
#: the only fields a line may carry (checked when written and when read)
FIELDS = frozenset({"n", "at", "event", "tenant_id", "subject_id", "purpose_id", "mode", "reason", "key_version",
                    "certificate_ids", "prev", "mac"})
EVENTS = ("purge", "gallery_erased", "subject_erased")


class ErasureLogError(Exception):
    """The erasure log is unreadable, tampered with or truncated; ``verified`` lines verify."""

    def __init__(self, message: str, verified: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.verified = verified


def log_key(audit_key: bytes) -> bytes:
    """The HMAC key of the log's chain, derived from the key file's audit key."""
    return hmac.new(audit_key, b"trustface/erasure-log/1", hashlib.sha256).digest()


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _mac(key: bytes, prev: str, body: dict[str, Any]) -> str:
    return hmac.new(key, prev.encode() + b"|" + _canonical(body), hashlib.sha256).hexdigest()


# --- noting purges in a transaction -----------------------------------------------------------------

@dataclass
class _Pending:
    body: dict[str, Any]
    after_seq: int                      # the audit head when the purge ran: its certificate comes later
    certificate_ids: list[str] = field(default_factory=list)


def note(session: Session, event_name: str, *, subject_id: str, tenant_id: str | None = None,
         purpose_id: str | None = None, mode: str | None = None, reason: str | None = None,
         key_version: int | None = None, certificate_ids: list[str] | None = None,
         now: dt.datetime | None = None) -> None:
    """Remember a purge of this transaction; it is appended (and fsynced) when the session commits.
    Does nothing in a session that carries no log path."""
    if session.info.get(LOG_INFO_KEY) is None:
        return
    if event_name not in EVENTS:
        raise ValueError(f"unknown erasure-log event {event_name!r}")
    before_commit(session, _LISTENING, before=_write_pending, dropped=_drop_pending)
    if key_version is None:
        skey = gallery_store.subject_key(session, subject_id)
        key_version = None if skey is None else int(skey.key_version)
    at = (now or dt.datetime.now(dt.timezone.utc)).isoformat()
    body = {"event": event_name, "at": at, "tenant_id": tenant_id, "subject_id": subject_id,
            "purpose_id": purpose_id, "mode": mode, "reason": reason, "key_version": key_version}
    session.info.setdefault(_PENDING, []).append(
        _Pending(body, audit_store.lock_head(session).seq, list(certificate_ids or [])))


def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _certificates(session: Session, p: _Pending) -> list[str]:
    """The deletion certificates written for a purge after it ran (same subject, purpose and mode)."""
    if p.certificate_ids:
        return p.certificate_ids
    out = []
    for row in audit_store.events_page(session, tenant_id=None, after_seq=p.after_seq, limit=1000,
                                       subject_id=p.body["subject_id"]):
        if row["type"] != "deletion":
            continue
        payload = json.loads(row["payload"])
        if payload.get("purpose_id") == p.body["purpose_id"] and payload.get("mode") == p.body["mode"]:
            out.append(str(payload.get("certificate_id")))
            break
    return out


def _write_pending(session: Session) -> None:
    pending: list[_Pending] | None = session.info.pop(_PENDING, None)
    path = session.info.get(LOG_INFO_KEY)
    if not pending or path is None:
        return
    key = log_key(session.info["audit_key"])
    bodies = [{**p.body, "certificate_ids": _certificates(session, p)} for p in pending]
    try:
        append(Path(path), key, bodies)
    except (OSError, ValueError) as exc:  # the commit does not happen: no erasure without its line
        raise TrustfaceError(codes.E_PURGE_UNAVAILABLE,
                             f"the erasure log {path} could not be written ({type(exc).__name__}); nothing was "
                             "deleted and no deletion certificate was written") from exc


# --- the file ---------------------------------------------------------------------------------------

def append(path: Path, key: bytes, bodies: list[dict[str, Any]]) -> int:
    """Append lines (chained to the last whole line) under an exclusive lock, fsync the file (and the
    folder when the file is new); returns the new length. A torn last line (a crash mid-append,
    before the fsync the commit waits for, so its purge never committed) is cut off first."""
    created = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        n, prev, end = _tail(fd)
        os.ftruncate(fd, end)
        os.lseek(fd, end, os.SEEK_SET)
        lines = []
        for body in bodies:
            n += 1
            entry = {k: v for k, v in body.items() if k not in ("n", "prev", "mac")}
            entry.update(n=n, prev=prev)
            unknown = set(entry) - FIELDS
            if unknown:
                raise ValueError(f"erasure-log lines carry ids only, not {sorted(unknown)}")
            entry["mac"] = prev = _mac(key, prev, entry)
            lines.append(json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n")
        os.write(fd, "".join(lines).encode())
        os.fsync(fd)
    finally:
        os.close(fd)  # closing drops the lock
    if created:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    return n


def _tail(fd: int) -> tuple[int, str, int]:
    """(n, mac, byte length) of the last whole line of the open log (0, GENESIS, 0 when empty)."""
    size = os.lseek(fd, 0, os.SEEK_END)
    if size == 0:
        return 0, GENESIS, 0
    chunk = min(size, 8192)
    while True:
        os.lseek(fd, size - chunk, os.SEEK_SET)
        data = os.read(fd, chunk)
        end = data.rfind(b"\n")
        start = data.rfind(b"\n", 0, end) if end >= 0 else -1
        if (end >= 0 and start >= 0) or chunk == size:
            break
        chunk = min(size, chunk * 2)
    if end < 0:
        return 0, GENESIS, 0
    last = json.loads(data[start + 1:end])
    return int(last["n"]), str(last["mac"]), size - chunk + end + 1


@dataclass(frozen=True)
class LogState:
    """The verified lines of the log and its head (length and last mac). ``torn_tail``: the file
    ended in a partial line (a crash mid-append, before the fsync its commit waited for: that purge
    never committed), which is left out."""

    entries: list[dict[str, Any]]
    torn_tail: bool = False

    @property
    def length(self) -> int:
        return len(self.entries)

    @property
    def head(self) -> str:
        return str(self.entries[-1]["mac"]) if self.entries else GENESIS

    def mac_at(self, n: int) -> str:
        return GENESIS if n == 0 else str(self.entries[n - 1]["mac"])


def read(path: Path, key: bytes) -> LogState:
    """Every line of the log, verified in order. ErasureLogError (with the lines that verify before
    the first bad one) on a line that does not parse, is out of order, or breaks the chain."""
    if not path.exists():
        return LogState([])
    entries: list[dict[str, Any]] = []
    prev = GENESIS
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.endswith(b"\n"):
                return LogState(entries, torn_tail=True)
            problem = None
            try:
                entry = json.loads(raw)
                if not isinstance(entry, dict) or set(entry) - FIELDS:
                    problem = "carries unknown fields"
                elif entry.get("n") != number:
                    problem = f"is numbered {entry.get('n')!r} (a line was dropped, added or moved)"
                elif entry.get("prev") != prev or not hmac.compare_digest(
                        str(entry.get("mac")), _mac(key, prev, {k: v for k, v in entry.items() if k != "mac"})):
                    problem = "does not verify (edited, or chained to another line)"
            except (ValueError, UnicodeDecodeError):
                problem = "is not a JSON object"
            if problem:
                raise ErasureLogError(f"line {number} of the erasure log {path} {problem}", entries)
            entries.append(entry)
            prev = str(entry["mac"])
    return LogState(entries)


def position(path: Path, key: bytes) -> tuple[int, str]:
    """(length, head mac) of the log as it is now: the position a backup records."""
    state = read(path, key)
    return state.length, state.head
