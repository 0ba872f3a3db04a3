"""Threat-intelligence and PAD commands: ``trustface intel export|import|sync|list`` and
``trustface bench pad``.

Thin: parse, call :mod:`trustface.services.intel` / :mod:`trustface.bench.pad`, print. ``export`` writes this
deployment's own attack detections as a STIX 2.1 bundle (never a face, a template or a subject id);
``import`` puts another deployment's indicators on the blocklist at once; ``sync`` pushes and pulls
through a TAXII 2.1 collection (the password may come from ``$TRUSTFACE_TAXII_PASSWORD`` instead of
the command line).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from trustface.cli import app
from trustface.cli.deployment_commands import ActorOpt, DirOpt, JsonOpt, _context, _fail, _handled, _print
from trustface.cli.engine_commands import bench_app
from trustface.services import cli_principal

intel_app = typer.Typer(help="Attack intelligence: STIX 2.1 bundles of attack indicators, TAXII 2.1 sync.",
                        no_args_is_help=True)
app.add_typer(intel_app, name="intel")


@intel_app.command("export")
@_handled
def intel_export(file: Annotated[Path, typer.Argument(help="Where to write the STIX 2.1 bundle (JSON).")],
                 directory: DirOpt = None, actor: ActorOpt = "admin:cli", as_json: JsonOpt = False) -> None:
    """Write this deployment's attack detections as a STIX 2.1 bundle."""
    from trustface.services import intel

    with _context(directory) as ctx:
        bundle = intel.export_indicators(ctx, cli_principal(actor))
    file.write_text(bundle.serialize(pretty=True) + "\n")
    counts: dict[str, int] = {}
    for o in bundle.objects:
        counts[o.type] = counts.get(o.type, 0) + 1
    _print({"file": str(file), "bundle_id": bundle.id, "objects": counts}, as_json,
           f"wrote {counts.get('indicator', 0)} indicators to {file}")


@intel_app.command("import")
@_handled
def intel_import(file: Annotated[Path, typer.Argument(help="A STIX 2.1 bundle (JSON).")],
                 directory: DirOpt = None, actor: ActorOpt = "admin:cli", as_json: JsonOpt = False) -> None:
    """Put the indicators of a STIX 2.1 bundle on the blocklist (at once)."""
    from trustface.services import intel

    if not file.is_file():
        _fail(f"no such file: {file}")
    data = file.read_bytes()
    with _context(directory) as ctx:
        result = intel.import_indicators(ctx, cli_principal(actor), data)
    _print(result, as_json, f"added {result['added']} indicators ({result['known']} already known, "
                            f"{result['skipped']} skipped)")


@intel_app.command("sync")
@_handled
def intel_sync(taxii_url: Annotated[str, typer.Option("--taxii", help="TAXII 2.1 API root URL, e.g. https://host/api1/")],
               collection: Annotated[str, typer.Option("--collection", help="Collection id.")],
               user: Annotated[Optional[str], typer.Option("--user", help="TAXII user (HTTP basic auth).")] = None,
               password: Annotated[Optional[str], typer.Option("--password", help="TAXII password (or set "
                                                               "$TRUSTFACE_TAXII_PASSWORD).")] = None,
               pull_only: Annotated[bool, typer.Option("--pull-only", help="Do not push this deployment's detections.")] = False,
               directory: DirOpt = None, actor: ActorOpt = "admin:cli", as_json: JsonOpt = False) -> None:
    """Push this deployment's detections to a TAXII 2.1 collection, then pull and import the rest."""
    from trustface.services import intel

    password = password if password is not None else os.environ.get("TRUSTFACE_TAXII_PASSWORD")
    with _context(directory) as ctx:
        result = intel.sync_taxii(ctx, cli_principal(actor), api_root=taxii_url, collection=collection, user=user,
                                  password=password, push_local=not pull_only)
    imported = result["imported"]
    _print(result, as_json, f"pushed {result.get('pushed', 0)} indicators; pulled {result['pulled_objects']} "
                            f"objects: {imported['added']} new indicators on the blocklist")


@intel_app.command("list")
@_handled
def intel_list(directory: DirOpt = None, as_json: JsonOpt = False) -> None:
    """The blocklist: kind, species, where it came from, sightings (values are hashes, never frames)."""
    from trustface.services import intel

    with _context(directory) as ctx:
        found = intel.blocklist(ctx, cli_principal())
    rows: list[dict[str, Any]] = [{"kind": r.kind, "value": r.value, "species": r.species, "source": r.source, "count": r.count,
                                   "first_seen": r.first_seen.isoformat(), "last_seen": r.last_seen.isoformat(),
                                   "valid_until": r.valid_until.isoformat() if r.valid_until else None}
                                  for r in found]
    _print(rows, as_json, "\n".join(f"{r['kind']:7} {r['source']:6} {r['species']:16} x{r['count']} {r['value'][:16]}..."
                                    for r in rows) or "the blocklist is empty")


@bench_app.command("pad")
def bench_pad(
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Write the figures here as JSON.")] = None,
    data: Annotated[Optional[Path], typer.Option(help="Data root (default $TRUSTFACE_DATA or ../shared/data).")] = None,
    people: Annotated[int, typer.Option(min=1, help="LFW photo sequences (bona fide).")] = 40,
    seed: Annotated[int, typer.Option(help="Seed of the attack simulation and the order.")] = 8,
) -> None:
    """PAD evaluation (ISO/IEC 30107-3): APCER per attack species, worst case, BPCER, on a labelled set
    built from the real video and photos of the data set (docs/benchmarks.md, "PAD")."""
    from trustface.bench import pad
    from trustface.config import data_root

    root = data or data_root()
    try:
        result: dict[str, Any] = pad.run(root, people=people, seed=seed)
    except FileNotFoundError as exc:
        _fail(str(exc))
    text = json.dumps(result, indent=2)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(text + "\n")
    summary = {"apcer": result["apcer"], "apcer_worst": result["apcer_worst"], "bpcer": result["bpcer"],
               "gate_frame": {k: result["gate_frame"][k] for k in ("apcer", "apcer_worst", "bpcer")}}
    typer.echo(json.dumps(summary, indent=2))
