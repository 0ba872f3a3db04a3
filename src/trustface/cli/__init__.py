"""The ``trustface`` command line.

One Typer app; each module of this package registers the commands of one room:
``engine_commands`` (detect, compare, bench), ``deployment_commands`` (init, audit,
retention, ...), ``gallery_commands`` (keys, gallery) and ``service_commands`` (serve, enroll,
verify, identify, subjects, gate, credential, erase). Commands are thin: parse, call a service function, print. A
:class:`~trustface.errors.TrustfaceError` becomes a one-line message on stderr and exit 2.
"""

from __future__ import annotations

import sys

import typer

app = typer.Typer(
    name="trustface",
    help="Face recognition behind a consent-checking policy gate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Registration happens on import; keep these imports after `app` exists.
from trustface.cli import engine_commands  # noqa: E402,F401

try:  # the deployment commands arrive with the policy/audit rooms
    from trustface.cli import deployment_commands  # noqa: E402,F401
except ImportError as exc:  # pragma: no cover - only while that room is absent
    if "deployment_commands" not in str(exc):
        raise

from trustface.cli import (
    backup_commands,  # noqa: E402,F401
    compliance_commands,  # noqa: E402,F401
    db_commands,  # noqa: E402,F401
    gallery_commands,  # noqa: E402,F401
    intel_commands,  # noqa: E402,F401
    service_commands,  # noqa: E402,F401
    web_commands,  # noqa: E402,F401
)


def main() -> None:
    """Console-script entry point: turn refusals into a message and a non-zero exit."""
    from trustface.errors import TrustfaceError

    try:
        app()
    except TrustfaceError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        sys.exit(2)
