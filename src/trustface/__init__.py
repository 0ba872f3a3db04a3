"""trustface: face recognition people can trust.

The engine (``trustface.engine``) is pure computation on arrays; everything that touches a
subject's face data goes through ``trustface.policy.gate.authorize`` first. The library API::

    import trustface
    from trustface.services import faces, gates

    ctx = trustface.open_deployment("site1")           # a Context: database, gallery, settings
    admin = trustface.local_caller("admin:me")         # who the audit trail says acted
    faces.enrol(ctx, admin, "sub_...", [photo_bytes], purpose="door_access", modes="identify")
    faces.identify(ctx, admin, "site_...", probe_bytes, purpose="door_access")
    gates.attempt_credential(ctx, admin, "gate_...", method="pin", value="48291307")

Names are loaded on first use, so ``import trustface`` stays cheap for the engine-only commands.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from trustface.access.keys import Principal
    from trustface.config import Settings
    from trustface.deployment import Deployment, init_deployment
    from trustface.errors import TrustfaceError
    from trustface.services.context import Context, local_caller, open_deployment

#: public name -> the module that defines it
_EXPORTS = {
    "Context": "trustface.services.context",
    "Deployment": "trustface.deployment",
    "Principal": "trustface.access.keys",
    "Settings": "trustface.config",
    "TrustfaceError": "trustface.errors",
    "init_deployment": "trustface.deployment",
    "local_caller": "trustface.services.context",
    "open_deployment": "trustface.services.context",
}

__all__ = ["Context", "Deployment", "Principal", "Settings", "TrustfaceError", "__version__", "init_deployment",
           "local_caller", "open_deployment"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'trustface' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
