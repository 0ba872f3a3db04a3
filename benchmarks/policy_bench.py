"""Policy and audit benchmarks (issue 3 targets), on SQLite in a temporary deployment.

* ``authorize()`` latency with N subjects (default 100,000), each holding a consent: p50 / p99 of
  the call alone (its reads, the last-interaction update and its hash-chained ``grant`` event) and
  of the call plus its commit.
* Audit append rate with hash chaining: events/s in batches (``record_many``) and with one
  ``record`` per event in one transaction, and one event per committed transaction.

Usage::

    .venv/bin/python benchmarks/policy_bench.py [--subjects 100000] [--calls 5000] [--events 50000]
                                                [--synchronous FULL|NORMAL] [--json]

The 100,000 subjects and consents are bulk-inserted with Core ``executemany`` (one admin audit
event records the load); the world around them (tenant, site, purpose, notice, PIA) goes through
the normal service functions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from trustface import audit
from trustface.db import repo
from trustface.db.models import Consent, Subject
from trustface.deployment import Deployment, init_deployment
from trustface.policy import gate, ledger, sites

NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
ADMIN = "admin:bench"
NOTICE = {f: f"{f} text" for f in ("controller", "contact", "purposes", "methods", "categories", "retention",
                                   "rights_procedure", "necessity", "impact", "withdrawal")}


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def build(dep: Deployment, n_subjects: int) -> dict:
    with dep.transaction() as s:
        t = sites.create_tenant(s, name="Bench Co", contact="dpo@bench", actor=ADMIN, now=NOW)
        site = sites.create_site(s, tenant_id=t.id, name="HQ", site_type="residential", jurisdiction="cn",
                                 actor=ADMIN, now=NOW)
        p = sites.create_purpose(s, site_id=site.id, name="door_access", allowed_modes=["verify", "identify"],
                                 legal_basis="consent", necessity_justification="doors", retention_days=365,
                                 actor=ADMIN, now=NOW)
        n = sites.create_notice(s, site_id=site.id, content=NOTICE, actor=ADMIN, now=NOW)
        sites.publish_notice(s, notice_id=n.id, actor=ADMIN, now=NOW)
        sites.approve_pia(s, purpose_id=p.id, modes=["verify", "identify"],
                          sections={"lawfulness_necessity": "a", "rights_impact": "b", "risks": "c", "protections": "d"},
                          approver="dpo", actor=ADMIN, now=NOW)
        # one subject through the real ledger, for reference
        real = ledger.create_subject(s, tenant_id=t.id, birth_date=dt.date(1990, 1, 1), actor=ADMIN, now=NOW)
        ledger.give_consent(s, subject_id=real.id, site_id=site.id, purpose="door_access", mode="verify",
                            notice_hash=n.content_hash, channel="kiosk", method="click", actor="subject", now=NOW)
    t0 = time.perf_counter()
    ids = [f"sub_{i:016x}" for i in range(n_subjects)]
    chunk = 20_000
    with dep.transaction() as s:
        for start in range(0, n_subjects, chunk):
            part = ids[start:start + chunk]
            repo.bulk_insert(s, Subject, ({"id": sid, "tenant_id": t.id, "birth_date": dt.date(1980 + i % 30, 1, 1),
                                           "age_band": None, "created_at": NOW} for i, sid in enumerate(part)))
            repo.bulk_insert(s, Consent, ({"id": f"con_{start + i:016x}", "subject_id": sid, "purpose_id": p.id,
                                           "mode": "verify", "status": "active", "notice_id": n.id,
                                           "notice_hash": n.content_hash, "given_at": NOW, "channel": "kiosk",
                                           "actor": "bench", "method": "click", "initiated_by": "subject",
                                           "expires_at": NOW + dt.timedelta(days=365)}
                                          for i, sid in enumerate(part)))
        audit.record(s, "admin", actor=ADMIN, now=NOW,
                     payload={"action": "benchmark_fixture_loaded", "subjects": n_subjects})
    load_s = time.perf_counter() - t0
    return {"tenant_id": t.id, "site_id": site.id, "ids": ids, "load_s": load_s}


def bench_authorize(dep: Deployment, world: dict, calls: int) -> dict:
    rng = random.Random(7)
    alone, with_commit = [], []
    kw = {"tenant_id": world["tenant_id"], "site_id": world["site_id"], "purpose": "door_access", "mode": "verify"}
    session = dep.session()
    try:
        for i in range(calls + 500):
            sid = rng.choice(world["ids"])
            now = NOW + dt.timedelta(seconds=i)
            t0 = time.perf_counter()
            result = gate.authorize(session, subject_id=sid, now=now, **kw)
            t1 = time.perf_counter()
            session.commit()
            t2 = time.perf_counter()
            assert isinstance(result, gate.Grant), result
            if i >= 500:  # warm-up excluded
                alone.append((t1 - t0) * 1000)
                with_commit.append((t2 - t0) * 1000)
        denials = []
        for _ in range(1000):
            t0 = time.perf_counter()
            result = gate.authorize(session, subject_id=rng.choice(world["ids"]), mode="identify",
                                    **{k: v for k, v in kw.items() if k != "mode"}, now=NOW)
            session.commit()
            denials.append((time.perf_counter() - t0) * 1000)
            assert isinstance(result, gate.Denial)
    finally:
        session.close()
    return {
        "calls": calls,
        "authorize_ms": {"p50": pct(alone, .5), "p99": pct(alone, .99), "mean": statistics.fmean(alone)},
        "authorize_plus_commit_ms": {"p50": pct(with_commit, .5), "p99": pct(with_commit, .99)},
        "denial_plus_commit_ms": {"p50": pct(denials, .5), "p99": pct(denials, .99)},
    }


def bench_audit(dep: Deployment, events: int) -> dict:
    payload = {"action": "bench", "site_id": "site_x", "purpose": "door_access", "mode": "verify"}
    batch = 1000
    t0 = time.perf_counter()
    done = 0
    while done < events:
        with dep.transaction() as s:
            audit.record_many(s, [{"type": "admin", "actor": ADMIN, "payload": {**payload, "i": done + j}}
                                  for j in range(batch)], now=NOW)
        done += batch
    batched = done / (time.perf_counter() - t0)

    n_single = min(events, 20_000)
    t0 = time.perf_counter()
    with dep.transaction() as s:
        for i in range(n_single):
            audit.record(s, "admin", actor=ADMIN, payload={**payload, "i": i}, now=NOW)
    per_call_one_tx = n_single / (time.perf_counter() - t0)

    n_tx = 2000
    t0 = time.perf_counter()
    for i in range(n_tx):
        with dep.transaction() as s:
            audit.record(s, "admin", actor=ADMIN, payload={**payload, "i": i}, now=NOW)
    per_tx = n_tx / (time.perf_counter() - t0)

    with dep.session() as s:
        t0 = time.perf_counter()
        result = audit.verify(s)
        verify_rate = result.events / (time.perf_counter() - t0)
    assert result.ok, result
    return {"events": done, "batched_1000_per_tx_events_per_s": batched,
            "record_per_event_one_tx_events_per_s": per_call_one_tx,
            "one_event_per_committed_tx_events_per_s": per_tx,
            "verify_events_per_s": verify_rate, "chain_length": result.events}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subjects", type=int, default=100_000)
    ap.add_argument("--calls", type=int, default=5000)
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--synchronous", choices=["FULL", "NORMAL"], default="FULL",
                    help="SQLite synchronous setting of the deployment (settings.toml); FULL is the default")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    os.environ.pop("TRUSTFACE_DATABASE_URL", None)  # SQLite in the temporary folder
    with tempfile.TemporaryDirectory(prefix="tf-bench-") as tmp:
        d = Path(tmp) / "dep"
        init_deployment(d, now=NOW - dt.timedelta(days=1))
        settings = d / "settings.toml"
        settings.write_text(settings.read_text().replace('sqlite_synchronous = "FULL"',
                                                         f'sqlite_synchronous = "{args.synchronous}"'))
        dep = Deployment(d)
        try:
            world = build(dep, args.subjects)
            auth = bench_authorize(dep, world, args.calls)
            aud = bench_audit(dep, args.events)
        finally:
            dep.close()
    out = {"date": dt.date.today().isoformat(), "python": platform.python_version(),
           "machine": f"{platform.machine()}, {os.cpu_count()} cores",
           "database": f"SQLite (WAL, synchronous={args.synchronous})",
           "subjects": args.subjects, "fixture_load_s": world["load_s"], "authorize": auth, "audit": aud}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        a, u = auth, aud
        print(f"SQLite WAL, synchronous={args.synchronous}; {out['machine']}; Python {out['python']}")
        print(f"subjects with consent: {args.subjects:,} (bulk load {world['load_s']:.1f} s)")
        print(f"authorize() grant:           p50 {a['authorize_ms']['p50']:.3f} ms  p99 {a['authorize_ms']['p99']:.3f} ms")
        print(f"authorize() grant + commit:  p50 {a['authorize_plus_commit_ms']['p50']:.3f} ms  "
              f"p99 {a['authorize_plus_commit_ms']['p99']:.3f} ms")
        print(f"authorize() denial + commit: p50 {a['denial_plus_commit_ms']['p50']:.3f} ms  "
              f"p99 {a['denial_plus_commit_ms']['p99']:.3f} ms")
        print(f"audit append, 1000/tx:        {u['batched_1000_per_tx_events_per_s']:,.0f} events/s")
        print(f"audit append, record() x N/tx:{u['record_per_event_one_tx_events_per_s']:,.0f} events/s")
        print(f"audit append, 1 event/commit: {u['one_event_per_committed_tx_events_per_s']:,.0f} events/s")
        print(f"audit verify:                 {u['verify_events_per_s']:,.0f} events/s over {u['chain_length']:,} events")
    return 0


if __name__ == "__main__":
    sys.exit(main())
