"""Deployment maintenance of the protected gallery: template key rotation (ISO24745
renewability), erasing a subject's gallery data, and the start-up integrity check.

Transaction rule: rotation re-seals every template and writes one ``admin`` event per tenant in
one transaction (a template failing authentication stops it: nothing is changed). Gallery erasure
purges, shreds the data key and writes its deletion certificates in one transaction. The
integrity check only reads (a read-only session) while it rebuilds the context's search indexes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from trustface.access.codes import E_FORBIDDEN
from trustface.access.keys import Principal
from trustface.errors import TrustfaceError
from trustface.services import scope
from trustface.services.context import Context

#: the reason a gallery erasure is recorded with unless one is given
ERASURE_REASON = "erasure_request"


@dataclass(frozen=True)
class GalleryCheck:
    """Templates per identify gallery ("site/purpose/mode" -> count), the rebuild time (seconds)
    and the templates that failed authentication (each names its template and subject ids)."""

    galleries: dict[str, int]
    rebuild_s: float
    integrity_failures: tuple[dict[str, Any], ...]


def rotate_template_keys(ctx: Context, who: Principal, *, tenant_id: str | None = None) -> list[dict[str, Any]]:
    """Re-protect every template of one tenant (the deployment administrator: of every tenant
    unless one is named) under a new key version; returns one report per tenant."""
    from trustface.gallery import rotate_keys

    who.require("keys:write")
    with ctx.tx() as s:
        tenant = None if who.is_root and tenant_id is None else scope.tenant_for(s, who, tenant_id)
        reports: list[dict[str, Any]] = rotate_keys(s, ctx.deployment.keys.tenant_kek_seed, tenant_id=tenant,
                                                    actor=who.actor, now=ctx.now())
        return reports


def erase_gallery_data(ctx: Context, who: Principal, subject_id: str, *,
                       reason: str = ERASURE_REASON) -> list[dict[str, Any]]:
    """Erase every template and kept photo of a subject and destroy its data key (PIPL-47,
    GDPR-17); returns the deletion certificates. Consents, credentials and identity stay (the
    whole erasure is :func:`trustface.services.rights.erase`)."""
    from trustface.gallery import erase_subject

    who.require("subjects:erase")
    with ctx.tx() as s:
        scope.subject(s, who, subject_id)
        certificates: list[dict[str, Any]] = erase_subject(s, subject_id, actor=who.actor, reason=reason,
                                                           now=ctx.now())
        return certificates


def check_gallery(ctx: Context, who: Principal) -> GalleryCheck:
    """Open every identify gallery as start-up does (rebuilding the context's indexes) and name the
    templates that fail authentication. The deployment administrator only: it spans tenants."""
    who.require("audit:read")
    if not who.is_root:
        raise TrustfaceError(E_FORBIDDEN, "the gallery check spans every tenant: the deployment administrator's")
    started = time.perf_counter()
    with ctx.read() as s:
        sizes: dict[str, int] = ctx.gallery.rebuild(s)
    elapsed = time.perf_counter() - started
    return GalleryCheck(sizes, round(elapsed, 3), tuple(ctx.gallery.integrity_failures))
