"""`trustface backup` / `trustface restore` as an operator runs them (real processes, real SQLite
files, the real model): an erased face never comes back from a backup (issue 18 §3; R13, R14, R21,
PIPL-47, GDPR-17)."""

from __future__ import annotations

import io
import json
import sqlite3
import tarfile

import pytest
from conftest import file_mode, one_line_error

import trustface
from trustface import demo
from trustface.db import audit_store, gallery_store, repo
from trustface.deployment import load_keys
from trustface.services import backup as backups
from trustface.services import consents, faces, rights


def _identify(site, photo):
    ctx = trustface.open_deployment(site["dir"])
    try:
        return faces.identify(ctx, trustface.local_caller("admin:test"), site["world"]["site_id"], photo,
                              purpose=demo.PURPOSE)
    finally:
        ctx.deployment.close()


def _with_manifest(archive, dest, change):
    """A copy of the backup with its manifest changed by ``change``."""
    with tarfile.open(archive) as src, tarfile.open(dest, "w") as dst:
        for member in src.getmembers():
            fh = src.extractfile(member)
            if member.name == "manifest.json":
                body = json.dumps(change(json.loads(fh.read()))).encode()
                member.size, fh = len(body), io.BytesIO(body)
            dst.addfile(member, fh)
    return dest


def _backup_counts(archive, tmp_path, subject_id):
    """(templates, data keys) of a subject inside the backup's database."""
    peek = tmp_path / "peek"
    with tarfile.open(archive) as tar:
        tar.extract("database.sqlite", peek, filter="data")
    with sqlite3.connect(peek / "database.sqlite") as conn:
        t = conn.execute("SELECT count(*) FROM gallery_templates WHERE subject_id = ?", (subject_id,)).fetchone()[0]
        k = conn.execute("SELECT count(*) FROM gallery_subject_keys WHERE subject_id = ?", (subject_id,)).fetchone()[0]
    return t, k


def test_an_erased_face_does_not_come_back_from_a_backup(site, tf, examples, tmp_path):
    d, a, b = site["dir"], site["A"], site["B"]
    assert _identify(site, examples / "obama2.jpg").candidates[0].subject_id == a
    archive = tmp_path / "nightly.tar"
    done = tf("backup", "--dir", d, "--out", archive, "--json")
    assert done.returncode == 0, done.stderr
    manifest = json.loads(done.stdout)
    assert manifest["key_file_included"] is False and manifest["schema_revision"]
    assert manifest["audit_head_seq"] > 0 and len(manifest["audit_head_hash"]) == 64
    assert manifest["erasure_log_length"] == 0 and file_mode(archive) == 0o600
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["database.sqlite", "manifest.json"]  # never the key file
    assert _backup_counts(archive, tmp_path, a) == (2, 1)  # the backup holds A's face and key

    # after the backup: A asks for erasure, B withdraws the identify consent
    ctx = trustface.open_deployment(d)
    me = trustface.local_caller("admin:test")
    try:
        erased = rights.erase(ctx, me, a)
        consents.withdraw_purpose(ctx, me, b, site_id=site["world"]["site_id"], purpose=demo.PURPOSE,
                                  mode="identify", channel="app")
    finally:
        ctx.deployment.close()
    log = d / "erasure.log"
    assert file_mode(log) == 0o600
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert {ln["event"] for ln in lines} == {"purge", "gallery_erased", "subject_erased"}
    assert erased.certificate_id in {c for ln in lines for c in ln["certificate_ids"]}
    assert all(set(ln) <= {"n", "at", "event", "tenant_id", "subject_id", "purpose_id", "mode", "reason",
                           "key_version", "certificate_ids", "prev", "mac"} for ln in lines)
    withdrawal = [ln for ln in lines if ln["subject_id"] == b]
    assert [(ln["mode"], ln["reason"]) for ln in withdrawal] == [("identify", "withdrawn")]
    assert withdrawal[0]["certificate_ids"] and withdrawal[0]["key_version"] == 1

    refused = tf("restore", "--dir", d, archive)
    assert "--yes" in one_line_error(refused)
    restored = tf("restore", "--dir", d, archive, "--yes", "--json")
    assert restored.returncode == 0, restored.stderr
    report = json.loads(restored.stdout)
    assert report["replayed"] == len(lines) and report["erasure_log_problem"] is None

    # the erased face is not identified, its templates and key are gone; B's identify templates went again
    assert _identify(site, examples / "obama2.jpg").unknown
    with trustface.Deployment(d) as dep, dep.session() as s:
        assert gallery_store.count_templates(s, a) == 0 and gallery_store.subject_key(s, a) is None
        assert repo.subject_identity(s, a) is None
        b_rows = gallery_store.templates_of_subject(s, b)
        assert {r.mode for r in b_rows} == {"verify"}  # verify consent stands, identify purged again
        assert repo.active_consent(s, b, site["world"]["purpose_id"], "identify") is None
        admin = [json.loads(e["payload"]) for e in audit_store.events_of_type(s, "admin")]
        assert admin[-1]["action"] == "restored" and admin[-1]["replayed"] == len(lines)
        deletions = audit_store.events_of_type(s, "deletion")
        assert {e["subject_id"] for e in deletions if e["seq"] > manifest["audit_head_seq"]} == {a, b}
        s.rollback()
    verified = tf("audit", "verify", "--dir", d)
    assert verified.returncode == 0, verified.stderr
    # the restore did not log its replays again: the log is as it was
    assert [json.loads(line) for line in log.read_text().splitlines()] == lines


def test_restore_refuses_a_wrong_key_file_a_corrupt_archive_and_a_newer_schema(site, tf, tmp_path, examples):
    d = site["dir"]
    archive = tmp_path / "b.tar"
    assert tf("backup", "--dir", d, "--out", archive).returncode == 0
    other = tmp_path / "other"
    trustface.init_deployment(other)
    assert "not the one this backup was made with" in one_line_error(tf("restore", "--dir", other, archive, "--yes"))

    assert "does not exist" in one_line_error(tf("restore", "--dir", d, tmp_path / "nope.tar", "--yes"))
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    assert "backup" in one_line_error(tf("restore", "--dir", d, truncated, "--yes"))
    flipped = tmp_path / "flipped.tar"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    flipped.write_bytes(bytes(data))
    assert "corrupt" in one_line_error(tf("restore", "--dir", d, flipped, "--yes"))
    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(b"not a tar at all" * 100)
    assert "not a readable trustface backup" in one_line_error(tf("restore", "--dir", d, garbage, "--yes"))

    # a backup of a newer release (signed with this key file) is refused; an edited manifest is refused
    keys = load_keys(d)
    newer = _with_manifest(archive, tmp_path / "newer.tar",
                           lambda m: backups.sign_manifest({**m, "schema_revision": "9999_from_the_future"}, keys))
    assert "upgrade trustface first" in one_line_error(tf("restore", "--dir", d, newer, "--yes"))
    edited = _with_manifest(archive, tmp_path / "edited.tar", lambda m: {**m, "erasure_log_length": 99})
    assert "altered backup" in one_line_error(tf("restore", "--dir", d, edited, "--yes"))
    assert "outside the deployment folder" in one_line_error(tf("backup", "--dir", d, "--out", d / "b.tar"))
    assert "no trustface deployment" in one_line_error(tf("backup", "--dir", tmp_path / "none", "--out", tmp_path / "x"))
    # nothing was touched: A is still identified
    assert _identify(site, examples / "obama2.jpg").candidates[0].subject_id == site["A"]


def _lines(log):
    return log.read_text().splitlines(keepends=True)


def test_a_tampered_or_truncated_erasure_log_is_refused_and_force_replays_what_verifies(site, tf, tmp_path, examples):
    d, a, b = site["dir"], site["A"], site["B"]
    ctx = trustface.open_deployment(d)
    me = trustface.local_caller("admin:test")
    try:
        rights.erase(ctx, me, a)
    finally:
        ctx.deployment.close()
    log = d / "erasure.log"
    before = _lines(log)
    archive = tmp_path / "b.tar"
    assert tf("backup", "--dir", d, "--out", archive).returncode == 0
    ctx = trustface.open_deployment(d)
    try:
        consents.withdraw_purpose(ctx, me, b, site_id=site["world"]["site_id"], purpose=demo.PURPOSE,
                                  mode="identify", channel="app")
    finally:
        ctx.deployment.close()
    lines = _lines(log)
    assert len(lines) == len(before) + 1
    # an attacker rewrites B's withdrawal line (to bring B's identify templates back)
    entry = json.loads(lines[-1])
    entry["mode"] = "analyze"
    log.write_text("".join(lines[:-1]) + json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n")
    message = one_line_error(tf("restore", "--dir", d, archive, "--yes"))
    assert f"line {len(lines)} of the erasure log" in message and "nothing was restored" in message
    # truncated below the backup's position
    log.write_text("".join(before[:-1]))
    assert "truncated" in one_line_error(tf("restore", "--dir", d, archive, "--yes"))
    # --force: the lines that verify are replayed, the damage is on the record
    log.write_text("".join(lines[:-1]) + json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n")
    forced = tf("restore", "--dir", d, archive, "--yes", "--force", "--json")
    assert forced.returncode == 0, forced.stderr
    assert "does not verify" in json.loads(forced.stdout)["erasure_log_problem"]
    assert _identify(site, examples / "obama2.jpg").unknown  # A's erasure (before the backup) holds
    with trustface.Deployment(d) as dep, dep.session() as s:
        restored = json.loads(audit_store.events_of_type(s, "admin")[-1]["payload"])
        assert restored["action"] == "restored" and restored["forced"] is True
        assert "does not verify" in restored["erasure_log_problem"]
        s.rollback()
    assert tf("audit", "verify", "--dir", d).returncode == 0


def test_an_erasure_that_cannot_be_logged_does_not_happen(site, examples):
    """Log first: when the erasure log cannot be written the commit does not happen (E_PURGE_UNAVAILABLE),
    so no erasure exists that a restore could not replay."""
    (site["dir"] / "erasure.log").mkdir()  # a folder where the log file should be
    ctx = trustface.open_deployment(site["dir"])
    try:
        with pytest.raises(trustface.TrustfaceError) as info:
            rights.erase(ctx, trustface.local_caller("admin:test"), site["A"])
        assert info.value.code == "E_PURGE_UNAVAILABLE" and "nothing was deleted" in info.value.message
        with ctx.read() as s:
            assert gallery_store.count_templates(s, site["A"]) == 2 and gallery_store.subject_key(s, site["A"])
            assert not audit_store.events_of_type(s, "deletion")
    finally:
        ctx.deployment.close()
    assert _identify(site, examples / "obama2.jpg").candidates[0].subject_id == site["A"]
