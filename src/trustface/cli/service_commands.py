"""Service commands: serve, enroll, verify, identify, subjects, gate, credential, erase.

Thin like every command: parse, call a use case of :mod:`trustface.services` (the same functions
the API and the web pages call, run as the deployment administrator named ``--actor``), print.
Face data is touched only under a Grant from ``policy.gate.authorize()``; a policy refusal is
still written to the audit trail (its transaction commits) before the command reports it.

Exit status: 0 done (or granted / matched); 1 a negative answer (denied at the gate, no match,
unknown face, some photos of a batch not enrolled); 2 a refusal or bad input, as one line on stderr.
No command prints a template or a descriptor (R11).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from trustface.cli import app
from trustface.cli.deployment_commands import ActorOpt, DirOpt, JsonOpt, _context, _fail, _handled, _print
from trustface.errors import TrustfaceError

gate_app = typer.Typer(help="Gates: create one, or try a PIN, card, QR code or face at one.", no_args_is_help=True)
credential_app = typer.Typer(help="Non-face credentials (PIN, card, QR): the way in that never needs a face.",
                             no_args_is_help=True)
app.add_typer(gate_app, name="gate")
app.add_typer(credential_app, name="credential")

#: codes that mean "this photo is unusable" (the quality gate), not "this subject may not be enrolled"
PHOTO_FAILURES = frozenset({"E_IMAGE_INVALID", "E_IMAGE_TOO_LARGE", "E_NO_FACE", "E_MULTIPLE_FACES", "E_FACE_QUALITY"})
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".pgm", ".ppm")
SiteOpt = Annotated[str, typer.Option("--site", help="Site id.")]
PurposeOpt = Annotated[str, typer.Option("--purpose", help="Purpose declared by the site.")]


def _photo(path: Path) -> str:
    if not path.is_file():
        _fail(f"no such photo: {path}")
    return str(path)


# --- serve --------------------------------------------------------------------------------------

def _is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@app.command("serve")
@_handled
def serve(directory: DirOpt = None,
          host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
          port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
          public: Annotated[bool, typer.Option(
              "--public", help="Allow a non-loopback --host. Off by default: the API handles face data and API "
                               "keys, so it listens on this machine only unless you decide otherwise, ideally "
                               "behind a TLS-terminating reverse proxy.")] = False) -> None:
    """Run the HTTP API (and its /docs) for a deployment with uvicorn, in the foreground."""
    from trustface import config
    from trustface.deployment import load_keys, load_settings

    if not 1 <= port <= 65535:
        _fail(f"port must be between 1 and 65535, not {port}")
    if not _is_loopback(host) and not public:
        _fail(f"refusing to listen on {host}: that exposes face data and the API beyond this machine; "
              f"add --public if you mean it (preferably behind a TLS reverse proxy)")
    target = config.deployment_dir(directory)
    load_keys(target)  # a missing or unreadable deployment is one line here, not a server traceback
    load_settings(target)
    try:
        import uvicorn

        from trustface.api import create_app
    except ImportError as exc:
        _fail(f"the HTTP API cannot be loaded in this installation ({exc})")
    application = create_app(target)
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"trustface API on http://{shown}:{port} (docs: http://{shown}:{port}/docs); deployment {target}",
               err=True)
    uvicorn.run(application, host=host, port=port, log_level="info")


# --- enrol, verify, identify --------------------------------------------------------------------

def _enrol_one(ctx, *, site: str, subject: str, purpose: str, modes: str, photos: list, actor: str) -> list:
    """Enrol one subject (a Grant per mode, refusals committed to the audit trail, then the gallery).
    Raises TrustfaceError on a refusal."""
    from trustface.services import cli_principal, faces

    return faces.enrol(ctx, cli_principal(actor), subject, photos, purpose=purpose, modes=modes,
                       site_id=site).enrolments


@app.command("enroll")
@_handled
def enroll(site: SiteOpt,
           purpose: PurposeOpt = "door_access",
           mode: Annotated[str, typer.Option("--mode", help="verify, identify, or verify,identify.")] = "identify",
           subject: Annotated[Optional[str], typer.Option("--subject", help="Subject id (with PHOTO...).")] = None,
           folder: Annotated[Optional[Path], typer.Option(
               "--folder", help="Batch: every image in this folder, named <subject id>.<ext>.")] = None,
           photos: Annotated[Optional[list[Path]], typer.Argument(help="Enrolment photos of --subject.")] = None,
           directory: DirOpt = None, actor: ActorOpt = "admin:cli", as_json: JsonOpt = False) -> None:
    """Enrol faces under each subject's consent (a Grant per subject and mode; photos not kept).

    One subject: --subject ID PHOTO...  A folder: --folder DIR, each file named after its subject id;
    subjects without consent are reported as refused and nothing is enrolled for them."""
    from trustface.services import faces

    faces.parse_modes(mode)  # a bad --mode is refused before any photo is read
    if (folder is None) == (subject is None):
        _fail("give either --subject ID with photos, or --folder DIR")
    if subject is not None:
        if not photos:
            _fail("give at least one photo of the subject")
        paths = [_photo(p) for p in photos]
        with _context(directory) as ctx:
            done = _enrol_one(ctx, site=site, subject=subject, purpose=purpose, modes=mode, photos=paths,
                              actor=actor)
        _print([e.to_dict() for e in done], as_json,
               "\n".join(f"enrolled {e.subject_id} for {e.purpose}/{e.mode}: {len(e.template_ids)} template(s) "
                         f"from {e.photos} photo(s), audit seq {e.audit_seq}; photos not kept" for e in done))
        return
    if photos:
        _fail("with --folder, give no photo arguments")
    assert folder is not None
    _enrol_folder(directory, folder, site=site, purpose=purpose, modes=mode, actor=actor, as_json=as_json)


def _enrol_folder(directory, folder: Path, *, site: str, purpose: str, modes: str, actor: str,
                  as_json: bool) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    if not folder.is_dir():
        _fail(f"no such folder: {folder}")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        _fail(f"{folder} holds no photos ({', '.join(IMAGE_SUFFIXES)})")
    by_subject: dict[str, list[Path]] = {}
    for path in files:
        by_subject.setdefault(path.stem, []).append(path)
    console = Console(stderr=as_json, highlight=False, soft_wrap=True)
    results = []
    with _context(directory) as ctx:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=console, transient=True, disable=not console.is_terminal) as progress:
            task = progress.add_task("enrolling", total=len(by_subject))
            for subject_id, paths in by_subject.items():
                names = ", ".join(p.name for p in paths)
                try:
                    done = _enrol_one(ctx, site=site, subject=subject_id, purpose=purpose, modes=modes,
                                      photos=[str(p) for p in paths], actor=actor)
                    entry = {"subject_id": subject_id, "files": [p.name for p in paths], "result": "enrolled",
                             "modes": [e.mode for e in done], "audit_seq": done[-1].audit_seq}
                    line = f"enrolled  {subject_id} ({names}): {', '.join(entry['modes'])}"
                except TrustfaceError as exc:
                    # a policy refusal (no consent, ...) vs. a photo the quality gate rejects
                    kind = "failed" if exc.code in PHOTO_FAILURES else "refused"
                    entry = {"subject_id": subject_id, "files": [p.name for p in paths], "result": kind,
                             "code": exc.code, "message": exc.message}
                    line = f"{kind:<9} {subject_id} ({names}): {exc.code}: {exc.message}"
                results.append(entry)
                if not as_json:
                    progress.console.print(line, markup=False)
                progress.advance(task)
    counts = {k: sum(r["result"] == k for r in results) for k in ("enrolled", "refused", "failed")}
    summary = (f"{counts['enrolled']} enrolled, {counts['refused']} refused, {counts['failed']} failed "
               f"of {len(results)} subject(s) in {folder}")
    if as_json:
        typer.echo(json.dumps({"results": results, "summary": counts}, indent=2))
    else:
        console.print(summary, markup=False)
    if counts["enrolled"] != len(results):
        raise typer.Exit(1)


@app.command("verify")
@_handled
def verify(site: SiteOpt, subject: Annotated[str, typer.Option("--subject", help="The claimed subject id.")],
           photo: Annotated[Path, typer.Argument(help="Probe photo.")],
           purpose: PurposeOpt = "door_access", directory: DirOpt = None, actor: ActorOpt = "admin:cli",
           as_json: JsonOpt = False) -> None:
    """1:1: is the face in PHOTO the claimed subject? Exit 0 match, 1 no match."""
    from trustface.services import cli_principal, faces

    probe = _photo(photo)
    with _context(directory) as ctx:
        outcome = faces.verify(ctx, cli_principal(actor), site, subject, probe, purpose=purpose)
    _print(outcome.to_dict(), as_json, f"{'match' if outcome.match else 'no match'}: {subject} distance "
                                       f"{outcome.distance:.4f} (threshold {outcome.threshold:.4f}, "
                                       f"{outcome.operating_point})")
    if not outcome.match:
        raise typer.Exit(1)


@app.command("identify")
@_handled
def identify(site: SiteOpt, photo: Annotated[Path, typer.Argument(help="Probe photo.")],
             purpose: PurposeOpt = "door_access", directory: DirOpt = None, actor: ActorOpt = "admin:cli",
             as_json: JsonOpt = False) -> None:
    """1:N among subjects who consented to identify here: subject id and distance, or "unknown".

    Exit 0 found, 1 unknown."""
    from trustface.services import cli_principal, faces

    probe = _photo(photo)
    with _context(directory) as ctx:
        outcome = faces.identify(ctx, cli_principal(actor), site, probe, purpose=purpose)
    if outcome.unknown:
        _print(outcome.to_dict(), as_json, f"unknown (no consented subject within {outcome.threshold:.4f}, "
                                           f"{outcome.gallery_size} templates searched)")
        raise typer.Exit(1)
    best = outcome.candidates[0]
    _print(outcome.to_dict(), as_json, f"{best.subject_id} distance {best.distance:.4f}")


# --- subjects -----------------------------------------------------------------------------------

@app.command("subjects")
@_handled
def subjects(tenant: Annotated[str, typer.Option("--tenant", help="Tenant id.")], directory: DirOpt = None,
             as_json: JsonOpt = False) -> None:
    """List a tenant's pseudonymous subjects with a summary of their consents.

    No identity data and no templates: only how many templates each subject has."""
    from trustface.services import cli_principal, subjects

    with _context(directory) as ctx:
        out = subjects.of_tenant(ctx, cli_principal(), tenant)
    lines = []
    for item in out:
        active = [f"{c['purpose']}/{c['mode']}" for c in item["consents"] if c["status"] == "active"]
        ended = sum(c["status"] != "active" for c in item["consents"])
        lines.append(f"{item['id']}  consents: {', '.join(active) or 'none active'}"
                     f"{f' ({ended} ended)' if ended else ''}; templates: {item['templates']}"
                     f"{'; SUSPENDED' if item['suspended'] else ''}")
    _print(out, as_json, "\n".join(lines) or f"tenant {tenant} has no subjects")


# --- gates and credentials ----------------------------------------------------------------------

@gate_app.command("create")
@_handled
def gate_create(site: SiteOpt, name: Annotated[str, typer.Option("--name", help="e.g. Main gate.")],
                methods: Annotated[str, typer.Option("--methods", help="face,pin,card,qr,visitor_pass (face never "
                                                                       "alone).")],
                purpose: PurposeOpt = "door_access", directory: DirOpt = None, actor: ActorOpt = "admin:cli",
                as_json: JsonOpt = False,
                fpir_budget: Annotated[Optional[float], typer.Option(
                    "--fpir-budget", help="Most share of strangers' face attempts that may match someone "
                                          "(default 1e-3).")] = None,
                face_mode: Annotated[str, typer.Option(
                    "--face-mode", help="identify (the face alone, 1:N) or verify_after_credential (a PIN, card or "
                                        "QR code first, then the face 1:1).")] = "identify",
                credential_alone: Annotated[Optional[str], typer.Option(
                    "--credential-alone", help="At a two-factor gate, the credentials that also open it without a "
                                               "face, e.g. card (default: all).")] = None,
                liveness_off_reason: Annotated[Optional[str], typer.Option(
                    "--liveness-off-reason", help="An attended face gate: take single frames without the liveness "
                                                  "challenge, for this reason (recorded; the assessment warns).")] = None,
                ) -> None:
    """Create a gate; prints its id. Face alone is refused (E_FACE_ONLY_POLICY); a face gate requires
    the liveness challenge unless --liveness-off-reason says why not."""
    from trustface.services import cli_principal, gates

    chosen = [m.strip() for m in methods.split(",") if m.strip()]
    alone = None if credential_alone is None else [m.strip() for m in credential_alone.split(",") if m.strip()]
    with _context(directory) as ctx:
        info = gates.create_gate(ctx, cli_principal(actor), site_id=site, name=name, methods=chosen,
                                 purpose=purpose, fpir_budget=fpir_budget, face_mode=face_mode,
                                 credential_alone=alone, liveness="off" if liveness_off_reason else None,
                                 liveness_off_reason=liveness_off_reason)
    _print(info, as_json, info["id"])


@gate_app.command("access")
@_handled
def gate_access(gate: Annotated[str, typer.Option("--gate", help="Gate id.")],
                pin: Annotated[Optional[str], typer.Option("--pin")] = None,
                card: Annotated[Optional[str], typer.Option("--card")] = None,
                qr: Annotated[Optional[str], typer.Option("--qr", help="A resident QR code or a visitor pass.")] = None,
                photo: Annotated[Optional[Path], typer.Option("--photo", help="A face photo (1:N at the gate).")] = None,
                directory: DirOpt = None, actor: ActorOpt = "admin:cli", as_json: JsonOpt = False) -> None:
    """Try one way in at a gate. Exit 0 granted, 1 denied (with the reason and the other ways in)."""
    from trustface.services import cli_principal, gates

    given = [(m, v) for m, v in (("pin", pin), ("card", card), ("qr", qr), ("face", photo)) if v is not None]
    if len(given) != 1:
        _fail("give exactly one of --pin, --card, --qr or --photo")
    method, value = given[0]
    with _context(directory) as ctx:
        who = cli_principal(actor)
        if method == "face":
            decision = gates.attempt_face(ctx, who, gate, _photo(Path(value)))
        else:
            decision = gates.attempt_credential(ctx, who, gate, method=method, value=str(value))
    if decision.granted:
        holder = f" (subject {decision.subject_id})" if decision.subject_id else ""
        extra = f", distance {decision.distance:.4f}" if decision.distance is not None else ""
        _print(decision.to_dict(), as_json, f"granted: {decision.method}{holder}{extra}")
        return
    others = ", ".join(decision.alternatives) or "none"
    _print(decision.to_dict(), as_json,
           f"denied: {decision.method}: {decision.reason}: {decision.message}; other ways in: {others}")
    raise typer.Exit(1)


@credential_app.command("issue")
@_handled
def credential_issue(subject: Annotated[str, typer.Option("--subject", help="Subject id.")], site: SiteOpt,
                     type_: Annotated[str, typer.Option("--type", help="pin, card or qr.")],
                     value: Annotated[Optional[str], typer.Option(
                         "--value", help="The card number, or a chosen PIN; omit for a PIN to have one generated "
                                         "(a PIN on the command line lands in shell history).")] = None,
                     label: Annotated[Optional[str], typer.Option("--label")] = None,
                     directory: DirOpt = None, actor: ActorOpt = "admin:cli", as_json: JsonOpt = False) -> None:
    """Give a subject a non-face way in at a site; a generated PIN or the QR code is printed once."""
    from trustface.services import cli_principal, gates

    with _context(directory) as ctx:
        issued = gates.issue_credential(ctx, cli_principal(actor), subject_id=subject, site_id=site,
                                        type=type_, value=value, label=label)
    shown = issued.pop("value")
    info = issued
    lines = [f"issued {info['type']} credential {info['id']} to {subject} at {site}"]
    if shown is not None:
        what = "PIN" if info["type"] == "pin" else "QR code"
        lines.append(f"{what} (shown once, hand it over now): {shown}")
    _print({"credential": info, "shown_once": shown}, as_json, "\n".join(lines))


# --- erasure ------------------------------------------------------------------------------------

@app.command("erase")
@_handled
def erase(subject: Annotated[str, typer.Option("--subject", help="Subject id.")],
          yes: Annotated[bool, typer.Option("--yes", help="Confirm: erasure cannot be undone.")] = False,
          directory: DirOpt = None, actor: ActorOpt = "admin:cli", as_json: JsonOpt = False) -> None:
    """Erase a subject on request (PIPL-47, GDPR-17); needs --yes.

    Templates are crypto-shredded, consents ended, credentials and keys removed; prints the result."""
    if not yes:
        _fail(f"erasing {subject} cannot be undone; add --yes to confirm")
    from trustface.services import cli_principal, rights

    with _context(directory) as ctx:
        result = rights.erase(ctx, cli_principal(actor), subject, channel="desk").document
    _print(result, as_json, f"erased {subject}: {json.dumps(result, sort_keys=True, default=str)}")
