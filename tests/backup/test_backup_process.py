"""The backup as a process: a SIGKILL mid-write leaves no half-written FILE (temporary file, fsync,
rename), and a backup taken while another process writes is a consistent snapshot whose audit
chain verifies after a restore (issue 18 §3)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import trustface
from trustface.services import backup as backups

PAD_MB = 120  # large enough that the archive is still being written when the test looks


def _pad(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE test_padding (b BLOB)")
        conn.execute(f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {PAD_MB}) "
                     "INSERT INTO test_padding SELECT randomblob(1048576) FROM n")


def _start_backup(d: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "TRUSTFACE_DATABASE_URL": ""}
    return subprocess.Popen([sys.executable, "-m", "trustface", "backup", "--dir", str(d), "--out", str(out)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _kill_while_writing(proc: subprocess.Popen, folder: Path) -> bool:
    """SIGKILL the backup once its archive is being written; False when it finished first."""
    while proc.poll() is None:
        if any(p.stat().st_size > 0 for p in folder.glob(".trustface-backup-*/archive.partial")):
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.001)
    return False


def test_a_sigkill_during_backup_leaves_no_half_written_file(tmp_path):
    d = tmp_path / "site"
    trustface.init_deployment(d)
    out_dir = tmp_path / "backups"
    out_dir.mkdir()
    old = out_dir / "old.tar"
    backups.backup(d, old)  # a small, complete backup made before
    _pad(d / "trustface.db")

    fresh = out_dir / "fresh.tar"
    proc = _start_backup(d, fresh)
    assert _kill_while_writing(proc, out_dir), "the backup finished before it could be killed"
    assert proc.returncode == -signal.SIGKILL
    assert not fresh.exists()  # no half-written FILE

    target = out_dir / "nightly.tar"
    target.write_bytes(old.read_bytes())
    proc = _start_backup(d, target)
    assert _kill_while_writing(proc, out_dir)
    assert target.read_bytes() == old.read_bytes()  # the previous backup is untouched
    assert backups.read_manifest(target)["format"] == backups.FORMAT

    assert list(out_dir.glob(".trustface-backup-*"))  # the killed runs' scratch folders (mode 0700)
    done = backups.backup(d, target)  # the next run succeeds and removes the killed runs' leftovers
    assert backups.read_manifest(Path(done.path))["audit_head_seq"] >= 1
    assert not list(out_dir.glob(".trustface-backup-*"))


WRITER = """
import sys, trustface
from trustface.policy import ledger, sites
dep = trustface.Deployment(sys.argv[1])
with dep.transaction() as s:
    tenant = sites.create_tenant(s, name="T", contact="dpo@example.org", actor="admin:test").id
print("ready", flush=True)
for i in range(int(sys.argv[2])):
    with dep.transaction() as s:
        ledger.create_subject(s, tenant_id=tenant, age_band="18+", actor="admin:writer")
"""


def test_a_backup_taken_while_another_process_writes_restores_with_a_verified_chain(tmp_path, tf):
    d = tmp_path / "site"
    trustface.init_deployment(d)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(d), "400"], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "TRUSTFACE_DATABASE_URL": ""})
    assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
    archives = []
    for i in range(3):
        out = tmp_path / f"b{i}.tar"
        done = tf("backup", "--dir", d, "--out", out)
        assert done.returncode == 0, done.stderr
        archives.append(out)
    assert writer.wait(timeout=600) == 0
    seqs = [backups.read_manifest(a)["audit_head_seq"] for a in archives]
    assert seqs == sorted(seqs)
    for out in archives:
        restored = tf("restore", "--dir", d, out, "--yes", "--json")
        assert restored.returncode == 0, restored.stderr
        verified = tf("audit", "verify", "--dir", d)
        assert verified.returncode == 0, verified.stderr
