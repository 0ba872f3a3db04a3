"""PIN attempts at one tenant's gate while another tenant's gate is sent hostile frames (issue 18):
does a huge or expensive frame at one gate stall everyone else?

Usage::

    .venv/bin/python benchmarks/hostile_frames.py [--pins 400] [--rate 20] [--json OUT]

In a temporary SQLite deployment (synchronous FULL, the default): two tenants, each with the demo
property (``trustface.demo.setup_demo``). Tenant A's attended face gate (liveness off, so single
frames are decoded) receives two kinds of hostile frame, each from its own thread, at most
``--rate`` a second each (the API's default per-key limit, ``access_per_minute = 1200``, is 20/s;
``--rate 0`` sends as fast as the process can): the issue's 4 KB 1-bit PNG of 60000x600 (36 MP,
refused from its header since the 12 MP gate-frame cap) and an 11.9 MP noisy JPEG just under the
cap (decoded and searched for a face: the most a frame can cost). Meanwhile tenant B's side gate
answers PIN attempts one at a time; their latency is measured with and without the hostile load,
through the same services the API calls (no HTTP: this measures storage and locking, not the
web server).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from trustface import demo
from trustface.deployment import Deployment, init_deployment
from trustface.errors import TrustfaceError
from trustface.policy import ledger
from trustface.services import Context, cli_principal, gates


def _frames() -> list[bytes]:
    huge = io.BytesIO()
    Image.new("1", (60000, 600)).save(huge, "PNG")
    noisy = io.BytesIO()
    rng = np.random.default_rng(7)
    Image.fromarray(rng.integers(0, 255, (2900, 4100, 3), dtype=np.uint8)).save(noisy, "JPEG", quality=85)
    return [huge.getvalue(), noisy.getvalue()]


def _pin_latencies(ctx: Context, gate_id: str, pin: str, n: int) -> list[float]:
    who = cli_principal("gate:bench")
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        decision = gates.attempt_credential(ctx, who, gate_id, method="pin", value=pin)
        out.append((time.perf_counter() - t0) * 1000)
        assert decision.granted
    return out


def _summary(ms: list[float]) -> dict[str, float]:
    ms = sorted(ms)
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 2), "p99_ms": round(ms[int(0.99 * (len(ms) - 1))], 2),
            "max_ms": round(ms[-1], 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pins", type=int, default=200, help="PIN attempts per phase (default 200)")
    ap.add_argument("--rate", type=float, default=20.0,
                    help="hostile frames a second per thread (default 20: the API's per-key limit; 0: no limit)")
    ap.add_argument("--json", type=Path, default=None, metavar="OUT")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tf-hostile-") as tmp:
        init_deployment(Path(tmp) / "site")
        dep = Deployment(Path(tmp) / "site")
        ctx = Context.open(dep, preload=False)
        admin = cli_principal("admin:bench")
        with dep.transaction() as s:
            a, b = demo.setup_demo(s, actor="admin:bench"), demo.setup_demo(s, actor="admin:bench")
            resident = ledger.create_subject(s, tenant_id=b["tenant_id"], age_band="18+", site_id=b["site_id"],
                                             actor="admin:bench").id
        desk = gates.create_gate(ctx, admin, site_id=a["site_id"], name="Desk", methods=["face", "pin"],
                                 liveness="off", liveness_off_reason="benchmark: single frames are the load")
        pin = "58203611"
        gates.issue_credential(ctx, admin, subject_id=resident, site_id=b["site_id"], type="pin", value=pin)
        quiet = _pin_latencies(ctx, b["gate_ids"][1], pin, args.pins)
        stop = threading.Event()
        sent = {"huge_png_refused": 0, "noisy_jpeg_decided": 0, "other": 0}

        def attack(frame: bytes, counter: str) -> None:  # one thread per kind of frame
            who = cli_principal("gate:attacker")
            while not stop.is_set():
                if args.rate:
                    time.sleep(1.0 / args.rate)
                try:
                    gates.attempt_face(ctx, who, desk["id"], frame)
                    sent[counter if counter == "noisy_jpeg_decided" else "other"] += 1
                except TrustfaceError as exc:
                    sent[counter if exc.code == "E_IMAGE_TOO_LARGE" else "other"] += 1

        attackers = [threading.Thread(target=attack, args=(frame, counter))
                     for frame, counter in zip(_frames(), ("huge_png_refused", "noisy_jpeg_decided"), strict=True)]
        for t in attackers:
            t.start()
        time.sleep(1.0)
        loaded = _pin_latencies(ctx, b["gate_ids"][1], pin, args.pins)
        stop.set()
        for t in attackers:
            t.join()
        dep.close()
    result = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores", "python": sys.version.split()[0],
              "pin_quiet": _summary(quiet), "pin_with_hostile_frames": _summary(loaded),
              "hostile_rate_per_thread": args.rate, "hostile_frames_sent": sent}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
