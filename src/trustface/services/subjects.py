"""Subject listings: the pseudonymous subjects of a tenant with a summary of their consents, for
the operator's command line. No identity data and no templates: only how many templates each
subject has (PIPL-51: the least data an operator needs)."""

from __future__ import annotations

from typing import Any

from trustface.access.keys import Principal
from trustface.db import access_store, gallery_store, repo
from trustface.db.models import Purpose
from trustface.services import scope
from trustface.services.context import Context

PAGE = 500


def of_tenant(ctx: Context, who: Principal, tenant_id: str) -> list[dict[str, Any]]:
    """Every subject of ``tenant_id`` (paged reads, one session, nothing written): id, age band and
    its basis, suspension, template count and each consent's purpose, mode, status and dates."""
    who.require("subjects:read")
    out: list[dict[str, Any]] = []
    with ctx.read() as s:
        if repo.tenant(s, tenant_id) is None or not who.sees_tenant(tenant_id):
            raise scope.missing("tenant", tenant_id)
        purposes: dict[str, Purpose | None] = {}
        after = None
        while True:
            page = access_store.subjects_of_tenant(s, tenant_id, limit=PAGE, after=after)
            for subj in page:
                consents = []
                for c in repo.consents_of_subject(s, subj.id):
                    if c.purpose_id not in purposes:
                        purposes[c.purpose_id] = repo.get(s, Purpose, c.purpose_id)
                    p = purposes[c.purpose_id]
                    consents.append({"site_id": p.site_id if p else None, "purpose": p.name if p else None,
                                     "mode": c.mode, "status": c.status, "given_at": c.given_at.isoformat(),
                                     "expires_at": c.expires_at.isoformat(),
                                     "ended_at": c.ended_at.isoformat() if c.ended_at else None})
                out.append({"id": subj.id, "age_band": subj.age_band,
                            "age_basis": "birth_date" if subj.birth_date else "age_band",
                            "suspended": subj.suspended_at is not None,
                            "templates": gallery_store.count_templates(s, subj.id), "consents": consents})
            if len(page) < PAGE:
                return out
            after = page[-1].id
