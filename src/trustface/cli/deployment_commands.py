"""Deployment commands: init, audit verify/export, retention run, and small admin commands
(tenant, site, purpose, notice, subject, consent, suspend/resume).

Thin: parse, call a use case in :mod:`trustface.services` as the deployment administrator named
``--actor`` (:func:`~trustface.services.cli_principal`), print. Every refusal is one line on stderr
and a non-zero exit (2; ``audit verify`` exits 1 on a broken chain).
``--dir`` defaults to ``$TRUSTFACE_DIR`` or ``./trustface-data``; the database is
``$TRUSTFACE_DATABASE_URL`` or ``trustface.db`` in that folder.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Optional

import typer

from trustface.cli import app
from trustface.errors import TrustfaceError
from trustface.services import cli_principal

if TYPE_CHECKING:
    from trustface.services import Context

audit_app = typer.Typer(help="Verify and export the hash-chained audit trail.", no_args_is_help=True)
retention_app = typer.Typer(help="Retention: end consents and purge face data when due.", no_args_is_help=True)
tenant_app = typer.Typer(help="Processors (tenants).", no_args_is_help=True)
site_app = typer.Typer(help="Sites.", no_args_is_help=True)
purpose_app = typer.Typer(help="Purposes of a site.", no_args_is_help=True)
notice_app = typer.Typer(help="Processing-rules notices.", no_args_is_help=True)
subject_app = typer.Typer(help="Subjects (pseudonymous).", no_args_is_help=True)
consent_app = typer.Typer(help="The consent ledger: give, withdraw, refuse.", no_args_is_help=True)
for _name, _sub in (("audit", audit_app), ("retention", retention_app), ("tenant", tenant_app),
                    ("site", site_app), ("purpose", purpose_app), ("notice", notice_app),
                    ("subject", subject_app), ("consent", consent_app)):
    app.add_typer(_sub, name=_name)

DirOpt = Annotated[Optional[Path], typer.Option("--dir", help="Deployment folder (default: $TRUSTFACE_DIR or ./trustface-data).")]
ActorOpt = Annotated[str, typer.Option("--actor", help="Who does this (recorded in the audit trail).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _handled(fn):
    """Turn refusals and bad input into one line on stderr and exit 2 (never a traceback)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from sqlalchemy.exc import SQLAlchemyError

        from trustface.audit.chain import BiometricPayloadError
        from trustface.db.session import AuditRequiredError

        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except TrustfaceError as exc:
            _fail(f"{exc.code}: {exc.message}")
        except (BiometricPayloadError, AuditRequiredError, ValueError, OSError) as exc:
            _fail(str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__)
        except SQLAlchemyError as exc:
            _fail(f"database error: {exc.__class__.__name__}: {str(exc.orig if hasattr(exc, 'orig') else exc).splitlines()[0]}")

    return wrapper


def _open(directory: Path | None):
    from trustface.deployment import Deployment

    return Deployment(directory)


@contextmanager
def _context(directory: Path | None) -> Iterator[Context]:
    """The use-case context of the deployment in ``directory``; a site's search index is built at
    its first search (a command searches one site at most)."""
    from trustface.services import Context

    with _open(directory) as dep:
        yield Context.open(dep, preload=False)


def _parse_time(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        _fail(f"not an ISO date-time: {value!r}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc)


def _parse_date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        _fail(f"not an ISO date: {value!r}")


def _print(data, as_json: bool, text: str) -> None:
    if as_json:
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        typer.echo(text)


# --- init ---------------------------------------------------------------------------------------

@app.command("init")
@_handled
def init_cmd(directory: DirOpt = None,
             demo: Annotated[bool, typer.Option("--demo", help="Also create a demo property: tenant, residential "
                                                "site, door_access purpose, PIA, published notice, two gates.")] = False,
             admin_key_file: Annotated[Optional[Path], typer.Option(
                 "--admin-key-file", help="Also write the admin API key to this new file (mode 0600). For demos: "
                                          "anyone who can read the file administers the deployment.")] = None,
             as_json: JsonOpt = False) -> None:
    """Create a deployment: database, key file (0600), settings, and the admin API key (shown once).

    The database is migrated, the keys are fresh random ones, and only the admin key's hash is stored."""
    import os

    from trustface import config
    from trustface.deployment import init_deployment

    target = config.deployment_dir(directory)
    if admin_key_file is not None and admin_key_file.exists():
        _fail(f"{admin_key_file} already exists; refusing to overwrite it")
    info = init_deployment(target)
    out = {"db": info["database"], "dir": info["dir"], "schema_revision": info["schema_revision"],
           "admin_key_id": info["admin_key_id"], "admin_key": info["admin_key"],
           "tenant_id": None, "site_id": None, "gate_ids": None, "notice_version": None, "notice_hash": None}
    if admin_key_file is not None:
        try:
            fd = os.open(admin_key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(info["admin_key"] + "\n")
            os.chmod(admin_key_file, 0o600)
        except OSError as exc:  # the deployment exists now: still show the key rather than lose it
            typer.echo(f"warning: could not write {admin_key_file} ({exc.strerror or exc}); "
                       "the admin key is printed instead", err=True)
            admin_key_file = None
    if demo:
        from trustface.services import admin

        with _context(target) as ctx:
            made = admin.create_demo_property(ctx, cli_principal("admin:init"))
        out.update({k: made[k] for k in ("tenant_id", "site_id", "gate_ids", "notice_version", "notice_hash")})
    if as_json:
        typer.echo(json.dumps(out, indent=2))
        return
    lines = [f"initialised trustface deployment in {info['dir']} (database {info['database']})",
             f"admin API key (shown once, store it now): {info['admin_key']}"]
    if admin_key_file is not None:
        lines.append(f"  (also written to {admin_key_file}, mode 0600)")
    if demo:
        lines += [f"demo tenant:  {out['tenant_id']} (Demo Property Co.)",
                  f"demo site:    {out['site_id']} (residential, profile cn; purpose door_access: verify, identify)",
                  f"notice:       version {out['notice_version']}, hash {out['notice_hash']}",
                  f"gates:        {out['gate_ids'][0]} (Main gate: face, pin, card), "
                  f"{out['gate_ids'][1]} (Side gate: pin, card)"]
    typer.echo("\n".join(lines))


# --- audit --------------------------------------------------------------------------------------

@audit_app.command("verify")
@_handled
def audit_verify(directory: DirOpt = None, as_json: JsonOpt = False) -> None:
    """Check every link of the audit chain and the signed head. Exit 0 clean, 1 on tampering."""
    from trustface.services import oversight

    with _context(directory) as ctx:
        result = oversight.verify_audit_chain(ctx, cli_principal())
    if result.ok:
        _print(result.to_dict(), as_json, f"ok: {result.events} events, chain intact up to the signed head")
        return
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    typer.echo(f"TAMPERED: first bad event seq {result.first_bad}: {result.reason}", err=True)
    raise typer.Exit(1)


@audit_app.command("export")
@_handled
def audit_export(subject: Annotated[str, typer.Option("--subject", help="Subject id.")],
                 directory: DirOpt = None,
                 out: Annotated[Optional[Path], typer.Option("--out", help="Write the bundle here (default: stdout).")] = None,
                 actor: ActorOpt = "admin:cli") -> None:
    """Write the subject's evidence bundle: their events + the proof they are in the chain."""
    from trustface.services import rights

    with _context(directory) as ctx:
        bundle = rights.evidence(ctx, cli_principal(actor), subject).document
    text = json.dumps(bundle, indent=2, ensure_ascii=False)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"wrote evidence bundle for {subject} ({len(bundle['events'])} events) to {out}", err=True)


# --- retention ----------------------------------------------------------------------------------

@retention_app.command("run")
@_handled
def retention_run(directory: DirOpt = None,
                  now: Annotated[Optional[str], typer.Option("--now", help="Pretend it is this ISO time (tests).")] = None,
                  as_json: JsonOpt = False) -> None:
    """End consents past min(purpose end, retention, last interaction + profile limit) and purge."""
    from trustface.services import oversight

    when = _parse_time(now)
    with _context(directory) as ctx:
        report = oversight.run_retention(ctx, cli_principal(), now=when)
    _print(report.to_dict(), as_json, f"retention: checked {report.checked} consents, ended {len(report.ended)}")


# --- admin --------------------------------------------------------------------------------------

@tenant_app.command("add")
@_handled
def tenant_add(name: Annotated[str, typer.Option("--name")], contact: Annotated[str, typer.Option("--contact")],
               directory: DirOpt = None, actor: ActorOpt = "admin:cli") -> None:
    """Register a processor; prints its id."""
    from trustface.services import admin

    with _context(directory) as ctx:
        typer.echo(admin.create_tenant(ctx, cli_principal(actor), name=name, contact=contact).id)


@site_app.command("add")
@_handled
def site_add(tenant: Annotated[str, typer.Option("--tenant")], name: Annotated[str, typer.Option("--name")],
             site_type: Annotated[str, typer.Option("--type", help="residential|business|public|workplace|education|online")],
             jurisdiction: Annotated[str, typer.Option("--jurisdiction", help="cn|eu|us-il")],
             guardian_age: Annotated[Optional[int], typer.Option("--guardian-age", help="eu only: 13-16")] = None,
             directory: DirOpt = None, actor: ActorOpt = "admin:cli") -> None:
    """Add a site; prints its id."""
    from trustface.services import admin

    with _context(directory) as ctx:
        typer.echo(admin.create_site(ctx, cli_principal(actor), tenant_id=tenant, name=name, site_type=site_type,
                                     jurisdiction=jurisdiction, guardian_age=guardian_age).id)


@purpose_app.command("add")
@_handled
def purpose_add(site: Annotated[str, typer.Option("--site")], name: Annotated[str, typer.Option("--name")],
                modes: Annotated[str, typer.Option("--modes", help="e.g. verify,identify")],
                legal_basis: Annotated[str, typer.Option("--legal-basis")],
                necessity: Annotated[str, typer.Option("--necessity")],
                retention_days: Annotated[int, typer.Option("--retention-days")],
                directory: DirOpt = None, actor: ActorOpt = "admin:cli") -> None:
    """Declare a purpose (finite retention required); prints its id."""
    from trustface.services import purposes

    with _context(directory) as ctx:
        typer.echo(purposes.create_purpose(ctx, cli_principal(actor), site, name=name, allowed_modes=modes,
                                        legal_basis=legal_basis, necessity_justification=necessity,
                                        retention_days=retention_days).id)


def _json_file(path: Path) -> Any:
    try:
        return json.loads(path.read_text("utf-8"))
    except json.JSONDecodeError as exc:
        _fail(f"{path} is not JSON: {exc.msg}")


@notice_app.command("publish")
@_handled
def notice_publish(site: Annotated[str, typer.Option("--site")],
                   file: Annotated[Path, typer.Option("--file", help="Notice content as JSON.")],
                   kind: Annotated[str, typer.Option("--kind", help="general|minors")] = "general",
                   directory: DirOpt = None, actor: ActorOpt = "admin:cli") -> None:
    """Create and publish the next notice version; prints its content hash."""
    from trustface.services import admin

    content = _json_file(file)
    with _context(directory) as ctx:
        notice = admin.create_notice(ctx, cli_principal(actor), site, content=content, kind=kind, publish=True)
    typer.echo(notice.content_hash)


@subject_app.command("add")
@_handled
def subject_add(tenant: Annotated[str, typer.Option("--tenant")],
                birth_date: Annotated[Optional[str], typer.Option("--birth-date", help="YYYY-MM-DD")] = None,
                age_band: Annotated[Optional[str], typer.Option("--age-band", help="e.g. 18+ or 14-17")] = None,
                directory: DirOpt = None, actor: ActorOpt = "admin:cli") -> None:
    """Add a pseudonymous subject; prints its id."""
    from trustface.services import admin

    born = _parse_date(birth_date)
    with _context(directory) as ctx:
        typer.echo(admin.create_subject(ctx, cli_principal(actor), tenant_id=tenant, birth_date=born,
                                        age_band=age_band).id)


SubjectOpt = Annotated[str, typer.Option("--subject")]
SiteOpt = Annotated[str, typer.Option("--site")]
PurposeOpt = Annotated[str, typer.Option("--purpose")]
ModeOpt = Annotated[str, typer.Option("--mode")]


@consent_app.command("give")
@_handled
def consent_give(subject: SubjectOpt, site: SiteOpt, purpose: PurposeOpt, mode: ModeOpt,
                 notice_hash: Annotated[str, typer.Option("--notice-hash", help="Hash of the notice shown.")],
                 channel: Annotated[str, typer.Option("--channel", help="kiosk|app|desk|paper")] = "desk",
                 method: Annotated[str, typer.Option("--method", help="click|signature|written_release")] = "signature",
                 extra: Annotated[Optional[Path], typer.Option("--extra", help="JSON with guardian / written_release.")] = None,
                 subject_asked: Annotated[bool, typer.Option(
                     "--subject-asked", help="The person asked for this themselves (else staff are the processor "
                                             "asking: refused within the cooldown after a refusal, R7).")] = False,
                 directory: DirOpt = None, actor: ActorOpt = "admin:cli") -> None:
    """Record one separate consent (one purpose, one mode); prints the consent id."""
    from trustface.services import consents

    payload = {"site_id": site, "purpose": purpose, "mode": mode, "notice_hash": notice_hash, "channel": channel,
               "method": method}
    if extra is not None:
        more = _json_file(extra)
        if not isinstance(more, dict):
            _fail(f"{extra} must hold a JSON object")
        payload.update(more)
    if subject_asked:
        payload["initiated_by"] = "subject"
    request = consents.ConsentRequest.from_payload(payload)
    with _context(directory) as ctx:
        typer.echo(consents.give(ctx, cli_principal(actor), subject, request).id)


@consent_app.command("withdraw")
@_handled
def consent_withdraw(subject: SubjectOpt, site: SiteOpt, purpose: PurposeOpt, mode: ModeOpt,
                     channel: Annotated[str, typer.Option("--channel")] = "desk",
                     directory: DirOpt = None, actor: ActorOpt = "admin:cli") -> None:
    """Withdraw one purpose x mode; processing stops and the data is purged (one step, like giving)."""
    from trustface.services import consents

    with _context(directory) as ctx:
        done = consents.withdraw_purpose(ctx, cli_principal(actor), subject, site_id=site, purpose=purpose, mode=mode,
                                         channel=channel)
    typer.echo(f"withdrawn {done.id}")


@consent_app.command("refuse")
@_handled
def consent_refuse(subject: SubjectOpt, site: SiteOpt, purpose: PurposeOpt, mode: ModeOpt,
                   channel: Annotated[str, typer.Option("--channel", help="kiosk|app|desk|paper")] = "desk",
                   directory: DirOpt = None, actor: ActorOpt = "admin:cli") -> None:
    """Record that the person declined (no re-prompt within the cooldown, R7); prints the non-face
    ways in to issue instead (R6)."""
    from trustface.services import consents

    with _context(directory) as ctx:
        done = consents.refuse(ctx, cli_principal(actor), subject, site_id=site, purpose=purpose, mode=mode,
                               channel=channel)
    typer.echo(f"refused {subject} {purpose}/{mode}; issue instead: {', '.join(done.issue_instead) or 'none'}")


@app.command("suspend")
@_handled
def suspend_cmd(reason: Annotated[str, typer.Option("--reason")],
                subject: Annotated[Optional[str], typer.Option("--subject")] = None,
                site: Annotated[Optional[str], typer.Option("--site")] = None,
                restrict: Annotated[bool, typer.Option("--restrict", help="Keep data, stop use (PIPL-44).")] = False,
                directory: DirOpt = None, actor: ActorOpt = "admin:cli") -> None:
    """Suspend (or restrict) processing for a subject or a site, effective on the next call."""
    from trustface.services import admin

    if (subject is None) == (site is None):
        _fail("give exactly one of --subject or --site")
    with _context(directory) as ctx:
        done = admin.suspend(ctx, cli_principal(actor), reason=reason, subject_id=subject, site_id=site,
                             restrict=restrict)
    typer.echo(f"{done.kind}ed {done.target_id}")


@app.command("resume")
@_handled
def resume_cmd(subject: Annotated[Optional[str], typer.Option("--subject")] = None,
               site: Annotated[Optional[str], typer.Option("--site")] = None,
               directory: DirOpt = None, actor: ActorOpt = "admin:cli") -> None:
    """Lift a suspension or restriction."""
    from trustface.services import admin

    if (subject is None) == (site is None):
        _fail("give exactly one of --subject or --site")
    with _context(directory) as ctx:
        done = admin.resume(ctx, cli_principal(actor), subject_id=subject, site_id=site)
    typer.echo(f"resumed {done.target_id}")
