"""Deployment administration use cases that have no route yet: legal-basis records for a purpose
and mode (R22, SPC-5, PIPL-13), with the caller's permission and scope checked by the service."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import build_site

from trustface.access.keys import Principal
from trustface.errors import TrustfaceError
from trustface.policy import codes
from trustface.services import purposes


def _code(call) -> str:
    with pytest.raises(TrustfaceError) as refused:
        call()
    return refused.value.code


def test_R22_SPC_5_legal_basis_record_and_revoke(api):
    world = build_site(api, api.admin["key"])
    ctx, site = api.client.app.state.trustface.ctx, world["site_id"]
    operator = Principal("key_op", "operator", world["tenant_id"])
    soon = ctx.now() + dt.timedelta(days=7)

    def record(who=operator, **kw):
        args = {"purpose": "door_access", "mode": "identify", "basis": "emergency", "justification": "fire drill",
                "approver": "dpo:lee", "expires_at": soon, **kw}
        return purposes.record_legal_basis(ctx, who, site, **args)

    assert _code(lambda: record(expires_at=None)) == codes.E_LEGAL_BASIS_INVALID  # statutory: must expire
    assert _code(lambda: record(basis="because")) == codes.E_LEGAL_BASIS_INVALID
    assert _code(lambda: record(purpose="parking")) == codes.E_PURPOSE_NOT_CONSENTED
    stranger = Principal("key_x", "operator", "ten_other")
    assert _code(lambda: record(who=stranger)) == codes.E_NOT_FOUND
    assert _code(lambda: record(who=Principal("key_a", "auditor", world["tenant_id"]))) == "E_FORBIDDEN"
    made = record()
    assert made.basis == "emergency" and made.expires_at == soon and made.revoked_at is None
    assert _code(lambda: purposes.revoke_legal_basis(ctx, stranger, made.id)) == codes.E_NOT_FOUND
    assert _code(lambda: purposes.revoke_legal_basis(ctx, operator, "lb_missing")) == codes.E_NOT_FOUND
    assert purposes.revoke_legal_basis(ctx, operator, made.id).revoked_at is not None
    events = api.ok("GET", "/v1/audit/events", api.admin["key"])["events"]
    actions = [e["payload"].get("action") for e in events if e["type"] == "admin"]
    assert actions[-2:] == ["legal_basis_recorded", "legal_basis_revoked"]
