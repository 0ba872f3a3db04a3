"""TEMPORARY (issue 15): stand-ins for three use cases written in the lead's branch,
``services.faces.enrol``, ``services.gates.create_gate`` and ``services.gates.issue_credential``,
with their agreed signatures. They run today's steps exactly as the API routes run them
(``api/routes/faces.py`` enrol, ``api/routes/sites.py`` create_gate,
``api/routes/subjects.py`` issue_credential), without importing the API.

AT MERGE: delete this module and change two imports (the call sites do not change):
``web/console_residents.py``: ``from trustface.services import faces, gates``;
``web/console_gates.py``: ``from trustface.services import gates as gate_service``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from trustface.access import service as access
from trustface.access.codes import E_MALFORMED_REQUEST
from trustface.access.keys import Principal
from trustface.errors import E_INVALID_ARGUMENT, TrustfaceError
from trustface.policy import gate as policy_gate
from trustface.policy.vocab import IDENTIFY, VERIFY
from trustface.services import scope
from trustface.services.context import Context


@dataclass(frozen=True)
class EnrolOutcome:
    subject_id: str
    enrolments: tuple[Any, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"subject_id": self.subject_id, "enrolments": [e.to_dict() for e in self.enrolments],
                "photos_kept": 0}


def _enrol(ctx: Context, who: Principal, subject_id: str, images: list[bytes], *, purpose: str, modes: list[str],
           site_id: str | None = None) -> EnrolOutcome:
    from trustface import imaging

    who.require("faces:enrol")
    if not modes or any(m not in (VERIFY, IDENTIFY) for m in modes):
        raise TrustfaceError(E_INVALID_ARGUMENT, "mode is verify, identify, or verify,identify")
    with ctx.tx() as s:
        subject = scope.subject(s, who, subject_id)
        site_id = site_id or subject.site_id
        if site_id is None:
            raise TrustfaceError(E_MALFORMED_REQUEST, "give site_id: the subject was not registered at a site")
        scope.site(s, who, site_id)
        tenant_id = subject.tenant_id
    pixels = [imaging.load_image(data) for data in images]
    grants = []
    for mode in modes:
        with ctx.tx() as s:
            decision = policy_gate.authorize(s, tenant_id=tenant_id, site_id=site_id, purpose=purpose, mode=mode,
                                             subject_id=subject_id, actor=who.actor)
        grants.append(scope.granted(decision))
    with ctx.tx() as s:
        enrolments = ctx.gallery.enrol(s, grants, pixels, actor=who.actor)
    return EnrolOutcome(subject_id, tuple(enrolments))


def _create_gate(ctx: Context, who: Principal, *, site_id: str, name: str, methods: Sequence[str],
                 purpose: str = access.DEFAULT_PURPOSE, schedule: dict[str, Any] | None = None,
                 location_id: str | None = None, liveness: str = "off") -> dict[str, Any]:
    who.require("gates:write")
    with ctx.tx() as s:
        scope.site(s, who, site_id)
        row = access.create_gate(s, site_id=site_id, name=name, methods=list(methods), purpose=purpose,
                                 location_id=location_id, schedule=schedule, liveness=liveness, actor=who.actor)
        return access.gate_to_dict(row)


def _issue_credential(ctx: Context, who: Principal, *, subject_id: str, site_id: str | None, type: str,
                      value: str | None = None, valid_days: int | None = None,
                      label: str | None = None) -> dict[str, Any]:
    who.require("credentials:write")
    with ctx.tx() as s:
        subject = scope.subject(s, who, subject_id)
        site_id = site_id or subject.site_id
        if site_id is None:
            raise TrustfaceError(E_MALFORMED_REQUEST, "give site_id: the subject was not registered at a site")
        scope.site(s, who, site_id)
        row, shown = access.issue_credential(
            s, ctx.credential_secret, subject_id=subject_id, site_id=site_id, type=type, value=value,
            valid_for=dt.timedelta(days=valid_days) if valid_days else None, label=label, actor=who.actor)
        return {**access.credential_to_dict(row), "value": shown}


#: the modules as the pages import them from ``trustface.services`` after the merge
faces = SimpleNamespace(enrol=_enrol)
gates = SimpleNamespace(create_gate=_create_gate, issue_credential=_issue_credential)
