"""Crash safety (issue 9, part 2): the CLI is SIGKILLed at seeded random points during batch
enrolment (``trustface enroll --folder``), erasure (``trustface erase``) and key rotation
(``trustface keys rotate``), each a real ``python -m trustface`` process on a real deployment.

After every kill the deployment must hold:

* no orphan template (a template whose subject or subject data key is gone);
* no template without an active consent for its purpose and mode;
* no half-enrolled subject of the batch (verify and identify are written together or not at all);
* no half-erased subject: an erasure certificate means templates, data key, credentials, identity,
  active consents and self-service tokens are all gone; no certificate means all are still there;
* no template readable by neither the old nor the new key: every template opens under its key
  version, which is its subject key's and its tenant's current version (one version per tenant);
* an audit chain that verifies; ``trustface gallery check`` finds no tampered template;
* a service that restarts (``create_app``) and serves: ``/healthz``, ``/v1/audit/verify``, and at
  the end of each series a 1:1 match of a real unseen photo of an enrolled person.

The kill points: each series first runs its command once unkilled and records when the process
made its first and last database write (the audit trail's last seq, polled every few ms) and when
it ended; half of the kills then fall uniformly anywhere in the run, half in the window of its
database writes, so both "before any work" and "inside a transaction" are hit.

Default: ``TRUSTFACE_CRASH_KILLS=5`` kills per series on SQLite (about a minute). The full run of
the issue, 20 kills per series on SQLite and on PostgreSQL::

    TRUSTFACE_CRASH_KILLS=20 TRUSTFACE_CRASH_PG=1 .venv/bin/pytest tests/hardening/test_crash_safety.py -s

``TRUSTFACE_CRASH_SEED`` changes the seed (default 9).
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from _api_conftest import Api, build_site
from db_fixtures import PG_ENV, _pg_admin, _with_db
from fastapi.testclient import TestClient
from sqlalchemy import text

from trustface import audit
from trustface.config import data_root

KILLS = int(os.environ.get("TRUSTFACE_CRASH_KILLS", "5"))
SEED = int(os.environ.get("TRUSTFACE_CRASH_SEED", "9"))
ACTOR = "admin:crash-test"
#: LFW photos that pass the enrolment gate, one per person, and an unseen photo of each for the
#: final 1:1 check (the nearest of its first dozen; the first three are well inside 1e-3's 0.53)
ENROL = {"Colin_Powell": ("Colin_Powell_0001.jpg", "Colin_Powell_0007.jpg"),           # distance 0.28
         "Ariel_Sharon": ("Ariel_Sharon_0001.jpg", "Ariel_Sharon_0010.jpg"),           # 0.27
         "Jacques_Chirac": ("Jacques_Chirac_0001.jpg", "Jacques_Chirac_0002.jpg"),     # 0.28
         "Junichiro_Koizumi": ("Junichiro_Koizumi_0001.jpg", "Junichiro_Koizumi_0004.jpg"),
         "Tony_Blair": ("Tony_Blair_0002.jpg", "Tony_Blair_0006.jpg"),
         "Donald_Rumsfeld": ("Donald_Rumsfeld_0001.jpg", "Donald_Rumsfeld_0003.jpg"),
         "Gerhard_Schroeder": ("Gerhard_Schroeder_0001.jpg", "Gerhard_Schroeder_0004.jpg"),
         "Jean_Chretien": ("Jean_Chretien_0001.jpg", "Jean_Chretien_0005.jpg")}
SYNTHETIC = 300          # subjects with random templates: the key rotation re-protects them all
ERASABLE = 2 * 20 + 4    # fully equipped subjects the erasure series consumes


def _backends() -> list:
    out = [pytest.param("sqlite", id="sqlite")]
    if os.environ.get("TRUSTFACE_CRASH_PG"):
        out.append(pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres))
    return out


@dataclasses.dataclass
class Crashable:
    directory: Path
    url: str | None            # None: SQLite in the folder
    admin: str
    tenant: str
    site: str
    purpose_id: str
    folder: Path               # <subject id>.jpg, for enroll --folder
    people: dict               # subject id -> (LFW name, unseen photo path)
    batch: list                # subject ids of the folder that have consent
    erasable: list
    erasure_started: set = dataclasses.field(default_factory=set)

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if k != "TRUSTFACE_DATABASE_URL"}
        if self.url:
            env["TRUSTFACE_DATABASE_URL"] = self.url
        return env

    def deployment(self):
        from trustface.deployment import Deployment

        return Deployment(self.directory, database_url=self.url)


def _lfw() -> Path:
    root = data_root() / "lfw" / "images"
    if not root.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"test data missing in CI: {root}")
        pytest.skip(f"LFW not found at {root}")
    return root


@pytest.fixture(scope="module", params=_backends())
def crashable(request, tmp_path_factory) -> Crashable:
    """A deployment (SQLite file, or a fresh PostgreSQL database) with a residential site, the
    batch folder (8 real people with consent, one person without, one faceless photo), 300
    subjects with random templates and 44 subjects with everything an erasure removes."""
    from trustface.access import keys as access_keys
    from trustface.access import service as access
    from trustface.api import create_app
    from trustface.db import repo
    from trustface.deployment import Deployment, init_deployment
    from trustface.gallery import Gallery
    from trustface.policy import gate, ledger

    lfw = _lfw()
    work = tmp_path_factory.mktemp(f"crash-{request.param}")
    url = None
    if request.param == "postgresql":
        server = os.environ.get(PG_ENV)
        if not server:
            pytest.skip(f"${PG_ENV} not set")
        name = f"tf_crash_{os.getpid()}_{int(time.time())}"
        _pg_admin(server, f'CREATE DATABASE "{name}"')
        url = _with_db(server, name)
    directory = work / "deployment"
    info = init_deployment(directory, database_url=url)
    dep = Deployment(directory, database_url=url)
    with TestClient(create_app(deployment=dep), raise_server_exceptions=False) as client:
        api = Api(client, dep, {"key": info["admin_key"]})
        world = build_site(api, info["admin_key"], minors_notice=False)
    tenant, site = world["tenant_id"], world["site_id"]
    folder = work / "batch"
    folder.mkdir()
    rng = np.random.default_rng(SEED)
    people, batch, erasable = {}, [], []
    with dep.transaction() as s:
        notice = repo.current_notice(s, site).content_hash
        purpose_id = repo.purposes_of_site(s, site)[0].id

        def subject(modes, **kw):
            sub = ledger.create_subject(s, tenant_id=tenant, site_id=site, age_band="18+", actor=ACTOR, **kw)
            for mode in modes:
                ledger.give_consent(s, subject_id=sub.id, site_id=site, purpose="door_access", mode=mode,
                                    notice_hash=notice, channel="app", method="click", actor=ACTOR)
            return sub.id

        for person, (enrol_photo, probe) in ENROL.items():
            sid = subject(("verify", "identify"))
            shutil.copy(lfw / person / enrol_photo, folder / f"{sid}.jpg")
            people[sid] = (person, lfw / person / probe)
            batch.append(sid)
        shutil.copy(lfw / "Hugo_Chavez" / "Hugo_Chavez_0002.jpg", folder / f"{subject(())}.jpg")  # refused
        faceless = subject(("verify", "identify"))
        from PIL import Image
        Image.new("RGB", (200, 200), (90, 120, 150)).save(folder / f"{faceless}.png")  # fails the quality gate
        gallery = Gallery(dep)

        def templates(sid, modes):
            grants = [gate.authorize(s, tenant_id=tenant, site_id=site, purpose="door_access", mode=m, subject_id=sid,
                                     actor=ACTOR) for m in modes]
            vec = rng.normal(size=(1, 128)).astype(np.float32)
            gallery.enrol_descriptors(s, grants, 0.6 * vec / np.linalg.norm(vec), actor=ACTOR)

        for _ in range(SYNTHETIC):
            templates(subject(("identify",)), ("identify",))
        for n in range(ERASABLE):
            sid = subject(("verify", "identify"), identity={"display_name": f"Resident {n}", "contact": f"r{n}@x"})
            templates(sid, ("verify", "identify"))
            access.issue_credential(s, access.credential_key(dep.keys.tenant_kek_seed), subject_id=sid, site_id=site,
                                    type="card", value=f"CARD{n:06d}", actor=ACTOR)
            access_keys.create_api_key(s, role="subject", tenant_id=tenant, name="phone", subject_id=sid, actor=ACTOR)
            erasable.append(sid)
    dep.close()
    world = Crashable(directory, url, info["admin_key"], tenant, site, purpose_id, folder, people, batch, erasable)
    yield world
    if url:
        _pg_admin(os.environ[PG_ENV], f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


# --- invariants -----------------------------------------------------------------------------------

def invariants(world: Crashable) -> tuple[list[str], dict]:
    """Everything that must hold after any crash; returns (problems, figures)."""
    from trustface.db import gallery_store, repo
    from trustface.gallery import keys

    problems: list[str] = []
    dep = world.deployment()
    try:
        with dep.session() as s:
            try:
                conn = s.connection()
                ring = keys.KeyRing(dep.keys.tenant_kek_seed)
                subjects = {r[0] for r in conn.execute(text("SELECT id FROM subjects"))}
                skeys = {r[0]: r[1] for r in conn.execute(text("SELECT subject_id, key_version FROM gallery_subject_keys"))}
                tkeys = {r[0]: r[1] for r in conn.execute(text("SELECT tenant_id, version FROM gallery_tenant_keys"))}
                rows = conn.execute(text("SELECT subject_id, purpose_id, mode, key_version, tenant_id "
                                         "FROM gallery_templates")).all()
                by_subject: dict[str, set] = {}
                for subject_id, purpose_id, mode, version, tenant in rows:
                    by_subject.setdefault(subject_id, set()).add((purpose_id, mode))
                    if subject_id not in subjects or subject_id not in skeys:
                        problems.append(f"orphan template of {subject_id} (subject or data key missing)")
                    if version != tkeys.get(tenant) or version != skeys.get(subject_id):
                        problems.append(f"template of {subject_id} on key version {version}, subject key "
                                        f"{skeys.get(subject_id)}, tenant {tkeys.get(tenant)}")
                # every template opens under its key version (the same code path as a match)
                opened = 0
                for subject_id in by_subject:
                    data_key = None
                    for row in gallery_store.templates_of_subject(s, subject_id):
                        try:
                            if data_key is None:
                                data_key = keys.unwrap_template_key(row, ring.kek(row.tenant_id, row.key_version))
                            keys.open_template(row, data_key)
                            opened += 1
                        except Exception as exc:  # noqa: BLE001 - named in the report
                            problems.append(f"template {row.template_id} of {subject_id} unreadable: {exc}")
                # no template without an active consent for its purpose and mode
                for subject_id, pairs in by_subject.items():
                    active = {(c.purpose_id, c.mode) for c in repo.active_consents(s, subject_id)}
                    for pair in pairs - active:
                        problems.append(f"template of {subject_id} for {pair} without an active consent")
                # the batch: verify and identify together or not at all
                for subject_id in world.batch:
                    modes = {m for _, m in by_subject.get(subject_id, set())}
                    if modes not in (set(), {"verify", "identify"}):
                        problems.append(f"half-enrolled {subject_id}: {sorted(modes)}")
                # erasure: all or nothing
                erased = set()
                for (payload,) in conn.execute(text("SELECT payload FROM audit_events WHERE type = 'deletion'")):
                    body = json.loads(payload)
                    if body.get("action") == "subject_erased":
                        erased.add(body["subject_id"])
                for subject_id in world.erasable:
                    held = {
                        "templates": len(by_subject.get(subject_id, ())),
                        "data_key": int(subject_id in skeys),
                        "credentials": conn.execute(text("SELECT COUNT(*) FROM credentials WHERE subject_id = :s"),
                                                    {"s": subject_id}).scalar_one(),
                        "identity": conn.execute(text("SELECT COUNT(*) FROM subject_identities WHERE subject_id = :s"),
                                                 {"s": subject_id}).scalar_one(),
                        "active_consents": len(repo.active_consents(s, subject_id)),
                        "live_tokens": conn.execute(text("SELECT COUNT(*) FROM api_keys WHERE subject_id = :s AND "
                                                         "revoked_at IS NULL"), {"s": subject_id}).scalar_one(),
                    }
                    whole = {"templates": 2, "data_key": 1, "credentials": 1, "identity": 1, "active_consents": 2,
                             "live_tokens": 1}
                    want = dict.fromkeys(whole, 0) if subject_id in erased else whole
                    if held != want:
                        problems.append(f"half-erased {subject_id} (certificate: {subject_id in erased}): {held}")
                chain = audit.verify(s)
                if not chain.ok:
                    problems.append(f"audit chain broken at {chain.first_bad}: {chain.reason}")
                figures = {"templates": len(rows), "opened": opened, "erased": len(erased & set(world.erasable)),
                           "key_versions": sorted(set(tkeys.values())), "audit_events": chain.events,
                           "enrolled_batch": sum(1 for x in world.batch if x in by_subject)}
            finally:
                s.rollback()
    finally:
        dep.close()
    return problems, figures


def serves(world: Crashable, probe_of: str | None = None) -> list[str]:
    """The service restarts on the deployment as the crash left it and answers."""
    from trustface.api import create_app

    problems = []
    dep = world.deployment()
    try:
        with TestClient(create_app(deployment=dep), raise_server_exceptions=False) as client:
            auth = {"Authorization": f"Bearer {world.admin}"}
            if client.get("/healthz").status_code != 200:
                problems.append("restart: /healthz failed")
            r = client.get("/v1/audit/verify", headers=auth)
            if r.status_code != 200 or not r.json()["ok"]:
                problems.append(f"restart: audit verify {r.status_code} {r.text[:200]}")
            if probe_of is not None:
                person, probe = world.people[probe_of]
                r = client.post(f"/v1/sites/{world.site}/verify", headers=auth,
                                files=[("image", (probe.name, probe.read_bytes(), "image/jpeg"))],
                                data={"subject_id": probe_of, "purpose": "door_access"})
                if r.status_code != 200 or not r.json()["match"]:
                    problems.append(f"restart: {person}'s unseen photo does not match: {r.status_code} {r.text[:200]}")
    finally:
        dep.close()
    return problems


# --- running and killing the CLI ------------------------------------------------------------------

class _Seq:
    """Reads the audit trail's last seq without taking any lock (a read-only SQLite connection: the
    app's own engine opens every transaction with BEGIN IMMEDIATE, which would queue the CLI)."""

    def __init__(self, world: Crashable):
        from trustface.config import database_url
        from trustface.db.session import make_engine

        url = world.url or database_url(world.directory)
        if url.startswith("sqlite"):
            import sqlite3

            from sqlalchemy.engine import make_url

            self.conn = sqlite3.connect(f"file:{make_url(url).database}?mode=ro", uri=True, timeout=5,
                                        check_same_thread=False)
            self.engine = None
        else:
            self.conn, self.engine = None, make_engine(url)

    def __call__(self) -> int:
        sql = "SELECT COALESCE(MAX(seq), 0) FROM audit_events"
        if self.conn is not None:
            return self.conn.execute(sql).fetchone()[0]
        with self.engine.connect() as conn:
            return conn.execute(text(sql)).scalar_one()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        else:
            self.engine.dispose()


def run_cli(world: Crashable, args: list[str], kill_after: float | None = None) -> dict:
    """Run ``python -m trustface ARGS --dir DIR``; SIGKILL it after ``kill_after`` seconds unless it
    ended. Polls the audit trail so the caller learns when the first and last commits happened."""
    last_seq = _Seq(world)
    start_seq = last_seq()
    proc = subprocess.Popen([sys.executable, "-m", "trustface", *args, "--dir", str(world.directory)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=world.env(), start_new_session=True)
    started = time.perf_counter()
    seen = {"first": None, "last": None, "seq": start_seq}
    done = threading.Event()

    def poll():
        while not done.is_set():
            try:
                seq = last_seq()
            except Exception:  # noqa: BLE001 - a busy database: try again
                seq = seen["seq"]
            if seq != seen["seq"]:
                now = time.perf_counter() - started
                seen["first"] = seen["first"] if seen["first"] is not None else now
                seen["last"], seen["seq"] = now, seq
            done.wait(0.004)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    killed = False
    try:
        if kill_after is not None:
            try:
                proc.wait(timeout=kill_after)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                killed = True
        _, err = proc.communicate(timeout=300)
    finally:
        elapsed = time.perf_counter() - started
        time.sleep(0.02)
        done.set()
        poller.join()
    wrote = last_seq() - start_seq
    last_seq.close()
    return {"rc": proc.returncode, "killed": killed, "elapsed": elapsed, "first_write": seen["first"],
            "last_write": seen["last"], "events_written": wrote, "stderr": err.decode(errors="replace")[-2000:]}


def transaction_seconds(world: Crashable, work) -> float:
    """How long ``work(session, deployment)`` keeps its transaction open, measured in this process
    and rolled back: the width of the window in which a kill lands inside the commit's transaction."""
    dep = world.deployment()
    try:
        session = dep.session()
        started = time.perf_counter()
        try:
            work(session, dep)
            session.flush()
            return time.perf_counter() - started
        finally:
            session.rollback()
            session.close()
    finally:
        dep.close()


def kill_points(calibration: dict, n: int, rng: random.Random, work_s: float) -> tuple[list[float], tuple]:
    """Half uniform over the whole run, half over the window of its database work: from the first
    commit less one transaction's length to just after the last commit."""
    end = calibration["elapsed"]
    first = calibration["first_write"] or end * 0.5
    last = calibration["last_write"] or end
    lo, hi = max(0.05, first - work_s - 0.05), min(end, last + 0.02)
    return [rng.uniform(0.05, end) if i % 2 == 0 else rng.uniform(lo, hi) for i in range(n)], (lo, hi)


def crash_series(world: Crashable, name: str, command, n: int, rng: random.Random, *, probe_of=None,
                 work_s: float = 0.1) -> dict:
    """Calibrate ``command(i)`` once unkilled, then kill it ``n`` times, checking after each."""
    calibration = run_cli(world, command(-1))
    assert calibration["rc"] in (0, 1), (name, calibration)
    problems, _ = invariants(world)
    assert not problems, (name, "before any kill", problems)
    outcomes = {"before the write window": 0, "in the write window, before a commit": 0,
                "after a commit": 0, "finished before the kill": 0}
    delays, window = kill_points(calibration, n, rng, work_s)
    for i, delay in enumerate(delays):
        result = run_cli(world, command(i), kill_after=delay)
        if not result["killed"]:
            outcomes["finished before the kill"] += 1
        elif result["events_written"]:
            outcomes["after a commit"] += 1
        elif delay >= window[0]:
            outcomes["in the write window, before a commit"] += 1
        else:
            outcomes["before the write window"] += 1
        problems, figures = invariants(world)
        problems += serves(world)
        assert not problems, f"{name}: after kill {i} at {delay:.2f}s ({result}):\n" + "\n".join(problems)
    # the command still completes afterwards, and the service serves a real match
    final = run_cli(world, command(n))
    assert final["rc"] in (0, 1), (name, final)
    problems, figures = invariants(world)
    problems += serves(world, probe_of)
    assert not problems, (name, "after the final run", problems)
    summary = {"series": name, "kills": n, "run_s": round(calibration["elapsed"], 2),
               "commits_s": [round(calibration["first_write"] or 0, 2), round(calibration["last_write"] or 0, 2)],
               "transaction_s": round(work_s, 3), "write_window_s": [round(window[0], 2), round(window[1], 2)],
               **outcomes, "final": figures}
    print(json.dumps(summary))
    return summary


@pytest.mark.slow
def test_sigkill_during_enrolment_erasure_and_rotation(crashable):
    from trustface import rights
    from trustface.gallery import rotate_keys

    world = crashable
    rng = random.Random(SEED)
    started = time.perf_counter()
    enrol = lambda i: ["enroll", "--folder", str(world.folder), "--site", world.site,  # noqa: E731
                       "--mode", "verify,identify", "--actor", ACTOR]
    crash_series(world, "enroll --folder", enrol, KILLS, rng, probe_of=world.batch[0], work_s=0.15)

    def erase(i):
        # each run (killed or not) goes for the next subject; a killed one stays whole or is erased
        subject = next(x for x in world.erasable if x not in world.erasure_started)
        world.erasure_started.add(subject)
        return ["erase", "--subject", subject, "--yes", "--actor", ACTOR]

    erase_s = transaction_seconds(world, lambda s, dep: rights.erase_subject(s, world.erasable[-1], actor=ACTOR,
                                                                             channel="desk"))
    crash_series(world, "erase", erase, KILLS, rng, probe_of=world.batch[1], work_s=erase_s)
    rotate_s = transaction_seconds(world, lambda s, dep: rotate_keys(s, dep.keys.tenant_kek_seed, actor=ACTOR))
    rotate = lambda i: ["keys", "rotate", "--actor", ACTOR]  # noqa: E731
    summary = crash_series(world, "keys rotate", rotate, KILLS, rng, probe_of=world.batch[2], work_s=rotate_s)
    assert summary["final"]["key_versions"] and summary["final"]["key_versions"][0] >= 2
    # the operator's own tools agree: no tampered or unreadable template, an intact audit chain
    check = subprocess.run([sys.executable, "-m", "trustface", "gallery", "check", "--dir", str(world.directory),
                            "--json"], capture_output=True, text=True, env=world.env(), timeout=300)
    assert check.returncode == 0, (check.stdout[-2000:], check.stderr[-2000:])
    assert json.loads(check.stdout)["integrity_failures"] == []
    verify = subprocess.run([sys.executable, "-m", "trustface", "audit", "verify", "--dir", str(world.directory)],
                            capture_output=True, text=True, env=world.env(), timeout=300)
    assert verify.returncode == 0, (verify.stdout[-2000:], verify.stderr[-2000:])
    print(f"crash safety: {3 * KILLS} SIGKILLs in {time.perf_counter() - started:.0f}s, no inconsistency")
