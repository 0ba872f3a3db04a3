"""What is stored and for how long: every purpose has a finite retention and no purge is overdue
(R13); no face photo is kept outside a written image consent, only protected templates (R9, R17)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from trustface.compliance.checks.context import FAIL, PASS, SAMPLE, WARN, Context, Result, sample
from trustface.db import compliance_store
from trustface.policy import retention

#: binary columns that hold protected templates and wrapped keys, never images (gallery, R9)
EXPECTED_BINARY = frozenset({"gallery_templates.ciphertext", "gallery_subject_keys.wrapped_key",
                             "gallery_images.ciphertext"})
#: photos kept under a written image consent (R9) are larger than a template by nature
PHOTO_COLUMNS = frozenset({"gallery_images.ciphertext"})
#: a sealed template: 128 float32 + 12-byte nonce + 16-byte tag = 540 bytes; anything far larger is not one
MAX_TEMPLATE_BYTES = 4096
#: magic numbers of image formats a camera or an export might leave behind
IMAGE_MAGIC = ((b"\xff\xd8\xff", "jpeg"), (b"\x89PNG\r\n\x1a\n", "png"), (b"GIF8", "gif"), (b"BM", "bmp"),
               (b"II*\x00", "tiff"), (b"MM\x00*", "tiff"))
#: the image scan of the deployment folder stops after this many files
MAX_FILES_SCANNED = 20000


def retention_check(ctx: Context) -> Result:
    cap = ctx.profile.max_retention_days
    unbounded = [p for p in ctx.purposes if not p.retention_days or p.retention_days <= 0 or p.retention_days > cap]
    overdue = []
    for c, s, p in ctx.active_consents:
        end, why = retention.end_of(c, s, p, ctx.site)
        if end <= ctx.now:
            overdue.append((c, s, end, why))
    runs = compliance_store.events(ctx.session, types=["admin"], actions=["retention_run"], limit=1, newest_first=True)
    certs = [e for e in ctx.events(["deletion"]) if e["payload"].get("purpose_id") in ctx.purposes_by_id]
    evidence: dict[str, Any] = {"profile_cap_days": cap,
                                "retention_days": {p.name: p.retention_days for p in ctx.purposes},
                                "unbounded_purposes": [p.name for p in unbounded],
                                "sample_purpose_ids": sample(p.id for p in unbounded),
                                "overdue_consents": len(overdue),
                                "most_overdue_days": max(((ctx.now - o[2]).days for o in overdue), default=0),
                                "sample_consent_ids": sample(o[0].id for o in overdue),
                                "sample_subject_ids": sample(o[1].id for o in overdue),
                                "deletion_certificates": len(certs),
                                "audit_seqs": ([runs[0]["seq"]] if runs else []) + [e["seq"] for e in certs][-SAMPLE:]}
    if unbounded or overdue:
        parts = []
        if unbounded:
            parts.append(f"{len(unbounded)} purposes have no finite retention within the {ctx.profile.id} cap of {cap} "
                         f"days: {', '.join(f'{p.name} ({p.retention_days} days)' for p in unbounded)}")
        if overdue:
            parts.append(f"{len(overdue)} consents are past their end and not purged")
        evidence["summary"] = "; ".join(parts)
        fix = []
        if unbounded:
            fix.append(f"set a finite retention of at most {cap} days for {', '.join(p.name for p in unbounded)}")
        if overdue:
            fix.append("run `trustface retention run` now and schedule it daily")
        return Result(FAIL, evidence, "; ".join(fix).capitalize() + ".")
    evidence["summary"] = (f"{len(ctx.purposes)} purposes with finite retention (at most "
                           f"{max((p.retention_days for p in ctx.purposes), default=0)} days); no purge is overdue")
    return Result(PASS, evidence)


#: files the scan never opens: the database and its journals (closing any handle on a SQLite file
#: drops the process's POSIX locks on it, and a running server then loses committed writes), the
#: key file and the erasure log (secrets and a record, not photos)
NEVER_OPENED_SUFFIXES = (".db", ".db-wal", ".db-shm", ".db-journal", ".sqlite", ".sqlite3", "-wal", "-shm",
                         "-journal", ".key", ".log", ".jsonl")


def never_opened(name: str) -> bool:
    """Whether the deployment-folder scan must not open the file ``name`` (by its name alone)."""
    return name.lower().endswith(NEVER_OPENED_SUFFIXES)


def _scan_images(directory: Path) -> tuple[int, list[str], int]:
    """Image files lying in the deployment folder (photos kept outside the encrypted gallery).
    Files are recognised by their first bytes; the database files are never opened."""
    found: list[str] = []
    scanned = 0
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if never_opened(name):
                continue
            scanned += 1
            if scanned > MAX_FILES_SCANNED:
                return scanned, found, len(found)
            path = Path(root) / name
            try:
                if not stat.S_ISREG(path.lstat().st_mode):
                    continue
                with open(path, "rb") as fh:
                    head = fh.read(12)
            except OSError:
                continue
            if any(head.startswith(m) for m, _ in IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
                found.append(str(path.relative_to(directory)))
    return scanned, found, len(found)


def photos_kept(ctx: Context) -> Result:
    stats = compliance_store.binary_column_stats(ctx.session)
    unexpected = sorted(set(stats) - EXPECTED_BINARY)
    oversized = {k: v[1] for k, v in stats.items() if v[1] > MAX_TEMPLATE_BYTES and k not in PHOTO_COLUMNS}
    enrolments = ctx.site_events(["enrolment"])
    stored = [e["seq"] for e in enrolments if e["payload"].get("photos_stored")]
    kept, without_consent = compliance_store.kept_photos(ctx.session, ctx.purposes_by_id)
    refused = [e["seq"] for e in ctx.site_events(["denial", "admin"]) if "IMAGE_RETENTION" in json.dumps(e["payload"])]
    evidence: dict[str, Any] = {"binary_columns": {k: {"rows": v[0], "largest_bytes": v[1]} for k, v in stats.items()},
                                "unexpected_binary_columns": unexpected, "oversized_binary_values": oversized,
                                "enrolments": len(enrolments),
                                "photos_used_for_enrolment": sum(int(e["payload"].get("photos") or 0) for e in enrolments),
                                "enrolments_that_stored_photos": len(stored), "audit_seqs": (stored + refused)[:SAMPLE],
                                "photos_kept_encrypted": kept, "subjects_with_photos_but_no_image_consent": len(without_consent),
                                "sample_subject_ids": without_consent[:SAMPLE]}
    if ctx.directory is not None:
        scanned, images, count = _scan_images(ctx.directory)
        evidence.update({"deployment_files_scanned": scanned, "image_files": count, "sample_image_files": images[:SAMPLE]})
    else:
        images = []
        evidence["deployment_files_scanned"] = None
    problems = []
    if images:
        problems.append(f"{len(images)} image files lie in the deployment folder (e.g. {images[0]})")
    if unexpected:
        problems.append(f"binary columns beyond templates and wrapped keys: {', '.join(unexpected)}")
    if oversized:
        problems.append(f"binary values larger than a protected template: {', '.join(oversized)}")
    if without_consent:
        problems.append(f"photos are kept for {len(without_consent)} subjects without a current written image "
                        "consent")
    if problems:
        evidence["summary"] = "; ".join(problems)
        return Result(FAIL, evidence, "Delete the stored face images and whatever writes them; keep photos only "
                                      "under a separate written image consent (mode keep_photo), sealed in the "
                                      "gallery.")
    where = "" if ctx.directory is not None else " (deployment folder not scanned)"
    kept_note = (f"{kept} photos kept sealed, each under a current written image consent" if kept
                 else "no photos kept")
    evidence["summary"] = (f"{kept_note}; {evidence['photos_used_for_enrolment']} enrolment photos became templates"
                           f"{' and were discarded' if not kept else ''}; no image file in the deployment "
                           f"folder{where}")
    return Result(PASS if ctx.directory is not None else WARN, evidence,
                  None if ctx.directory is not None else "Assess with the deployment folder to scan it for images.")
