"""``trustface backup`` and ``trustface restore``: thin over :mod:`trustface.services.backup`.

Every refusal (missing file, wrong key file, corrupt archive, a newer schema, a damaged erasure
log, restore without ``--yes``) is one line on stderr and exit 2, never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from trustface.cli import app
from trustface.cli.deployment_commands import ActorOpt, DirOpt, JsonOpt, _handled, _print

YesOpt = Annotated[bool, typer.Option("--yes", help="Confirm: the server is stopped; replace the database.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Replay the erasure-log lines that verify even when the log "
                                                         "is damaged.")]


@app.command("backup")
@_handled
def backup_cmd(out: Annotated[Path, typer.Option("--out", help="The backup file to write (outside the deployment folder).")],
               directory: DirOpt = None, as_json: JsonOpt = False) -> None:
    """Write a consistent backup (database snapshot + manifest) while the server may run. The key
    file is NOT included: keep it apart; the backup cannot be restored without it."""
    from trustface.services import backup

    done = backup.backup(directory, out)
    m = done.manifest
    _print({"path": done.path, **m}, as_json,
           f"backup written to {done.path}: schema {m['schema_revision']}, audit head {m['audit_head_seq']}, "
           f"erasure log at line {m['erasure_log_length']} (the key file is not in the backup)")


@app.command("restore")
@_handled
def restore_cmd(archive: Annotated[Path, typer.Argument(help="The backup file.")], directory: DirOpt = None,
                yes: YesOpt = False, force: ForceOpt = False,
                actor: ActorOpt = "system:restore", as_json: JsonOpt = False) -> None:
    """Restore a backup (server stopped), then replay every erasure and withdrawal made since it."""
    from trustface.services import backup

    done = backup.restore(directory, archive, confirmed=yes, force=force, actor=actor)
    _print(done.to_dict(), as_json,
           f"restored {done.database} from the backup of {done.manifest.get('created_at')}; "
           f"{done.replayed} erasure-log entries replayed; recorded as audit event {done.audit_seq}"
           + (f"; WARNING: {done.log_problem}" if done.log_problem else ""))
