"""Descriptor time per face for each dlib backend, side by side in one run, and their parity.

    .venv/bin/python benchmarks/descriptor_backends.py [--runs 40] [--faces 100] [--json OUT]

Each backend runs in its own process (one dlib per process) on one core, on the same aligned
chip; parity compares descriptors of the first image of `--faces` LFW people.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import datetime, timezone

PROBE = r"""
import json, sys, time
import numpy as np
from trustface import engine, imaging
from trustface.config import data_root
from trustface.engine._dlib import BACKEND
runs, faces = int(sys.argv[1]), int(sys.argv[2])
image = imaging.load_image(data_root() / "photos" / "examples" / "obama-480p.jpg")
chip = engine.aligned_chips(image, engine.detect(image))
engine.describe_chips(chip, flip=False)
times = []
for _ in range(runs):
    t = time.perf_counter(); engine.describe_chips(chip, flip=False); times.append(time.perf_counter() - t)
lfw = data_root() / "lfw" / "images"
people = sorted(lfw.iterdir())[: faces * 4 : 4]
chips = []
for person in people:
    img = imaging.load_image(sorted(person.iterdir())[0])
    found = engine.detect(img, min_face=80)
    if found:
        chips.append(engine.aligned_chips(img, [engine.central_face(found, img.shape)])[0])
vectors = engine.describe_chips(chips, flip=False)
print(json.dumps({"backend": BACKEND, "median_ms": float(np.median(times) * 1000),
                  "p10_ms": float(np.percentile(times, 10) * 1000), "vectors": vectors.tolist()}))
"""


def measure(backend: str, runs: int, faces: int) -> dict:
    env = {**os.environ, "TRUSTFACE_DLIB_BACKEND": backend, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", PROBE, str(runs), str(faces)], env=env, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--faces", type=int, default=100)
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args()
    import numpy as np

    results = {b: measure(b, args.runs, args.faces) for b in ("bin", "blas")}
    a, b = np.array(results["bin"].pop("vectors")), np.array(results["blas"].pop("vectors"))
    report = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "dlib_bin": results["bin"],
        "dlib_blas": results["blas"],
        "speedup": round(results["bin"]["median_ms"] / results["blas"]["median_ms"], 2),
        "parity_faces": len(a),
        "parity_max_abs": float(np.abs(a - b).max()),
        "load_average": os.getloadavg(),
    }
    print(json.dumps(report, indent=2))
    if args.json_out:
        with open(args.json_out, "w") as handle:
            json.dump(report, handle, indent=2)


if __name__ == "__main__":
    main()
