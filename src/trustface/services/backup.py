"""Backup and restore of a deployment, such that an erased face never comes back (R13, R14,
PIPL-47, GDPR-17, R21).

``backup(directory, out)``: while the server may be running, one file (a tar archive, mode 0600)
holding a consistent snapshot of the database (SQLite online backup API; ``pg_dump`` for
PostgreSQL) and ``manifest.json``: schema revision, audit head (seq, hash), creation time, the
key file's fingerprint, and the erasure log's position (length, head mac) at backup time. The key
file is **not** in the backup: keep it apart (a backup alone opens no template). The archive is
written to a temporary file in the target's folder, fsynced and renamed, so a killed backup
leaves no half-written FILE.

``restore(directory, archive, confirmed=True)`` (server stopped): checks the key file's
fingerprint, the archive, the schema revision and the erasure log; restores the snapshot into a
temporary file, migrates it to this code's schema, **replays every erasure-log line written
after the backup's position** (ending consents, deleting templates and kept photos, destroying
data keys; each replayed purge writes its deletion certificate), records a ``restored`` admin
event, and only then swaps the file in. A tampered or truncated log is refused; with ``force``
the lines that verify are replayed and the damage is named in the ``restored`` event.

Transaction rule: the backup writes nothing to the database (its write barrier only reads the
erasure log's position under the write lock); the restore's replay and its event are one
transaction on the restored copy, before the swap.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json
import os
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trustface import audit, config
from trustface.db import migrate, snapshot
from trustface.db.session import make_engine, make_sessionmaker
from trustface.deployment import KEY_FILE, Keys, load_keys
from trustface.errors import TrustfaceError
from trustface.gallery import erasure_log
from trustface.policy import codes
from trustface.services.restore_replay import replay

FORMAT = "trustface-backup/1"
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database.sqlite"
PG_MEMBER = "database.pgdump"
RESTORE_ACTOR = "system:restore"
SCRATCH_PREFIX = ".trustface-backup-"


def _fail(message: str) -> TrustfaceError:
    return TrustfaceError(codes.E_DEPLOYMENT, message)


def key_fingerprint(keys: Keys) -> str:
    """A one-way fingerprint of the key file's secrets (names the key file, reveals nothing)."""
    h = hashlib.sha256(b"trustface/key-fingerprint/1|")
    h.update(keys.audit_hmac_key + b"|" + keys.tenant_kek_seed)
    return h.hexdigest()


def sign_manifest(manifest: dict[str, Any], keys: Keys) -> dict[str, Any]:
    """The manifest with ``manifest_mac``: HMAC-SHA256 under a key derived from the key file, so
    that its erasure-log position, audit head and database digest cannot be edited without it."""
    body = {k: v for k, v in manifest.items() if k != "manifest_mac"}
    key = hmac.new(keys.audit_hmac_key, b"trustface/backup-manifest/1", hashlib.sha256).digest()
    mac = hmac.new(key, json.dumps(body, sort_keys=True, separators=(",", ":")).encode(), hashlib.sha256)
    return {**body, "manifest_mac": mac.hexdigest()}


@dataclass(frozen=True)
class BackupReport:
    path: str
    manifest: dict[str, Any]


@dataclass(frozen=True)
class RestoreReport:
    database: str
    manifest: dict[str, Any]
    replayed: int
    certificate_ids: tuple[str, ...]
    audit_seq: int
    log_problem: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"database": self.database, "backup_created_at": self.manifest.get("created_at"),
                "backup_audit_head_seq": self.manifest.get("audit_head_seq"), "replayed": self.replayed,
                "certificate_ids": list(self.certificate_ids), "audit_seq": self.audit_seq,
                "erasure_log_problem": self.log_problem}


def _log(directory: Path, keys: Keys) -> tuple[Path, bytes]:
    return directory / erasure_log.LOG_FILE, erasure_log.log_key(keys.audit_hmac_key)


@contextmanager
def _scratch(folder: Path) -> Iterator[Path]:
    """A private temporary folder (mode 0700) in ``folder``, on the target's file system, removed
    afterwards; the folders a killed run left there (its process gone) are removed first."""
    _remove_stale_scratch(folder)
    tmp = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=folder))
    try:
        yield tmp
    finally:
        _remove(tmp)


def _remove(tmp: Path) -> None:
    for child in tmp.iterdir():
        child.unlink()
    tmp.rmdir()


def _remove_stale_scratch(folder: Path) -> None:
    for tmp in folder.glob(f"{SCRATCH_PREFIX}*-*"):
        pid = tmp.name[len(SCRATCH_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or not tmp.is_dir() or tmp.is_symlink():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            _remove(tmp)
        except PermissionError:
            continue


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup(directory: Path | None, out: Path, *, database_url: str | None = None,
           now: dt.datetime | None = None) -> BackupReport:
    """Write a backup of the deployment in ``directory`` to ``out`` (see the module docstring)."""
    directory = config.deployment_dir(directory)
    keys = load_keys(directory)
    url = database_url or config.database_url(directory)
    out = Path(out)
    if out.exists() and out.is_dir():
        raise _fail(f"{out} is a folder; name the backup file to write")
    if not out.parent.is_dir():
        raise _fail(f"the folder {out.parent} does not exist")
    if out.resolve().parent == directory.resolve():
        raise _fail(f"write the backup outside the deployment folder {directory} (it sits beside the key file)")
    log_path, log_key = _log(directory, keys)
    engine = make_engine(url)
    try:
        with _scratch(out.parent) as tmp:
            try:
                with snapshot.write_barrier(url, engine):
                    log_length, log_head = erasure_log.position(log_path, log_key)
                db_file = snapshot.sqlite_file(url)
                if db_file is not None:
                    member, db_path = SQLITE_MEMBER, tmp / SQLITE_MEMBER
                    snapshot.copy_sqlite(db_file, db_path)
                    facts = snapshot.describe_sqlite(db_path)
                else:
                    member, db_path = PG_MEMBER, tmp / PG_MEMBER
                    facts = snapshot.describe(engine)
                    snapshot.dump_postgres(url, db_path)
            except erasure_log.ErasureLogError as exc:
                raise _fail(f"{exc}; no backup was written (a backup must know where the log stood)") from None
            except snapshot.SnapshotError as exc:
                raise _fail(str(exc)) from None
            manifest = {
                "format": FORMAT, "created_at": (now or audit.utcnow()).isoformat(),
                "database": "sqlite" if db_file is not None else "postgresql", "member": member,
                "member_sha256": _sha256(db_path), "schema_revision": facts.schema_revision,
                "audit_head_seq": facts.audit_head_seq, "audit_head_hash": facts.audit_head_hash,
                "key_fingerprint": key_fingerprint(keys), "key_file_included": False,
                "erasure_log_length": log_length, "erasure_log_head": log_head,
            }
            manifest = sign_manifest(manifest, keys)
            _write_archive(tmp, out, manifest, db_path, member)
    finally:
        engine.dispose()
    return BackupReport(str(out), manifest)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_archive(tmp: Path, out: Path, manifest: dict[str, Any], db_path: Path, member: str) -> None:
    """Write the tar to a temporary file beside ``out``, fsync it, rename it over ``out``."""
    partial = tmp / "archive.partial"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        with tarfile.open(fileobj=fh, mode="w") as tar:
            data = json.dumps(manifest, indent=2, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode = len(data), 0o600
            tar.addfile(info, io.BytesIO(data))
            tar.add(db_path, arcname=member)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(partial, out)
    _fsync_dir(out.parent)


# --- restore -----------------------------------------------------------------------------------------

def read_manifest(archive: Path) -> dict[str, Any]:
    """The manifest of a backup file; E_DEPLOYMENT with one sentence when it is not one."""
    if not Path(archive).is_file():
        raise _fail(f"the backup file {archive} does not exist or is not a file")
    try:
        with tarfile.open(archive, mode="r") as tar:
            fh = tar.extractfile(MANIFEST)
            manifest = json.loads(fh.read()) if fh is not None else None
    except (tarfile.TarError, KeyError, ValueError, OSError, EOFError):
        raise _fail(f"{archive} is not a readable trustface backup (corrupt or truncated archive)") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _fail(f"{archive} is not a trustface backup of format {FORMAT}")
    return manifest


def _extract(archive: Path, manifest: dict[str, Any], dest: Path) -> None:
    member = manifest.get("member")
    try:
        with tarfile.open(archive, mode="r") as tar:
            src = tar.extractfile(str(member))
            if src is None:
                raise KeyError(member)
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                while block := src.read(1 << 20):
                    fh.write(block)
                fh.flush()
                os.fsync(fh.fileno())
    except (tarfile.TarError, KeyError, OSError, EOFError):
        raise _fail(f"{archive} is not a readable trustface backup (its database is missing or truncated)") from None
    if _sha256(dest) != manifest.get("member_sha256"):
        raise _fail(f"the database in {archive} does not match its manifest (corrupt or altered backup)")


def _replay_from(directory: Path, keys: Keys, manifest: dict[str, Any],
                 force: bool) -> tuple[list[dict[str, Any]], str | None]:
    """The erasure-log lines to replay and the log's problem (None when it verifies)."""
    path, key = _log(directory, keys)
    start = int(manifest.get("erasure_log_length") or 0)
    problem = None
    try:
        state = erasure_log.read(path, key)
        entries = state.entries
    except erasure_log.ErasureLogError as exc:
        problem, entries = str(exc), exc.verified
    if problem is None:
        if len(entries) < start:
            problem = (f"the erasure log {path} has {len(entries)} lines but had {start} when the backup was made "
                       "(truncated or replaced)")
        elif erasure_log.LogState(entries).mac_at(start) != manifest.get("erasure_log_head"):
            problem = f"the erasure log {path} does not match the backup's position (line {start}): replaced or rewritten"
    if problem is not None and not force:
        raise _fail(f"{problem}; nothing was restored (with --force the lines that verify are replayed)")
    if problem is not None:  # forced: replay every verified line, from the start when the position is lost
        ok_position = len(entries) >= start and erasure_log.LogState(entries).mac_at(start) == manifest.get(
            "erasure_log_head")
        return (entries[start:] if ok_position else entries), problem
    return entries[start:], None


def restore(directory: Path | None, archive: Path, *, confirmed: bool, force: bool = False, actor: str = RESTORE_ACTOR,
            database_url: str | None = None, now: dt.datetime | None = None) -> RestoreReport:
    """Restore ``archive`` into the deployment in ``directory`` (see the module docstring)."""
    if not confirmed:
        raise _fail("restore replaces the deployment's database: stop the server, then run it again with --yes")
    directory = config.deployment_dir(directory)
    keys = load_keys(directory)
    manifest = read_manifest(Path(archive))
    if manifest.get("key_fingerprint") != key_fingerprint(keys):
        raise _fail(f"the key file {directory / KEY_FILE} is not the one this backup was made with "
                    "(fingerprints differ); restore with the backup's own key file")
    if not hmac.compare_digest(str(manifest.get("manifest_mac")), sign_manifest(manifest, keys)["manifest_mac"]):
        raise _fail(f"the manifest of {archive} does not verify under this key file (an altered backup)")
    revision = str(manifest.get("schema_revision") or "")
    if not snapshot.known_revision(revision):
        raise _fail(f"the backup's schema revision {revision or '(none)'} is unknown to this trustface "
                    "(made by a newer release?); upgrade trustface first")
    url = database_url or config.database_url(directory)
    live = snapshot.sqlite_file(url)
    if live is None or manifest.get("database") != "sqlite":
        raise _fail("only SQLite deployments can be restored by this command; for PostgreSQL restore the "
                    "pg_dump file with pg_restore (see docs/reliability.md)")
    entries, problem = _replay_from(directory, keys, manifest, force)
    live.parent.mkdir(parents=True, exist_ok=True)
    with _scratch(live.parent) as tmp:
        copy = tmp / "restored.sqlite"
        _extract(Path(archive), manifest, copy)
        try:
            snapshot.check_sqlite(copy)
            facts = snapshot.describe_sqlite(copy)
        except snapshot.SnapshotError as exc:
            raise _fail(str(exc)) from None
        if (facts.audit_head_seq, facts.audit_head_hash) != (manifest.get("audit_head_seq"),
                                                            manifest.get("audit_head_hash")):
            raise _fail("the backed-up database's audit head differs from its manifest (altered backup)")
        report = _replay_into(copy, keys, manifest, entries, problem, force=force, actor=actor,
                              now=now or audit.utcnow())
        snapshot.settle_sqlite(copy)
        _swap(copy, live)
    return RestoreReport(str(live), manifest, report[0], tuple(report[1]), report[2], problem)


def _replay_into(copy: Path, keys: Keys, manifest: dict[str, Any], entries: list[dict[str, Any]],
                 problem: str | None, *, force: bool, actor: str, now: dt.datetime) -> tuple[int, list[str], int]:
    engine = make_engine(f"sqlite:///{copy}")
    try:
        migrate.upgrade(engine)
        factory = make_sessionmaker(engine, audit_key=keys.audit_hmac_key)  # no erasure log: replays are not re-logged
        with factory() as s:
            checked = audit.verify(s)
            if not checked.ok:
                raise _fail(f"the backed-up audit trail does not verify (first bad event {checked.first_bad}); "
                            "nothing was restored")
            certificates: list[str] = []
            for entry in entries:
                certificates += replay(s, entry, actor=actor, now=now)
            seq = audit.record(s, "admin", actor=actor, now=now, payload={
                "action": "restored", "backup_created_at": manifest.get("created_at"),
                "backup_audit_head_seq": manifest.get("audit_head_seq"),
                "erasure_log_from": manifest.get("erasure_log_length"), "replayed": len(entries),
                "replayed_certificate_ids": certificates[:200], "erasure_log_problem": problem, "forced": force,
                "note": "events written after the backup in the replaced database are not in this trail"})
            s.commit()
        return len(entries), certificates, seq
    finally:
        engine.dispose()


def _swap(copy: Path, live: Path) -> None:
    """Move the restored copy over the live file: fold the live file's WAL first (when it opens),
    drop its ``-wal``/``-shm`` (they belong to the old file), then one rename."""
    if live.exists():
        try:
            snapshot.settle_sqlite(live)
        except Exception:  # noqa: BLE001 - a damaged live database is what a restore replaces
            pass
    for suffix in ("-wal", "-shm"):
        Path(str(live) + suffix).unlink(missing_ok=True)
    os.chmod(copy, 0o600)
    os.replace(copy, live)
    _fsync_dir(live.parent)
