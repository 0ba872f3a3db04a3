"""The gallery benchmark on a real deployment (``trustface bench gallery``): the enrolment rate
through the whole policy path, and the start-up rebuild of the index from encrypted templates.
The search-side figures are in :mod:`trustface.bench.gallery`; ``benchmarks/api_load.py`` builds its
deployment with :func:`bench_world` and :func:`rebuild_from_store`."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from trustface.bench.gallery import lfw_people, rss_bytes
from trustface.deployment import Deployment

_NOTICE = {"controller": "Bench Ltd.", "contact": "dpo@bench.example", "purposes": ["door_access"],
           "methods": "1:N identification at the entrance", "categories": ["face template"],
           "retention": "365 days", "rights_procedure": "ask at the desk", "necessity": "benchmark",
           "impact": "encrypted templates", "withdrawal": "at any time"}
_PIA = {"lawfulness_necessity": "bench", "rights_impact": "bench", "risks": "bench", "protections": "bench"}


def bench_subject_id(i: int) -> str:
    """The id :func:`rebuild_from_store` gives the subject of template ``i`` (ids sort in template order)."""
    return f"sub_b{i:012d}"


def bench_world(dep: Deployment) -> tuple[str, str, str, str]:
    """A tenant, a residential ``cn`` site, ``door_access`` (verify, identify) with a published notice, an
    approved PIA and a legal-basis record; returns (tenant id, site id, purpose id, notice hash)."""
    from trustface.policy import sites

    with dep.transaction() as s:
        t = sites.create_tenant(s, name="Bench", contact="dpo@bench.example", actor="admin:bench")
        site = sites.create_site(s, tenant_id=t.id, name="Bench site", site_type="residential", jurisdiction="cn",
                                 actor="admin:bench")
        p = sites.create_purpose(s, site_id=site.id, name="door_access", allowed_modes=["verify", "identify"],
                                 legal_basis="consent", necessity_justification="bench", retention_days=365,
                                 actor="admin:bench")
        n = sites.create_notice(s, site_id=site.id, content=_NOTICE, actor="admin:bench")
        sites.publish_notice(s, notice_id=n.id, actor="admin:bench")
        sites.approve_pia(s, purpose_id=p.id, modes=["verify", "identify"], sections=_PIA, approver="dpo",
                          actor="admin:bench")
        sites.record_legal_basis(s, purpose_id=p.id, mode="identify", basis="consent", justification="bench",
                                 approver="dpo", actor="admin:bench")
        return t.id, site.id, p.id, n.content_hash


def enrolment(lfw_dir: Path, workdir: Path, photos: int) -> dict:
    """Enrol real LFW photos one subject per transaction: subject, consent, grant, quality gate,
    descriptor, protection, encryption, store, audit, commit (SQLite, synchronous FULL)."""
    from trustface.deployment import init_deployment
    from trustface.errors import TrustfaceError
    from trustface.gallery import Gallery
    from trustface.policy import gate as policy_gate
    from trustface.policy import ledger

    d = workdir / "enrol"
    init_deployment(d)
    dep = Deployment(d)
    tenant, site, _, notice = bench_world(dep)
    gallery = Gallery(dep)
    paths = [files[0] for _, files in lfw_people(lfw_dir, 1)][:photos]
    refused: dict[str, int] = {}
    t_all = time.perf_counter()
    for path in paths:
        with dep.transaction() as s:
            sub = ledger.create_subject(s, tenant_id=tenant, age_band="18+", actor="admin:bench").id
            ledger.give_consent(s, subject_id=sub, site_id=site, purpose="door_access", mode="identify",
                                notice_hash=notice, channel="kiosk", method="click", actor=f"subject:{sub}")
            grant = policy_gate.authorize(s, tenant_id=tenant, site_id=site, purpose="door_access", mode="identify",
                                   subject_id=sub)
            if isinstance(grant, policy_gate.Denial):
                refused[grant.code] = refused.get(grant.code, 0) + 1
                continue
            try:
                gallery.enrol(s, grant, [path])
            except TrustfaceError as exc:
                refused[exc.code] = refused.get(exc.code, 0) + 1
    elapsed = time.perf_counter() - t_all
    dep.close()
    ok = len(paths) - sum(refused.values())
    return {"photos": len(paths), "enrolled": ok, "refused": refused, "seconds": round(elapsed, 2),
            "per_enrolment_ms": round(1000 * elapsed / len(paths), 1),
            "enrolments_per_s": round(len(paths) / elapsed, 2),
            "includes": "subject + consent + grant + quality gate + descriptor + protect + AES-GCM + store + "
                        "audit events + commit (fsync), one transaction per photo, one process"}


def rebuild_from_store(gallery_vectors: np.ndarray, workdir: Path, *, chunk: int = 50_000) -> dict:
    """Write ``len(gallery_vectors)`` encrypted templates (one adult subject each, ids from
    :func:`bench_subject_id`, real keys and AEAD) into a SQLite deployment made with
    :func:`bench_world` in ``workdir/rebuild-<n>``, then time :meth:`Gallery.open` (the start-up
    rebuild) and its memory. ``gallery_vectors``: (n, 128) float32."""
    from trustface import audit
    from trustface.db import gallery_store, repo
    from trustface.db.models import GallerySubjectKey, GalleryTemplate, Subject
    from trustface.deployment import init_deployment
    from trustface.engine import MODEL_VERSION
    from trustface.gallery import Gallery, protection
    from trustface.gallery.keys import KeyRing, tenant_key
    from trustface.policy._common import utc

    d = workdir / f"rebuild-{len(gallery_vectors)}"
    init_deployment(d)
    dep = Deployment(d)
    tenant, site, purpose, _ = bench_world(dep)
    ring = KeyRing(dep.keys.tenant_kek_seed)
    now = utc(None)
    with dep.transaction() as s:
        tenant_key(s, ring, tenant, now, create=True)
        audit.record(s, "admin", actor="admin:bench", payload={"action": "bench_keys"})
    kek, matrix = ring.kek(tenant, 1), ring.matrix(tenant, 1)
    t0 = time.perf_counter()
    n = len(gallery_vectors)
    for start in range(0, n, chunk):
        block = protection.protect(gallery_vectors[start:start + chunk], matrix)
        subjects, keys, templates = [], [], []
        for j, vec in enumerate(block):
            sid, tid = bench_subject_id(start + j), f"tpl_b{start + j:012d}"
            dk = protection.new_data_key()
            # adults, so that a gate in front of this gallery (benchmarks/api_load.py) needs no guardian (R3)
            subjects.append({"id": sid, "tenant_id": tenant, "age_band": "18+", "created_at": now})
            keys.append({"subject_id": sid, "tenant_id": tenant, "key_version": 1, "created_at": now,
                         "wrapped_key": protection.wrap_key(dk, kek)})
            templates.append({"template_id": tid, "tenant_id": tenant, "site_id": site, "purpose_id": purpose,
                              "mode": "identify", "subject_id": sid, "key_version": 1, "model_version": MODEL_VERSION,
                              "created_at": now, "ciphertext": protection.seal(vec, dk, protection.aad(
                                  tenant, sid, tid, MODEL_VERSION, site_id=site, purpose_id=purpose, mode="identify",
                                  key_version=1))})
        with dep.transaction() as s:
            repo.bulk_insert(s, Subject, subjects)
            repo.bulk_insert(s, GallerySubjectKey, keys)
            repo.bulk_insert(s, GalleryTemplate, templates)
            gallery_store.bump_generation(s, site, purpose, "identify")
            audit.record(s, "admin", actor="admin:bench", payload={"action": "bench_load", "templates": len(templates)})
    write_s = time.perf_counter() - t0
    db_bytes = sum(p.stat().st_size for p in d.iterdir() if p.name.startswith("trustface.db"))
    dep.close()
    dep = Deployment(d)
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    gallery = Gallery.open(dep)
    open_s = time.perf_counter() - t0
    rss = rss_bytes() - rss0
    size = gallery.size(site, purpose)
    failures = len(gallery.integrity_failures)
    del gallery
    dep.close()
    return {"templates": n, "load_s": round(write_s, 1), "rebuild_s": round(open_s, 2),
            "rss_after_rebuild_bytes_per_template": round(rss / max(1, size), 1), "indexed": size,
            "integrity_failures": failures, "database_bytes_per_template": round(db_bytes / n, 1)}
