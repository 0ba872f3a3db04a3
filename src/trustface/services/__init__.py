"""The use cases, one place each (ARCHITECTURE.md "services"): API routes, CLI commands and web
pages parse their input, call a function here, and format its typed result. Each function takes a
:class:`~trustface.services.context.Context` and the caller's
:class:`~trustface.access.keys.Principal`, and documents its transaction rule."""

from trustface.services.context import Context, cli_principal

__all__ = ["Context", "cli_principal"]
