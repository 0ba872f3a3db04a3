"""Kept photos (R9) do not come back either: a ``keep_photo`` consent withdrawn after a backup is
ended again at restore and its sealed photos are deleted again; the templates of the consents that
stand stay (R9, R14, PIPL-47). Run on the shared database fixtures (PostgreSQL: the backup needs
pg_dump and the restore is SQLite-only, so that case checks the refusal)."""

from __future__ import annotations

import shutil

import pytest
from db_fixtures import NOW, add_subject, authorize, consent, make_world

from trustface.db import gallery_store, repo
from trustface.deployment import Deployment
from trustface.errors import TrustfaceError
from trustface.gallery import Gallery
from trustface.policy import ledger
from trustface.services import backup as backups


def test_a_withdrawn_photo_consent_is_purged_again_at_restore(deployment, database_url, examples, tmp_path):
    w = make_world(deployment, modes=("verify", "identify", "keep_photo"))
    sub = add_subject(w)
    consent(w, sub, "identify")
    consent(w, sub, "keep_photo", method="signature")
    face, keep = authorize(w, sub, "identify"), authorize(w, sub, "keep_photo")
    with deployment.transaction() as s:
        Gallery.open(deployment).enrol(s, [face, keep], [(examples / "obama.jpg").read_bytes()],
                                       retain_images=True, now=NOW)
    archive = tmp_path / "b.tar"
    if not database_url.startswith("sqlite") and shutil.which("pg_dump") is None:
        with pytest.raises(TrustfaceError, match="needs pg_dump on the PATH"):
            backups.backup(deployment.directory, archive, database_url=database_url)
        assert not archive.exists()
        return
    backups.backup(deployment.directory, archive, database_url=database_url)
    with deployment.transaction() as s:
        ledger.withdraw_consent(s, subject_id=sub, site_id=w.site_id, purpose=w.purpose, mode="keep_photo",
                                channel="app", actor=f"subject:{sub}", now=NOW)
        assert gallery_store.count_images(s, sub) == 0
    deployment.close()
    if not database_url.startswith("sqlite"):
        with pytest.raises(TrustfaceError, match="only SQLite deployments"):
            backups.restore(deployment.directory, archive, confirmed=True, database_url=database_url)
        return
    done = backups.restore(deployment.directory, archive, confirmed=True, database_url=database_url)
    assert done.replayed == 1 and len(done.certificate_ids) == 1
    with Deployment(deployment.directory, database_url=database_url) as dep, dep.session() as s:
        assert gallery_store.count_images(s, sub) == 0           # the photos went again
        assert gallery_store.count_templates(s, sub) == 1        # the identify template stays
        assert gallery_store.subject_key(s, sub) is not None     # and so does the key it needs
        assert repo.active_consent(s, sub, w.purpose_id, "keep_photo") is None
        assert repo.active_consent(s, sub, w.purpose_id, "identify") is not None
        s.rollback()
