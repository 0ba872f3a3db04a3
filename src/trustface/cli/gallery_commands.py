"""Gallery commands: ``keys rotate``, ``gallery erase``, ``gallery check``, ``bench gallery``.

Thin, like every command: parse, call :mod:`trustface.services.maintenance` as the deployment
administrator, print. No command prints a
template or a descriptor (R11): only ids, counts and figures.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from trustface.cli import app
from trustface.cli.deployment_commands import ActorOpt, DirOpt, JsonOpt, _context, _handled, _print
from trustface.cli.engine_commands import bench_app
from trustface.services import cli_principal

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
    from trustface.services import maintenance

    with _context(directory) as ctx:
        reports = maintenance.rotate_template_keys(ctx, cli_principal(actor), tenant_id=tenant)
    text = "\n".join(f"tenant {r['tenant_id']}: key version {r['from_version']} -> {r['to_version']}, "
                     f"{r['templates']} templates of {r['subjects']} subjects re-protected" for r in reports)
    _print(reports, as_json, text or "no tenant has templates")


@gallery_app.command("erase")
@_handled
def gallery_erase(subject: Annotated[str, typer.Option("--subject", help="Subject id.")],
                  reason: Annotated[str, typer.Option("--reason")] = "erasure_request",
                  directory: DirOpt = None, actor: ActorOpt = "admin:cli", as_json: JsonOpt = False) -> None:
    """Erase every template of a subject and destroy its data key; prints the deletion certificates."""
    from trustface.services import maintenance

    with _context(directory) as ctx:
        certs = maintenance.erase_gallery_data(ctx, cli_principal(actor), subject, reason=reason)
    _print(certs, as_json, "\n".join(f"erased {subject}: certificate {c['certificate_id']} (audit seq {c['seq']}), "
                                     f"deleted {json.dumps(c['deleted'], sort_keys=True)}" for c in certs))


@gallery_app.command("check")
@_handled
def gallery_check(directory: DirOpt = None, as_json: JsonOpt = False) -> None:
    """Open every identify gallery as start-up does; name templates that fail authentication.
    Exit 1 when any does."""
    from trustface.services import maintenance

    with _context(directory) as ctx:
        checked = maintenance.check_gallery(ctx, cli_principal())
    failures = list(checked.integrity_failures)
    report = {"galleries": checked.galleries, "rebuild_s": checked.rebuild_s, "integrity_failures": failures}
    lines = [f"{name}: {n} templates" for name, n in checked.galleries.items()] or ["no identify gallery"]
    lines += [f"TAMPERED: {f['template_id']} (subject {f['subject_id']}): {f['error']}" for f in failures]
    _print(report, as_json, "\n".join(lines))
    if failures:
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
