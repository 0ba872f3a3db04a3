"""Gallery commands: ``keys rotate``, ``gallery erase``, ``gallery check``, ``bench gallery``.

Thin, like every command: parse, call :mod:`trustface.gallery`, print. No command prints a
template or a descriptor (R11): only ids, counts and figures.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from trustface.cli import app
from trustface.cli.deployment_commands import ActorOpt, DirOpt, JsonOpt, _handled, _open, _print
from trustface.cli.engine_commands import bench_app

keys_app = typer.Typer(help="Template keys: rotate (re-protect every template, no photo needed).",
                       no_args_is_help=True)
gallery_app = typer.Typer(help="The protected gallery: erase a subject, check template integrity.",
                          no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(gallery_app, name="gallery")


@keys_app.command("rotate")
@_handled
def keys_rotate(directory: DirOpt = None,
                tenant: Annotated[Optional[str], typer.Option("--tenant", help="Only this tenant (default: all).")] = None,
                actor: ActorOpt = "admin:cli", as_json: JsonOpt = False) -> None:
    """Re-protect every template under a new key version (new transform, new KEK, new data keys)."""
    from trustface.gallery import rotate_keys

    with _open(directory) as dep:
        with dep.transaction() as s:
            reports = rotate_keys(s, dep.keys.tenant_kek_seed, tenant_id=tenant, actor=actor)
    text = "\n".join(f"tenant {r['tenant_id']}: key version {r['from_version']} -> {r['to_version']}, "
                     f"{r['templates']} templates of {r['subjects']} subjects re-protected" for r in reports)
    _print(reports, as_json, text or "no tenant has templates")


@gallery_app.command("erase")
@_handled
def gallery_erase(subject: Annotated[str, typer.Option("--subject", help="Subject id.")],
                  reason: Annotated[str, typer.Option("--reason")] = "erasure_request",
                  directory: DirOpt = None, actor: ActorOpt = "admin:cli", as_json: JsonOpt = False) -> None:
    """Erase every template of a subject and destroy its data key; prints the deletion certificates."""
    from trustface.gallery import erase_subject

    with _open(directory) as dep:
        with dep.transaction() as s:
            certs = erase_subject(s, subject, actor=actor, reason=reason)
    _print(certs, as_json, "\n".join(f"erased {subject}: certificate {c['certificate_id']} (audit seq {c['seq']}), "
                                     f"deleted {json.dumps(c['deleted'], sort_keys=True)}" for c in certs))


@gallery_app.command("check")
@_handled
def gallery_check(directory: DirOpt = None, as_json: JsonOpt = False) -> None:
    """Open every identify gallery as start-up does; name templates that fail authentication.
    Exit 1 when any does."""
    import time

    from trustface.gallery import Gallery

    with _open(directory) as dep:
        t0 = time.perf_counter()
        gallery = Gallery(dep)
        with dep.session() as s:
            try:
                sizes = gallery.rebuild(s)
            finally:
                s.rollback()
        elapsed = time.perf_counter() - t0
    report = {"galleries": sizes, "rebuild_s": round(elapsed, 3), "integrity_failures": gallery.integrity_failures}
    lines = [f"{name}: {n} templates" for name, n in sizes.items()] or ["no identify gallery"]
    lines += [f"TAMPERED: {f['template_id']} (subject {f['subject_id']}): {f['error']}" for f in gallery.integrity_failures]
    _print(report, as_json, "\n".join(lines))
    if gallery.integrity_failures:
        raise typer.Exit(1)


@bench_app.command("gallery")
def bench_gallery(
    sizes: Annotated[str, typer.Option(help="Gallery sizes, comma-separated.")] = "10000,100000,1000000",
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Write the figures here as JSON.")] = None,
    data: Annotated[Optional[Path], typer.Option(help="Data root holding lfw/.")] = None,
    cache: Annotated[Path, typer.Option(help="Descriptor cache folder.")] = Path("bench-out"),
    enrol_photos: Annotated[int, typer.Option(help="Real LFW photos to enrol for the throughput figure.")] = 200,
    rebuild: Annotated[bool, typer.Option(help="Measure the start-up rebuild from an encrypted SQLite store.")] = True,
    workers: Annotated[Optional[int], typer.Option(help="Worker processes for describing LFW.")] = None,
) -> None:
    """Enrolment throughput, start-up rebuild, 1:N query p50/p99, recall@1 vs exact, memory per
    template, and open-set identification on LFW (rank-1, FNIR at FPIR = 1%)."""
    from trustface.bench import gallery as bench
    from trustface.config import data_root

    size_list = [int(x) for x in sizes.split(",") if x.strip()]
    report = bench.run(lfw_dir=(data or data_root()) / "lfw", cache_dir=cache, sizes=size_list,
                       enrol_photos=enrol_photos, rebuild=rebuild, workers=workers)
    text = json.dumps(report, indent=2)
    print(text)
    if json_out:
        json_out.write_text(text + "\n")
