"""``trustface db``: the database schema. ``db upgrade`` brings it to this version's revision under a
lock and records it in the audit trail; ``db status`` says where it stands. The server refuses to
serve a schema that is not at this version's revision, naming ``trustface db upgrade``."""

from __future__ import annotations

import typer

from trustface.cli import app
from trustface.cli.deployment_commands import ActorOpt, DirOpt, JsonOpt, _handled, _open, _print

db_app = typer.Typer(help="The database schema: status, upgrade.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("status")
@_handled
def status(directory: DirOpt = None, as_json: JsonOpt = False) -> None:
    """The schema revision of the deployment's database and the one this version needs. Exit 1 if
    they differ."""
    from trustface.db import migrate

    with _open(directory) as dep:
        current, head = dep.schema_revision(), migrate.head_revision()
    _print({"revision": current, "head": head, "current": current == head}, as_json,
           f"schema revision {current or 'none'}; this version needs {head}"
           + ("" if current == head else ": run `trustface db upgrade`"))
    if current != head:
        raise typer.Exit(1)


@db_app.command("upgrade")
@_handled
def upgrade(directory: DirOpt = None, actor: ActorOpt = "admin:cli", as_json: JsonOpt = False) -> None:
    """Bring the schema to this version's revision (stop the service first; one upgrader at a time).
    The upgrade is an ``admin`` audit event; an up-to-date schema is left as it is."""
    with _open(directory) as dep:
        before, after = dep.upgrade_schema(actor=actor)
    _print({"from": before, "to": after, "changed": before != after}, as_json,
           f"schema upgraded from {before or 'none'} to {after}" if before != after
           else f"schema already at {after}; nothing to do")
