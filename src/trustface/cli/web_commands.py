"""Console user commands: ``trustface user add|list|disable``.

The password is read from a prompt (typed twice, not echoed) or, for scripts, from standard input
with ``--password-stdin``; it never appears on the command line (where ``ps`` and shell history
would show it). Only its argon2id hash is stored. Thin: parse, call
:mod:`trustface.services.accounts` as the deployment administrator, print.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from trustface.cli import app
from trustface.cli.deployment_commands import ActorOpt, DirOpt, JsonOpt, _context, _handled, _print
from trustface.services import cli_principal

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
    from trustface.services import accounts

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _context(directory) as ctx:
        made = accounts.create_console_user(ctx, cli_principal(actor), tenant_id=tenant, email=email, role=role,
                                            password=password)
    out = {"id": made.id, "tenant_id": made.tenant_id, "email": made.email, "role": made.role}
    _print(out, as_json, f"console user {out['email']} ({out['role']}) created: {out['id']}; "
                         f"sign in at /console")


@user_app.command("list")
@_handled
def user_list(tenant: Annotated[str, typer.Option("--tenant", help="Tenant id.")], directory: DirOpt = None,
              as_json: JsonOpt = False) -> None:
    """The tenant's console accounts (never their password hashes)."""
    from trustface.services import accounts

    with _context(directory) as ctx:
        found = accounts.console_users(ctx, cli_principal(), tenant_id=tenant)
    rows = [{"id": u.id, "email": u.email, "role": u.role, "created_at": u.created_at.isoformat(),
             "disabled": u.disabled} for u in found]
    _print(rows, as_json, "\n".join(f"{r['id']}  {r['email']}  {r['role']}{'  (disabled)' if r['disabled'] else ''}"
                                    for r in rows) or "no console users")


@user_app.command("disable")
@_handled
def user_disable(user_id: Annotated[str, typer.Argument(help="Console user id (usr_...).")], directory: DirOpt = None,
                 actor: ActorOpt = "admin:cli") -> None:
    """Disable an account: every session of it ends at its next request."""
    from trustface.services import accounts

    with _context(directory) as ctx:
        accounts.disable_console_user(ctx, cli_principal(actor), user_id)
    typer.echo(f"console user {user_id} disabled")
