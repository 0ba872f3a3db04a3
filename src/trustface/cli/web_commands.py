"""Console user commands: ``trustface user add|list|disable``.

The password is read from a prompt (typed twice, not echoed) or, for scripts, from standard input
with ``--password-stdin``; it never appears on the command line (where ``ps`` and shell history
would show it). Only its argon2id hash is stored. Thin: parse, call :mod:`trustface.web.users`,
print.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from trustface.cli import app
from trustface.cli.deployment_commands import ActorOpt, DirOpt, JsonOpt, _handled, _open, _print

user_app = typer.Typer(help="Console user accounts (people who sign in to the property console).",
                       no_args_is_help=True)
app.add_typer(user_app, name="user")


@user_app.command("add")
@_handled
def user_add(tenant: Annotated[str, typer.Option("--tenant", help="Tenant id the account belongs to.")],
             email: Annotated[str, typer.Option("--email", help="E-mail address: the sign-in name.")],
             role: Annotated[str, typer.Option("--role", help="admin, operator or auditor.")] = "operator",
             password_stdin: Annotated[bool, typer.Option(
                 "--password-stdin", help="Read the password from standard input (first line) instead of a "
                                          "prompt.")] = False,
             directory: DirOpt = None, actor: ActorOpt = "admin:cli", as_json: JsonOpt = False) -> None:
    """Create a console account; the password (12 characters or more) is stored as an argon2id hash."""
    from trustface.web import users

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    dep = _open(directory)
    try:
        with dep.transaction() as s:
            row = users.create_user(s, tenant_id=tenant, email=email, role=role, password=password, actor=actor)
            out = {"id": row.id, "tenant_id": row.tenant_id, "email": row.email, "role": row.role}
    finally:
        dep.close()
    _print(out, as_json, f"console user {out['email']} ({out['role']}) created: {out['id']}; "
                         f"sign in at /console")


@user_app.command("list")
@_handled
def user_list(tenant: Annotated[str, typer.Option("--tenant", help="Tenant id.")], directory: DirOpt = None,
              as_json: JsonOpt = False) -> None:
    """The tenant's console accounts (never their password hashes)."""
    from trustface.db import web_store

    dep = _open(directory)
    try:
        with dep.session() as s:
            rows = [{"id": u.id, "email": u.email, "role": u.role, "created_at": u.created_at.isoformat(),
                     "disabled": u.disabled_at is not None} for u in web_store.users_of_tenant(s, tenant)]
            s.rollback()
    finally:
        dep.close()
    _print(rows, as_json, "\n".join(f"{r['id']}  {r['email']}  {r['role']}{'  (disabled)' if r['disabled'] else ''}"
                                    for r in rows) or "no console users")


@user_app.command("disable")
@_handled
def user_disable(user_id: Annotated[str, typer.Argument(help="Console user id (usr_...).")], directory: DirOpt = None,
                 actor: ActorOpt = "admin:cli") -> None:
    """Disable an account: every session of it ends at its next request."""
    from trustface.web import users

    dep = _open(directory)
    try:
        with dep.transaction() as s:
            users.disable_user(s, user_id=user_id, actor=actor)
    finally:
        dep.close()
    typer.echo(f"console user {user_id} disabled")
