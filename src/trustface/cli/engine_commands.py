"""Engine commands: detect, compare, bench. They touch no deployment and no subject."""

from __future__ import annotations

import csv
import json
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Literal, Optional, cast

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from trustface.cli import app
from trustface.errors import TrustfaceError

DetectMethod = Literal["hog", "cnn", "auto"]

err = Console(stderr=True)

bench_app = typer.Typer(help="Benchmarks on the real data set (LFW).", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def _emit(data: object, out: Path | None = None) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False)
    if out is None:
        print(text)
    else:
        out.write_text(text + "\n")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=err, transient=False,
    )


@app.command()
def detect(
    images: Annotated[list[Path], typer.Argument(help="Photos (JPEG, PNG, WebP, BMP, PGM/PPM).")],
    method: Annotated[str, typer.Option(help="hog (fast), cnn (slow, finds turned faces) or auto.")] = "hog",
    upsample: Annotated[Optional[int], typer.Option(help="Times to double the image (default: automatic).")] = None,
) -> None:
    """Print the faces found in each photo (boxes as left, top, right, bottom; quality) as JSON."""
    from trustface import engine, imaging

    if method not in ("hog", "cnn", "auto"):
        _fail(f"--method is hog, cnn or auto, not {method!r}")
    results, failed = [], 0
    for path in images:
        try:
            image = imaging.load_image(path)
            faces = engine.detect(image, method=cast(DetectMethod, method), upsample=upsample)
            results.append({
                "image": str(path),
                "width": image.shape[1],
                "height": image.shape[0],
                "faces": [{**f.to_dict(), "quality": engine.assess(image, f).to_dict()} for f in faces],
            })
        except TrustfaceError as exc:
            failed += 1
            results.append({"image": str(path), "error": exc.to_dict()})
    _emit(results)
    if failed:
        raise typer.Exit(1)


def _read_pairs_tsv(path: Path) -> list[tuple[str, str]]:
    if not path.is_file():
        _fail(f"no such pairs file: {path}")
    pairs = []
    with path.open(newline="") as handle:
        for number, row in enumerate(csv.reader(handle, delimiter="\t"), start=1):
            if not row or not "".join(row).strip() or row[0].startswith("#"):
                continue
            if len(row) != 2:
                _fail(f"{path}:{number}: expected two tab-separated image paths, found {len(row)} fields")
            pairs.append((row[0].strip(), row[1].strip()))
    return pairs


@app.command()
def compare(
    images: Annotated[Optional[list[Path]], typer.Argument(help="Two photos to compare.")] = None,
    pairs: Annotated[Optional[Path], typer.Option("--pairs", help="TSV file: two image paths per line.")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Write per-pair results and a summary here.")] = None,
    fmr: Annotated[Optional[str], typer.Option(help="Operating point (target false-match rate), e.g. 1e-3.")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Worker processes (default: one per core).")] = None,
) -> None:
    """Compare two photos (main face of each), or every pair listed in a TSV file."""
    from trustface import engine
    from trustface.bench.parallel import map_chunks
    from trustface.engine.files import describe_files

    if pairs is None and (images is None or len(images) != 2):
        _fail("give two photos, or --pairs FILE")
    if pairs is not None and images:
        _fail("give either two photos or --pairs FILE, not both")
    engine.threshold(fmr)  # refuse an unknown operating point before any work
    pair_list = _read_pairs_tsv(pairs) if pairs else [(str(images[0]), str(images[1]))] if images else []

    unique = sorted({p for pair in pair_list for p in pair})
    if len(unique) > 4:
        with _progress() as progress:
            task = progress.add_task("describing photos", total=len(unique))
            described = map_chunks(describe_files, unique, workers=workers, on_progress=lambda n: progress.advance(task, n))
    else:
        described = describe_files(unique)
    by_path = dict(zip(unique, described, strict=False))

    rows = []
    for a, b in pair_list:
        ra, rb = by_path[a], by_path[b]
        row: dict = {"a": a, "b": b, "distance": None, "similarity": None, "same": None, "error": None}
        bad = ra if ra.error else rb if rb.error else None
        if bad is not None and bad.error is not None:
            row["error"] = {**bad.error, "image": bad.path}
        elif ra.descriptor is not None and rb.descriptor is not None:
            result = engine.compare(ra.descriptor, rb.descriptor, fmr)
            row.update(distance=round(result.distance, 6), similarity=round(result.similarity, 6), same=result.same)
        rows.append(row)

    name, limit = engine.threshold(fmr)
    summary = {
        "pairs": len(rows),
        "same": sum(1 for r in rows if r["same"] is True),
        "different": sum(1 for r in rows if r["same"] is False),
        "errors": sum(1 for r in rows if r["error"]),
        "operating_point": name,
        "threshold": limit,
        "model": engine.MODEL_VERSION,
    }
    if pairs is None:
        _emit({**rows[0], "operating_point": name, "threshold": limit})
        raise typer.Exit(2 if rows[0]["error"] else 0)
    for r in rows:
        verdict = r["error"]["code"] if r["error"] else ("same" if r["same"] else "different")
        distance = "" if r["distance"] is None else f"{r['distance']:.4f}"
        print(f"{r['a']}\t{r['b']}\t{distance}\t{verdict}")
    err.print(
        f"{summary['pairs']} pairs: {summary['same']} same, {summary['different']} different, "
        f"{summary['errors']} errors (operating point FMR {name}, threshold {limit})"
    )
    if json_out:
        _emit({"pairs": rows, "summary": summary}, json_out)


@bench_app.command("lfw")
def bench_lfw(
    data: Annotated[Optional[Path], typer.Option(
        help="Data root holding lfw/ (default $TRUSTFACE_DATA or ../shared/data).")] = None,
    folds: Annotated[int, typer.Option(min=1, max=10, help="Folds to run (1 = quick check).")] = 10,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Write the figures here as JSON.")] = None,
    peer: Annotated[bool, typer.Option(help="Also run ageitgey/face_recognition on the same images.")] = False,
    workers: Annotated[Optional[int], typer.Option(help="Worker processes (default: one per core).")] = None,
    calibrate: Annotated[Optional[Path], typer.Option(help="Write operating points calibrated on LFW impostors here.")] = None,
) -> None:
    """The standard LFW pairs protocol: 10-fold accuracy, TAR at FAR, throughput, memory."""
    from trustface.bench import lfw
    from trustface.config import data_root
    from trustface.engine import MODEL_VERSION
    from trustface.engine.descriptor import descriptor_backend
    from trustface.engine.zoo import ModelFileError

    lfw_dir = (data or data_root()) / "lfw"
    if not (lfw_dir / "pairs.txt").is_file():
        _fail(f"no LFW data at {lfw_dir} (expected pairs.txt and images/); set --data or TRUSTFACE_DATA")
    if peer:
        try:
            import face_recognition  # noqa: F401
        except ImportError:
            _fail("--peer needs face_recognition: pip install --no-deps face-recognition==1.3.0")

    with _progress() as progress:
        def stage(name: str, total: int):
            task = progress.add_task(f"{name:>16}", total=total)
            return lambda n: progress.advance(task, n)

        try:
            report, extras = lfw.run(lfw_dir, folds=folds, peer=peer, workers=workers, on_stage=stage)
        except ModelFileError as error:  # SFace's weights missing or altered: say so, no traceback
            _fail(str(error))

    report.update(
        model=MODEL_VERSION, backend=descriptor_backend()[0], date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        machine=f"{platform.machine()}, {report['workers']} workers", command=" ".join(["trustface", *sys.argv[1:]]),
    )
    if calibrate:
        points, impostors = lfw.calibrate(extras["trustface"].vectors, extras["paths"])
        _emit({
            "model": MODEL_VERSION,
            "pipeline": "HOG cascade with CNN fallback, 68-point chip 150 px (padding 0.25), flip averaged",
            "metric": "euclidean",
            "default": "1e-3",
            "operating_points": points,
            "calibration": {"data": "LFW deep-funneled: the 7,701 images named in pairs.txt", "impostor_pairs": impostors,
                             "method": "quantile of the Euclidean distances of all pairs of images of different people",
                             "date": report["date"], "command": report["command"]},
        }, calibrate)
        for written in lfw.write_engine_calibrations(extras, calibrate, report):  # SFace and fused, beside it
            err.print(f"wrote {written}")
    _emit(report)
    if json_out:
        _emit(report, json_out)



@bench_app.command("identify")
def bench_identify(
    data: Annotated[Optional[Path], typer.Option(help="Data root holding lfw/ (default $TRUSTFACE_DATA).")] = None,
    cache: Annotated[Path, typer.Option(help="Descriptor cache folder (computed once).")] = Path("bench-out"),
    sizes: Annotated[str, typer.Option(help="Gallery sizes, comma-separated; 0 or 'all' = all 3,714.")] = "100,1000,all",
    budget: Annotated[Optional[float], typer.Option(help="Stranger-admission budget (max FPIR per attempt).")] = None,
    peer: Annotated[bool, typer.Option(help="Also face_recognition's descriptors at its 0.6 default.")] = False,
    det: Annotated[Optional[Path], typer.Option(help="Write the DET curves here as a PNG.")] = None,
    quality: Annotated[bool, typer.Option(help="Also measure refusing probes under the quality floors.")] = False,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Write the figures here as JSON.")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Worker processes for describing LFW.")] = None,
    calibrate: Annotated[Optional[Path], typer.Option(
        help="Write thresholds.json with its open_set section (impostor tail, genuine CDF) here.")] = None,
) -> None:
    """Open-set identification over all 13,233 LFW images: FPIR and FNIR at the fixed identify
    default and at the stranger-admission budget, FNIR at FPIR 1 % and 0.1 %, rank-1, DET curves."""
    from trustface.bench import identify
    from trustface.bench.parallel import default_workers
    from trustface.config import data_root
    from trustface.engine.open_set import validate_budget
    from trustface.engine.thresholds import calibration

    lfw_dir = (data or data_root()) / "lfw"
    if not (lfw_dir / "images").is_dir():
        _fail(f"no LFW data at {lfw_dir} (expected images/); set --data or TRUSTFACE_DATA")
    try:
        size_list = [0 if x.strip() == "all" else int(x) for x in sizes.split(",") if x.strip()]
    except ValueError:
        _fail(f"--sizes takes whole numbers or 'all', comma-separated, not {sizes!r}")
    if not size_list or any(n < 0 for n in size_list):
        _fail("--sizes needs at least one gallery size >= 1 (or 0 / all)")
    if budget is not None:
        try:
            budget = validate_budget(budget)
        except TrustfaceError as exc:
            _fail(f"{exc.code}: {exc.message}")
    if peer:
        try:
            import face_recognition  # noqa: F401
        except ImportError:
            _fail("--peer needs face_recognition: pip install --no-deps face-recognition==1.3.0")
    stamp = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
             "command": " ".join(["trustface", *sys.argv[1:]])}
    if calibrate:
        section = identify.calibrate_open_set(lfw_dir, cache, workers=workers)
        base = {k: v for k, v in calibration().items() if k != "open_set"}
        _emit({**base, "open_set": {**section, **stamp}}, calibrate)
        err.print(f"wrote {calibrate}: copy it over src/trustface/engine/thresholds.json to use it")
        return
    report = identify.run(lfw_dir=lfw_dir, cache_dir=cache, sizes=size_list, budget=budget, peer=peer, det=det,
                          quality=quality, workers=workers)
    if det is None:
        report["det_png"] = None
        report["det_note"] = "no --det PATH given: the DET curves are the 'det' points (threshold, FPIR, FNIR)"
    report = {**stamp, "machine": f"{platform.machine()}, {workers or default_workers()} workers", **report}
    _emit(report)
    if json_out:
        _emit(report, json_out)


@app.command()
def doctor() -> None:
    """Say which descriptor backend runs and why, where the models are, and the calibration."""
    import face_recognition_models as files

    from trustface import __version__
    from trustface.config import data_root
    from trustface.engine import MODEL_VERSION, operating_points
    from trustface.engine.backends import backend_report
    from trustface.engine.thresholds import calibration

    _emit({
        "trustface": __version__,
        **backend_report(),  # backend, backend_reason, dlib_backend, dlib_backend_reason, dlib, dlib_use_blas
        "model": MODEL_VERSION,
        "model_file": files.face_recognition_model_location(),
        "operating_points": operating_points(),
        "default_operating_point": calibration()["default"],
        "data_root": str(data_root()),
    })
