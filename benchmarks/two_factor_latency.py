"""Per-attempt latency at a gate: face alone (1:N identify) vs PIN then face (1:1 verify after a
credential, issue 16 item 3), and the PIN alone for reference.

Usage::

    .venv/bin/python benchmarks/two_factor_latency.py [--residents 100] [--json OUT]

What it builds, in a temporary folder (removed afterwards): a fresh deployment (SQLite,
``sqlite_synchronous = "FULL"``, the default), a residential site with ``door_access`` for verify
and identify (PIA, published notice), and ``--residents`` LFW people (the first of those with at
least two photos, in name order), each consenting to verify and identify, enrolled from their first
photo for both modes, with a PIN and a card. Three gates take face, PIN and card: an identify gate and two
two-factor gates (``face_mode = "verify_after_credential"``), one tried with the PIN, one with the card.

Each resident's *second* photo is then sent once to each gate over the ASGI stack (Starlette's
TestClient: routing, multipart parsing, key check, the service, audit events, fsynced commits;
no network socket): at the identify gate as ``image`` alone, at the two-factor gate as ``image``
+ ``method`` (pin or card) + ``value``. The replay screen is per gate, so the same frame is new at each.
The paths are interleaved (each resident through every path in turn) so load from other
processes weighs on each alike; the first three residents are a warm-up, not counted. Reported:
p50, p90, p99, mean (ms) and the share granted, per path.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fastapi.testclient import TestClient  # noqa: E402

from trustface.api import create_app  # noqa: E402
from trustface.config import data_root  # noqa: E402
from trustface.deployment import Deployment, init_deployment  # noqa: E402


def _people(n: int) -> list[list[Path]]:
    root = data_root() / "lfw" / "images"
    out = []
    for folder in sorted(root.iterdir()):
        photos = sorted(folder.glob("*.jpg"))
        if len(photos) >= 2:
            out.append(photos[:2])
        if len(out) == n:
            break
    return out


def _stats(times: list[float], granted: int) -> dict:
    ms = sorted(t * 1000 for t in times)

    def q(p: float) -> float:
        return round(ms[min(len(ms) - 1, int(round(p * (len(ms) - 1))))], 1)

    return {"n": len(ms), "p50_ms": q(0.5), "p90_ms": q(0.9), "p99_ms": q(0.99),
            "mean_ms": round(statistics.fmean(ms), 1), "granted": round(granted / len(ms), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--residents", type=int, default=100)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    from db_fixtures import NOTICE, PIA_SECTIONS  # the test suite's notice and PIA texts

    tmp = Path(tempfile.mkdtemp(prefix="tf-2fa-"))
    try:
        info = init_deployment(tmp / "dep")
        settings = tmp / "dep" / "settings.toml"
        settings.write_text(settings.read_text() + "identify_per_minute = 1000000\naccess_per_minute = 1000000\n")
        dep = Deployment(tmp / "dep")
        with TestClient(create_app(deployment=dep), raise_server_exceptions=False) as client:
            auth = {"Authorization": f"Bearer {info['admin_key']}"}

            def ok(method: str, path: str, status: int = 200, **kw) -> dict:
                r = client.request(method, path, headers=auth, **kw)
                assert r.status_code == status, (path, r.status_code, r.text)
                return r.json()

            tenant = ok("POST", "/v1/tenants", 201, json={"name": "Bench", "contact": "dpo@bench.example"})
            sid = ok("POST", "/v1/sites", 201, json={"name": "Tower", "site_type": "residential", "jurisdiction": "cn",
                                                     "tenant_id": tenant["id"]})["id"]
            ok("POST", f"/v1/sites/{sid}/purposes", 201, json={
                "name": "door_access", "allowed_modes": ["verify", "identify"], "legal_basis": "consent",
                "necessity_justification": "hands-free entry for residents who choose it", "retention_days": 365})
            ok("POST", f"/v1/sites/{sid}/pias", 201, json={"purpose": "door_access", "modes": ["verify", "identify"],
                                                           "sections": PIA_SECTIONS, "approver": "dpo:lee"})
            notice = ok("POST", f"/v1/sites/{sid}/notices", 201, json={"content": NOTICE})
            ok("POST", f"/v1/notices/{notice['id']}/publish")
            identify_gate = ok("POST", f"/v1/sites/{sid}/gates", 201,
                               json={"name": "Identify", "methods": ["face", "pin", "card"]})["id"]
            two_factor_gate = ok("POST", f"/v1/sites/{sid}/gates", 201, json={
                "name": "Two-factor", "methods": ["face", "pin", "card"], "face_mode": "verify_after_credential"})["id"]
            gate_key = ok("POST", "/v1/api-keys", 201, json={"role": "gate", "name": "bench", "site_id": sid,
                                                              "tenant_id": tenant["id"]})["key"]
            people = _people(args.residents)
            residents = []
            t0 = time.perf_counter()
            for i, (enrol, probe) in enumerate(people):
                subject = ok("POST", f"/v1/sites/{sid}/subjects", 201, json={"age_band": "18+"})["id"]
                for mode in ("verify", "identify"):
                    ok("POST", f"/v1/subjects/{subject}/consents", 201, json={
                        "purpose": "door_access", "mode": mode, "notice_version": notice["version"],
                        "channel": "kiosk", "method": "click"})
                r = client.post(f"/v1/subjects/{subject}/enrolments", headers=auth,
                                files=[("image", ("e.jpg", enrol.read_bytes(), "image/jpeg"))],
                                data={"purpose": "door_access", "mode": "verify,identify"})
                if r.status_code != 201:  # no usable face in this photo: leave this person out
                    continue
                pin = str(507193 + i * 7919)
                ok("POST", f"/v1/subjects/{subject}/credentials", 201, json={"type": "pin", "value": pin})
                card = f"04a1{i:08x}"
                ok("POST", f"/v1/subjects/{subject}/credentials", 201, json={"type": "card", "value": card})
                residents.append((subject, probe.read_bytes(), pin, card))
            setup_s = time.perf_counter() - t0
            gate_auth = {"Authorization": f"Bearer {gate_key}"}

            card_gate = ok("POST", f"/v1/sites/{sid}/gates", 201, json={
                "name": "Two-factor (card)", "methods": ["face", "pin", "card"],
                "face_mode": "verify_after_credential"})["id"]
            paths = {
                "identify (face alone, 1:N)": lambda img, pin, card: client.post(
                    f"/v1/gates/{identify_gate}/access", headers=gate_auth,
                    files=[("image", ("f.jpg", img, "image/jpeg"))]),
                "two-factor (PIN then face, 1:1)": lambda img, pin, card: client.post(
                    f"/v1/gates/{two_factor_gate}/access", headers=gate_auth,
                    files=[("image", ("f.jpg", img, "image/jpeg"))], data={"method": "pin", "value": pin}),
                "two-factor (card then face, 1:1)": lambda img, pin, card: client.post(
                    f"/v1/gates/{card_gate}/access", headers=gate_auth,
                    files=[("image", ("f.jpg", img, "image/jpeg"))], data={"method": "card", "value": card}),
                "PIN alone": lambda img, pin, card: client.post(
                    f"/v1/gates/{identify_gate}/access", headers=gate_auth, json={"method": "pin", "value": pin}),
            }
            # interleaved, one resident at a time through every path, so a busy machine slows all alike
            times: dict[str, list[float]] = {name: [] for name in paths}
            granted = dict.fromkeys(paths, 0)
            for k, (_subject, probe, pin, card) in enumerate(residents):
                for name, send in paths.items():
                    t = time.perf_counter()
                    r = send(probe, pin, card)
                    elapsed = time.perf_counter() - t
                    assert r.status_code == 200, (name, r.status_code, r.text)
                    if k >= 3:  # warm-up
                        times[name].append(elapsed)
                        granted[name] += bool(r.json()["granted"])
            results = {name: _stats(times[name], granted[name]) for name in paths}
        dep.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "machine": platform.processor()
           or platform.machine(), "python": platform.python_version(), "residents": len(residents),
           "setup_s": round(setup_s, 1), "paths": results}
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
