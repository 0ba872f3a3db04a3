"""Compliance commands: ``assess``, ``pia create|approve|status``, ``notice generate|render`` and
``purpose set-modes``.

Thin like every command: parse, call :mod:`trustface.services` (oversight, admin) as the deployment
administrator, print. ``assess`` exits 0 when it produced a report (``--strict``: 1 when a check failed); refusals
exit 2 with one line on stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from trustface.cli import app
from trustface.cli.deployment_commands import (
    ActorOpt,
    DirOpt,
    JsonOpt,
    _context,
    _fail,
    _handled,
    _print,
    notice_app,
    purpose_app,
)
from trustface.services import cli_principal

pia_app = typer.Typer(help="Impact assessments (PIA/DPIA): draft, approve, status.", no_args_is_help=True)
app.add_typer(pia_app, name="pia")

SiteOpt = Annotated[str, typer.Option("--site", help="Site id.")]
OutOpt = Annotated[Optional[Path], typer.Option("--out", help="Write to this file instead of standard output.")]


def _emit(data: bytes, out: Path | None) -> None:
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        out.write_bytes(data)


@app.command("assess")
@_handled
def assess_cmd(site: SiteOpt, directory: DirOpt = None,
               fmt: Annotated[str, typer.Option("--format", help="json, html or pdf.")] = "json",
               out: OutOpt = None,
               regime: Annotated[Optional[list[str]], typer.Option(
                   "--regime", help="Rule pack to apply (repeatable); default: those of the site's profile.")] = None,
               strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when any check fails.")] = False,
               record: Annotated[bool, typer.Option("--record/--no-record",
                                                    help="Write an audit event for this assessment.")] = True,
               actor: ActorOpt = "admin:cli") -> None:
    """Assess a site against the rule packs from its live state; print or write the report."""
    from trustface.compliance import report
    from trustface.services import oversight

    if fmt not in report.FORMATS:
        _fail(f"E_INVALID_ARGUMENT: --format must be one of {', '.join(report.FORMATS)}")
    if fmt == "pdf" and out is None and sys.stdout.isatty():
        _fail("E_INVALID_ARGUMENT: a PDF goes to a file: add --out report.pdf")
    with _context(directory) as ctx:
        result = oversight.assess_site(ctx, cli_principal(actor), site, regimes=regime or None, record=record)
    _emit(report.render(result, fmt), out)
    if out is not None:
        counts = result["summary"]
        typer.echo(f"{out}: {counts['verdict']} ({counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail)",
                   err=True)
    if strict and result["summary"]["fail"]:
        raise typer.Exit(1)


def _modes(modes: str | None) -> list[str] | None:
    return [m.strip() for m in modes.split(",")] if modes else None


@pia_app.command("create")
@_handled
def pia_create(site: SiteOpt, purpose: Annotated[str, typer.Option("--purpose", help="Purpose name.")],
               modes: Annotated[Optional[str], typer.Option("--modes", help="e.g. verify,identify; default: the "
                                                                             "purpose's modes")] = None,
               out: OutOpt = None, directory: DirOpt = None) -> None:
    """Write a PIA draft (YAML): facts filled in from the live site, judgements marked TODO."""
    from trustface.compliance import pia
    from trustface.services import purposes

    with _context(directory) as ctx:
        doc = purposes.draft_pia(ctx, cli_principal(), site, purpose=purpose, modes=_modes(modes))
    _emit(pia.dump(doc).encode("utf-8"), out)


@pia_app.command("approve")
@_handled
def pia_approve(file: Annotated[Path, typer.Option("--file", help="The completed PIA document (YAML or JSON).")],
                approver: Annotated[str, typer.Option("--approver", help="Who approves (name or role).")],
                directory: DirOpt = None, actor: ActorOpt = "admin:cli", as_json: JsonOpt = False) -> None:
    """Approve a completed PIA (refused while a section says TODO); prints the PIA id."""
    from trustface.compliance import pia
    from trustface.services import purposes

    doc = pia.load(file.read_text("utf-8"))
    with _context(directory) as ctx:
        done = purposes.approve_pia_document(ctx, cli_principal(actor), doc, approver=approver)
    _print({"pia_id": done.id, **done.status}, as_json, done.id)


@pia_app.command("status")
@_handled
def pia_status(site: SiteOpt, directory: DirOpt = None, as_json: JsonOpt = False) -> None:
    """Each purpose's PIA state: fresh, stale (and why), missing or not required."""
    from trustface.services import purposes

    with _context(directory) as ctx:
        rows = purposes.pia_states(ctx, cli_principal(), site)
    text = "\n".join(f"{r['purpose']}: {r['state']}" + (f" ({'; '.join(r['reasons'])})" if r["reasons"] else "")
                     for r in rows) or "no purposes"
    _print(rows, as_json, text)


@notice_app.command("generate")
@_handled
def notice_generate(site: SiteOpt, kind: Annotated[str, typer.Option("--kind", help="general|minors")] = "general",
                    publish: Annotated[bool, typer.Option("--publish", help="Publish the new version.")] = False,
                    directory: DirOpt = None, actor: ActorOpt = "admin:cli", as_json: JsonOpt = False) -> None:
    """Generate the processing rules from the site's configuration (zh + en) as the next version."""
    from trustface.services import admin

    with _context(directory) as ctx:
        n = admin.generate_notice(ctx, cli_principal(actor), site, kind=kind, publish=publish)
    info = {"notice_id": n.id, "kind": n.kind, "version": n.version, "content_hash": n.content_hash,
            "published": n.published_at is not None}
    _print(info, as_json, f"version {n.version} {n.content_hash}" + ("" if info["published"] else " (draft)"))


@notice_app.command("render")
@_handled
def notice_render(site: SiteOpt, lang: Annotated[str, typer.Option("--lang", help="zh or en")] = "zh",
                  kind: Annotated[str, typer.Option("--kind", help="general|minors")] = "general",
                  out: OutOpt = None, directory: DirOpt = None) -> None:
    """The published processing rules as an HTML page."""
    from trustface.services import admin

    with _context(directory) as ctx:
        html = admin.notice_page(ctx, site, lang=lang, kind=kind)
    _emit(html.encode("utf-8"), out)


@purpose_app.command("set-modes")
@_handled
def purpose_set_modes(site: SiteOpt, name: Annotated[str, typer.Option("--purpose", help="Purpose name.")],
                      modes: Annotated[str, typer.Option("--modes", help="e.g. verify,identify")],
                      directory: DirOpt = None, actor: ActorOpt = "admin:cli") -> None:
    """Switch a purpose's modes; identify/analyze need an approved, fresh PIA first (E_PIA_MISSING)."""
    from trustface.services import purposes

    with _context(directory) as ctx:
        p = purposes.set_purpose_modes(ctx, cli_principal(actor), site, purpose=name, modes=modes)
    typer.echo(json.dumps({"purpose": p.name, "modes": list(p.modes)}))
