"""Health that means something (issue 18): liveness says the process answers; readiness says the
deployment can serve: the database answers, its schema is the one this code needs, the gallery's
search indexes are built, and the key file is still readable. Each check names what failed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from trustface.db import migrate
from trustface.errors import TrustfaceError
from trustface.services.context import Context


@dataclass(frozen=True)
class Readiness:
    """``ready`` when every check passed; ``checks``: name -> {"ok", "detail"}."""

    ready: bool
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"ready": self.ready, "checks": self.checks}


def readiness(ctx: Context) -> Readiness:
    """Run the readiness checks (reads only; nothing written, no secret or personal data shown)."""
    from trustface.deployment import load_keys

    checks: dict[str, dict[str, Any]] = {}
    dep = ctx.deployment
    try:
        migrate.ping(dep.engine)
        checks["database"] = {"ok": True, "detail": "answers"}
    except SQLAlchemyError as exc:
        checks["database"] = {"ok": False, "detail": f"unreachable ({exc.__class__.__name__})"}
    if checks["database"]["ok"]:
        current, head = migrate.current_revision(dep.engine), migrate.head_revision()
        checks["schema"] = {"ok": current == head, "detail": f"revision {current or 'none'}, needs {head}"
                            + ("" if current == head else ": run `trustface db upgrade`")}
    else:
        checks["schema"] = {"ok": False, "detail": "not checked: the database does not answer"}
    failures = len(ctx.gallery.integrity_failures)
    checks["gallery"] = {"ok": ctx.gallery.preloaded and failures == 0,
                         "detail": ("indexes built" if ctx.gallery.preloaded else "indexes not built")
                         + (f"; {failures} templates failed authentication" if failures else "")}
    try:
        load_keys(dep.directory)
        checks["key_file"] = {"ok": True, "detail": "readable, owner-only"}
    except TrustfaceError:
        # /readyz is public: say what to fix, never where the deployment's files are
        checks["key_file"] = {"ok": False, "detail": "missing, unreadable or readable by other users: "
                                                     "chmod 600 it (`trustface serve` names the file)"}
    return Readiness(all(c["ok"] for c in checks.values()), checks)
