"""Descriptor time per face for each backend, side by side in one run, and their parity.

    .venv/bin/python benchmarks/descriptor_backends.py [--runs 40] [--faces 100] [--json OUT]

Backends: dlib-bin, dlib-blas and onnxruntime (the same network converted by
trustface.engine.onnx_net). Each runs in its own process on one thread, on the same aligned
chip; parity compares descriptors of the first image of `--faces` LFW people with dlib-bin's
(the onnxruntime process extracts its chips with dlib-bin, so only the network differs).
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
from trustface.engine.descriptor import descriptor_backend
BACKEND = descriptor_backend()[0]
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


BACKENDS = {  # report key: TRUSTFACE_DESCRIPTOR_BACKEND (onnx detects and cuts chips with dlib-bin)
    "dlib_bin": "bin",
    "dlib_blas": "blas",
    "onnx": "onnx",
}


def measure(backend: str, runs: int, faces: int) -> dict:
    env = {**os.environ, "TRUSTFACE_DESCRIPTOR_BACKEND": BACKENDS[backend], "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
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

    load_before = os.getloadavg()
    results = {b: measure(b, args.runs, args.faces) for b in BACKENDS}
    vectors = {b: np.array(r.pop("vectors")) for b, r in results.items()}
    ref = vectors["dlib_bin"]
    report = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        **results,
        # dlib-blas against dlib-bin (the keys of earlier reports)
        "speedup": round(results["dlib_bin"]["median_ms"] / results["dlib_blas"]["median_ms"], 2),
        "parity_faces": len(ref),
        "parity_max_abs": float(np.abs(ref - vectors["dlib_blas"]).max()),
        # onnxruntime against dlib-bin
        "onnx_speedup": round(results["dlib_bin"]["median_ms"] / results["onnx"]["median_ms"], 2),
        "onnx_vs_blas_speedup": round(results["dlib_blas"]["median_ms"] / results["onnx"]["median_ms"], 2),
        "onnx_parity_faces": len(vectors["onnx"]),
        "onnx_parity_max_abs": float(np.abs(ref - vectors["onnx"]).max()) if ref.shape == vectors["onnx"].shape
        else None,
        "load_average_before": load_before,
        "load_average": os.getloadavg(),
    }
    print(json.dumps(report, indent=2))
    if args.json_out:
        with open(args.json_out, "w") as handle:
            json.dump(report, handle, indent=2)


if __name__ == "__main__":
    main()
