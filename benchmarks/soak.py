"""Soak test (issue 9, part 5): mixed traffic at a steady rate against a real server on loopback,
for ``--minutes`` (10 by default): throughput, p50/p99 per kind of request, errors (must be 0), and
the server's resident memory sampled every 30 s (start, end, slope: no upward trend).

Usage::

    .venv/bin/python benchmarks/soak.py [--minutes 10] [--rate 6] [--residents 100] [--json OUT]

What it builds, in a temporary folder (removed afterwards): a fresh deployment (``init_deployment``;
SQLite, ``synchronous = FULL``, per-key rate limits raised so they never answer 429), served by
``trustface serve`` (uvicorn, one process, 127.0.0.1, a free port) in a child process started with
benchmarks/api_load.py's helper. Over HTTP, like an integrator: a tenant, a residential site under
the ``cn`` profile, ``door_access`` (verify + identify) with its PIA and published notice, a gate
taking face, PIN or card, a gate key; ``--residents`` real people from LFW (the 217 with at least 8
photos, in name order) with both consents, each enrolled from one photo and given a PIN; a pool
of subjects whose consents come and go. Newcomers enrolled during the run are other LFW people
(2 to 7 photos); strangers at the gate are people with neither role.

The traffic, open loop: request ``i`` is due at ``start + i / rate`` whatever happened before
(4 client threads take them in order; how late each one starts is reported as lag), the kind drawn
with a fixed seed:

=============  ======  ============================================================================
gate face       25 %   ``POST /v1/gates/{id}/access``, a multipart LFW photo: a resident's photo
                       other than the enrolment one (4 in 5) or a person never enrolled (1 in 5);
                       every frame is sent once (the gate refuses a replayed frame), then the pool
                       starts again and repeats are counted as replay denials, not errors
gate PIN        25 %   ``POST /v1/gates/{id}/access`` with a resident's PIN: must be granted
identify        10 %   ``POST /v1/sites/{id}/identify`` with a resident's unseen photo
enrolment        5 %   a new subject, both consents, ``POST /v1/subjects/{id}/enrolments`` (4 requests)
consent         15 %   give or withdraw one consent of the churn pool (withdrawal purges, R14)
audit           20 %   ``GET /v1/audit/events`` paging (limit 100); 1 in 20 ``GET /v1/audit/verify``
=============  ======  ============================================================================

An error is any unexpected status, a transport error, or a valid PIN not granted. Memory: VmRSS of
the server process from /proc, when the steady phase starts and every 30 s; the slope is a least
squares line over the samples after the first minute (MB per minute).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import queue
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from api_load import free_port, machine, pct, start_server, stop_server  # noqa: E402 - shared server helpers

MIX = (("gate_face", 25), ("gate_pin", 25), ("identify", 10), ("enrolment", 5), ("consent", 15), ("audit", 20))
WORKERS = 4
SAMPLE_S = 30
NOTICE = {
    "controller": "Acme Property Management Ltd.", "contact": "dpo@acme.example", "purposes": ["door_access"],
    "methods": "1:1 and 1:N face recognition at the gates", "categories": ["face template"],
    "retention": "365 days", "rights_procedure": "ask at the desk or in the app; answer within 15 days",
    "necessity": "hands-free entry for residents who choose it; a card or PIN is always available",
    "impact": "templates are encrypted and never leave the site",
    "withdrawal": "withdraw in the app, at the kiosk or at the desk at any time",
}
PIA = {"lawfulness_necessity": "lawful, necessary; alternatives offered", "rights_impact": "low; opt-in",
       "risks": "leakage, tampering, misuse; mitigations listed", "protections": "encryption, RBAC, audit chain"}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- the world ---------------------------------------------------------------------------------------

def people(lfw: Path, residents: int, seed: int):
    """From LFW, deterministic: residents [(name, [photos])] (people with at least 8 photos),
    strangers [photo] (never enrolled) and newcomers [(name, [photos])] (enrolled during the run)."""
    counts = {d: len(list(d.glob("*.jpg"))) for d in lfw.iterdir() if d.is_dir()}
    rich = sorted(d for d, n in counts.items() if n >= 8)[:residents]
    enrolled = [(d.name, sorted(d.glob("*.jpg"))[:40]) for d in rich]
    rng = random.Random(seed)
    few = sorted(d for d, n in counts.items() if 2 <= n < 8)
    newcomers = [(d.name, sorted(d.glob("*.jpg"))) for d in rng.sample(few, min(len(few), 300))]
    taken = set(rich) | {lfw / name for name, _ in newcomers}
    single = sorted(d for d, n in counts.items() if d not in taken and n < 8)
    strangers = [sorted(d.glob("*.jpg"))[0] for d in rng.sample(single, min(len(single), 400))]
    return enrolled, strangers, newcomers


def build(client, admin: str, residents, churn: int, log) -> dict:
    def ok(method, path, status=200, **kw):
        r = client.request(method, path, headers={"Authorization": f"Bearer {admin}"}, **kw)
        if r.status_code != status:
            raise SystemExit(f"setup: {method} {path} -> {r.status_code} {r.text[:300]}")
        return r.json()

    tenant = ok("POST", "/v1/tenants", 201, json={"name": "Acme Property", "contact": "dpo@acme.example"})["id"]
    site = ok("POST", "/v1/sites", 201, json={"name": "Tower A", "site_type": "residential", "jurisdiction": "cn",
                                               "tenant_id": tenant})["id"]
    ok("POST", f"/v1/sites/{site}/purposes", 201, json={
        "name": "door_access", "allowed_modes": ["verify", "identify"], "legal_basis": "consent",
        "necessity_justification": "hands-free entry for residents who choose it", "retention_days": 365})
    ok("POST", f"/v1/sites/{site}/pias", 201, json={"purpose": "door_access", "modes": ["verify", "identify"],
                                                     "sections": PIA, "approver": "dpo:lee"})
    notice = ok("POST", f"/v1/sites/{site}/notices", 201, json={"content": NOTICE})
    ok("POST", f"/v1/notices/{notice['id']}/publish")
    version = notice["version"]
    gate = ok("POST", f"/v1/sites/{site}/gates", 201, json={"name": "Main", "methods": ["face", "pin", "card"]})["id"]
    gate_key = ok("POST", "/v1/api-keys", 201, json={"role": "gate", "name": "soak kiosk", "tenant_id": tenant,
                                                      "site_id": site})["key"]

    def subject(consent=("verify", "identify")):
        sid = ok("POST", f"/v1/sites/{site}/subjects", 201, json={"age_band": "18+"})["id"]
        ids = {m: ok("POST", f"/v1/subjects/{sid}/consents", 201, json={
            "purpose": "door_access", "mode": m, "notice_version": version, "channel": "app", "method": "click"})["id"]
            for m in consent}
        return sid, ids

    enrolled, probes, pins = [], [], []
    for n, (name, photos) in enumerate(residents):
        sid, _ = subject()
        for i, photo in enumerate(photos[:3]):  # the first photo that passes the enrolment gate
            r = client.post(f"/v1/subjects/{sid}/enrolments", headers={"Authorization": f"Bearer {admin}"},
                            data={"purpose": "door_access", "mode": "verify,identify"},
                            files=[("image", (photo.name, photo.read_bytes(), "image/jpeg"))])
            if r.status_code == 201:
                enrolled.append((sid, name))
                probes += [(p, sid) for j, p in enumerate(photos) if j != i]
                pins.append(ok("POST", f"/v1/subjects/{sid}/credentials", 201, json={"type": "pin"})["value"])
                break
        if n % 20 == 19:
            log(f"  {n + 1}/{len(residents)} residents")
    churn_pool = [subject(consent=()) for _ in range(churn)]
    return {"tenant": tenant, "site": site, "gate": gate, "gate_key": gate_key, "version": version,
            "enrolled": enrolled, "probes": probes, "pins": pins, "churn": [sid for sid, _ in churn_pool]}


# --- traffic -------------------------------------------------------------------------------------------

class Timed:
    """An httpx client that remembers how long each of its calls took (per worker thread)."""

    def __init__(self, client):
        self.client, self.times = client, []

    def request(self, method, url, **kw):
        started = time.perf_counter()
        try:
            return self.client.request(method, url, **kw)
        finally:
            self.times.append(time.perf_counter() - started)

    def get(self, url, **kw):
        return self.request("GET", url, **kw)

    def post(self, url, **kw):
        return self.request("POST", url, **kw)


class Traffic:
    """The request kinds; each returns [(label, response, ok)] for its HTTP calls, in order."""

    def __init__(self, world: dict, admin: str, strangers: list, newcomers, seed: int):
        self.w, self.admin, self.rng = world, admin, random.Random(seed)
        mated = list(world["probes"])
        random.Random(seed).shuffle(mated)
        unknown = [(p, None) for p in strangers]
        frames = []
        while mated or unknown:  # 4 residents' photos for each stranger's
            for _ in range(4):
                if mated:
                    frames.append(mated.pop())
            if unknown:
                frames.append(unknown.pop())
        self.frames = frames
        self.identify_frames = [f for f in frames if f[1] is not None][::-1]
        self.lock = threading.Lock()
        self.cursor = {"face": 0, "identify": 0, "pin": 0, "audit": "0", "audit_n": 0}
        self.churn_state = {sid: {} for sid in world["churn"]}  # subject -> {mode: consent id}
        self.new_people = list(newcomers)
        self.busy: set[str] = set()
        self.counters = defaultdict(int)
        self.cache: dict[Path, bytes] = {}

    def _next(self, key: str, pool: list):
        with self.lock:
            i = self.cursor[key]
            self.cursor[key] += 1
        if i >= len(pool) and key != "pin":  # a frame sent again: the gate may call it a replay
            self.counters[f"{key}_frames_sent_again"] += 1
        return pool[i % len(pool)]

    def _bytes(self, path: Path) -> bytes:
        data = self.cache.get(path)
        if data is None:
            data = self.cache[path] = path.read_bytes()
        return data

    def gate_face(self, http):
        path, truth = self._next("face", self.frames)
        r = http.post(f"/v1/gates/{self.w['gate']}/access", headers={"Authorization": f"Bearer {self.w['gate_key']}"},
                      files=[("image", (path.name, self._bytes(path), "image/jpeg"))])
        if r.status_code == 200:
            body = r.json()
            with self.lock:
                if body["granted"]:
                    self.counters["face_granted"] += 1
                    self.counters["face_granted_right_person" if body["subject_id"] == truth else
                                  "face_granted_wrong_person"] += 1
                else:
                    self.counters[f"face_denied_{(body.get('reason') or {}).get('code')}"] += 1
        return [("gate_face", r, r.status_code == 200)]

    def gate_pin(self, http):
        pin = self._next("pin", self.w["pins"])
        r = http.post(f"/v1/gates/{self.w['gate']}/access", headers={"Authorization": f"Bearer {self.w['gate_key']}"},
                      json={"method": "pin", "value": pin})
        return [("gate_pin", r, r.status_code == 200 and r.json().get("granted") is True)]

    def identify(self, http):
        path, truth = self._next("identify", self.identify_frames)
        r = http.post(f"/v1/sites/{self.w['site']}/identify", headers={"Authorization": f"Bearer {self.admin}"},
                      data={"purpose": "door_access"}, files=[("image", (path.name, self._bytes(path), "image/jpeg"))])
        # a photo in which the detector finds no face is an answer with a code, not an error
        no_face = r.status_code == 422 and "E_NO_FACE" in r.text
        ok = r.status_code == 200 or no_face
        if no_face:
            with self.lock:
                self.counters["identify_no_face"] += 1
        if r.status_code == 200:
            cands = r.json()["candidates"]
            with self.lock:
                self.counters["identify_right" if cands and cands[0]["subject_id"] == truth else
                              "identify_unknown" if not cands else "identify_wrong"] += 1
        return [("identify", r, ok)]

    def enrolment(self, http):
        auth = {"Authorization": f"Bearer {self.admin}"}
        with self.lock:
            name, photos = self.new_people[self.counters["enrolments"] % len(self.new_people)]
            self.counters["enrolments"] += 1
        out = []
        r = http.post(f"/v1/sites/{self.w['site']}/subjects", headers=auth, json={"age_band": "18+"})
        out.append(("enrol: subject", r, r.status_code == 201))
        if r.status_code != 201:
            return out
        sid = r.json()["id"]
        for mode in ("verify", "identify"):
            r = http.post(f"/v1/subjects/{sid}/consents", headers=auth, json={
                "purpose": "door_access", "mode": mode, "notice_version": self.w["version"], "channel": "app",
                "method": "click"})
            out.append(("enrol: consent", r, r.status_code == 201))
        photo = photos[0]
        r = http.post(f"/v1/subjects/{sid}/enrolments", headers=auth, data={"purpose": "door_access",
                                                                             "mode": "verify,identify"},
                      files=[("image", (photo.name, self._bytes(photo), "image/jpeg"))])
        # a photo may fail the enrolment quality gate: a refusal with a code, not an error
        quality = r.status_code == 422 and any(c in r.text for c in ("E_FACE_QUALITY", "E_NO_FACE", "E_MULTIPLE_FACES"))
        out.append(("enrol: photo", r, r.status_code == 201 or quality))
        return out

    def consent(self, http):
        auth = {"Authorization": f"Bearer {self.admin}"}
        with self.lock:
            sid = self.rng.choice(self.w["churn"])
            mode = self.rng.choice(("verify", "identify"))
            state = self.churn_state[sid]
            held = state.pop(mode, None)
            busy = f"{sid}/{mode}"
            if busy in self.busy:  # another thread is changing this one right now: skip this turn
                if held:
                    state[mode] = held
                return []
            self.busy.add(busy)
        try:
            if held:
                r = http.post(f"/v1/subjects/{sid}/consents/{held}/withdraw", headers=auth, json={"channel": "app"})
                return [("consent: withdraw", r, r.status_code == 200)]
            r = http.post(f"/v1/subjects/{sid}/consents", headers=auth, json={
                "purpose": "door_access", "mode": mode, "notice_version": self.w["version"], "channel": "app",
                "method": "click", "initiated_by": "subject"})
            if r.status_code == 201:
                with self.lock:
                    state[mode] = r.json()["id"]
            return [("consent: give", r, r.status_code == 201)]
        finally:
            with self.lock:
                self.busy.discard(busy)

    def audit(self, http):
        auth = {"Authorization": f"Bearer {self.admin}"}
        with self.lock:
            self.cursor["audit_n"] += 1
            verify = self.cursor["audit_n"] % 20 == 0
            cursor = self.cursor["audit"]
        if verify:
            r = http.get("/v1/audit/verify", headers=auth)
            return [("audit: verify", r, r.status_code == 200 and r.json().get("ok") is True)]
        r = http.get("/v1/audit/events", headers=auth, params={"limit": 100, "cursor": cursor})
        if r.status_code == 200:
            with self.lock:
                self.cursor["audit"] = r.json()["next_cursor"] or "0"
        return [("audit: events", r, r.status_code == 200)]


def run(base: str, traffic: Traffic, *, rate: float, seconds: float, seed: int, server_pid: int) -> dict:
    import httpx

    kinds = [k for k, w in MIX for _ in range(w)]
    rng = random.Random(seed)
    todo: queue.Queue = queue.Queue()
    results = []  # (label, started, latency_s, lag_s, ok, detail)
    lock = threading.Lock()
    samples = []
    stop = threading.Event()

    def worker():
        with httpx.Client(base_url=base, timeout=120) as client:
            http = Timed(client)
            while True:
                item = todo.get()
                if item is None:
                    return
                due, kind = item
                started = time.perf_counter()
                http.times.clear()
                try:
                    calls = getattr(traffic, kind)(http)
                    rows = []
                    at = started
                    for (label, r, ok), took in zip(calls, http.times, strict=False):
                        detail = None if ok else f"{label}: {r.status_code} {r.text}"[:300]
                        rows.append((label, at, took, started - due, ok, detail))
                        at += took
                except Exception as exc:  # noqa: BLE001 - a transport error is an error of the run
                    rows = [(kind, started, time.perf_counter() - started, started - due, False,
                             f"{type(exc).__name__}: {exc}"[:300])]
                with lock:
                    results.extend(rows)

    def sampler(t0):
        while not stop.wait(SAMPLE_S):
            samples.append((round(time.perf_counter() - t0, 1), round(rss_mb(server_pid), 1)))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    samples.append((0.0, round(rss_mb(server_pid), 1)))
    sample_thread = threading.Thread(target=sampler, args=(t0,), daemon=True)
    sample_thread.start()
    i = 0
    while True:
        due = t0 + i / rate
        if due - t0 >= seconds:
            break
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        todo.put((due, rng.choice(kinds)))
        i += 1
    for _ in threads:
        todo.put(None)
    for t in threads:
        t.join(timeout=600)
    wall = time.perf_counter() - t0
    stop.set()
    sample_thread.join()
    samples.append((round(wall, 1), round(rss_mb(server_pid), 1)))
    return {"scheduled": i, "results": results, "wall_s": wall, "rss": samples}


def summarise(raw: dict, rate: float, traffic: Traffic) -> dict:
    rows = raw["results"]
    by = defaultdict(list)
    for label, _, took, _lag, ok, _ in rows:
        by[label].append((took, ok))
    errors = [r for r in rows if not r[4]]
    lat = [r[2] * 1000 for r in rows]
    lags = [r[3] * 1000 for r in rows]
    rss = raw["rss"]
    late = [(t, m) for t, m in rss if t >= 60] or rss
    slope = float(np.polyfit([t / 60 for t, _ in late], [m for _, m in late], 1)[0]) if len(late) >= 3 else None
    return {
        "requests": len(rows), "scheduled_operations": raw["scheduled"], "target_rate_ops_per_s": rate,
        "wall_s": round(raw["wall_s"], 1), "throughput_requests_per_s": round(len(rows) / raw["wall_s"], 2),
        "p50_ms": round(pct(lat, 50), 1), "p99_ms": round(pct(lat, 99), 1),
        "lag_p50_ms": round(pct(lags, 50), 1), "lag_p99_ms": round(pct(lags, 99), 1),
        "lag_max_ms": round(max(lags) if lags else 0, 1),
        "errors": len(errors), "first_errors": [e[5] for e in errors[:5]],
        "by_kind": {label: {"n": len(v), "p50_ms": round(pct([t * 1000 for t, _ in v], 50), 1),
                            "p99_ms": round(pct([t * 1000 for t, _ in v], 99), 1),
                            "errors": sum(1 for _, ok in v if not ok)} for label, v in sorted(by.items())},
        "rss_mb": {"start": rss[0][1], "end": rss[-1][1], "max": max(m for _, m in rss),
                   "slope_mb_per_min_after_1_min": None if slope is None else round(slope, 2), "samples": rss},
        "outcomes": dict(sorted(traffic.counters.items())),
    }


def table(report: dict) -> str:
    s = report["soak"]
    lines = [f"soak: {report['minutes']} min at {s['target_rate_ops_per_s']} operations/s "
             f"({report['machine'].get('cores', '?')} cores, load {report['machine'].get('load_average_at_start')} at "
             f"start; {report['note']})",
             f"{s['requests']} HTTP requests in {s['wall_s']} s = {s['throughput_requests_per_s']} req/s; "
             f"p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms; errors {s['errors']}",
             f"start lag (open loop): p50 {s['lag_p50_ms']} ms, p99 {s['lag_p99_ms']} ms, max {s['lag_max_ms']} ms",
             "", f"{'request':<20} {'n':>6} {'p50 ms':>9} {'p99 ms':>9} {'errors':>7}"]
    for label, k in s["by_kind"].items():
        lines.append(f"{label:<20} {k['n']:>6} {k['p50_ms']:>9} {k['p99_ms']:>9} {k['errors']:>7}")
    m = s["rss_mb"]
    lines += ["", f"server RSS: start {m['start']} MB, end {m['end']} MB, max {m['max']} MB, slope after the first "
                  f"minute {m['slope_mb_per_min_after_1_min']} MB/min",
              "samples (s, MB): " + ", ".join(f"({t:g}, {v:g})" for t, v in m["samples"]),
              "", "outcomes: " + ", ".join(f"{k} {v}" for k, v in s["outcomes"].items())]
    return "\n".join(lines)


def main(argv=None) -> int:
    import httpx

    from trustface.config import data_root
    from trustface.deployment import init_deployment

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the steady phase (default 10)")
    ap.add_argument("--rate", type=float, default=6.0, help="operations started per second (default 6)")
    ap.add_argument("--residents", type=int, default=100, help="enrolled LFW people (default 100, at most 217)")
    ap.add_argument("--churn", type=int, default=30, help="subjects whose consents come and go (default 30)")
    ap.add_argument("--seed", type=int, default=9)
    ap.add_argument("--data", type=Path, default=None, help="data root (default $TRUSTFACE_DATA or ../shared/data)")
    ap.add_argument("--json", type=Path, default=None, metavar="OUT", help="write every figure to OUT")
    ap.add_argument("--note", default="", help="a remark stored with the figures (e.g. 'machine shared')")
    args = ap.parse_args(argv)
    lfw = (args.data or data_root()) / "lfw" / "images"
    residents, strangers, newcomers = people(lfw, args.residents, args.seed)
    os.environ.pop("TRUSTFACE_DATABASE_URL", None)
    work = Path(tempfile.mkdtemp(prefix="tf-soak-"))
    proc = fh = None
    report = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "command": " ".join([Path(sys.executable).name, *sys.argv]), "machine": machine(),
              "minutes": args.minutes, "note": args.note or "-", "mix_percent": dict(MIX), "client_threads": WORKERS,
              "database": "SQLite (WAL, synchronous=FULL)", "server": "trustface serve (uvicorn, 1 process), 127.0.0.1"}
    try:
        info = init_deployment(work / "deployment")
        settings = work / "deployment" / "settings.toml"
        settings.write_text(settings.read_text() + "identify_per_minute = 10000000\naccess_per_minute = 10000000\n")
        port = free_port()
        proc, fh = start_server(work / "deployment", port, work / "server.log")
        base = f"http://127.0.0.1:{port}"
        t = time.perf_counter()
        log(f"server pid {proc.pid} on {base}; enrolling {len(residents)} residents over HTTP...")
        with httpx.Client(base_url=base, timeout=300) as client:
            world = build(client, info["admin_key"], residents, args.churn, log)
        report["setup"] = {"seconds": round(time.perf_counter() - t, 1), "residents_enrolled": len(world["enrolled"]),
                           "face_frames": len(world["probes"]) + len(strangers), "pins": len(world["pins"]),
                           "churn_subjects": len(world["churn"])}
        log(f"setup {report['setup']}; soaking for {args.minutes} min at {args.rate}/s")
        traffic = Traffic(world, info["admin_key"], strangers, newcomers, args.seed)
        raw = run(base, traffic, rate=args.rate, seconds=args.minutes * 60, seed=args.seed, server_pid=proc.pid)
        report["soak"] = summarise(raw, args.rate, traffic)
        alive = proc.poll() is None
        report["server_alive_at_end"] = alive
    finally:
        if proc is not None:
            report["server_exit_code"] = proc.poll()
            stop_server(proc, fh)
            keep = (args.json.parent if args.json else Path.cwd()) / "soak-server.log"
            shutil.copy(work / "server.log", keep)  # the server's own log, for a post-mortem
            log(f"server log kept in {keep}")
        shutil.rmtree(work, ignore_errors=True)
    text = table(report)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if report["soak"]["errors"] == 0 and report["server_alive_at_end"] else 1


if __name__ == "__main__":
    sys.exit(main())
