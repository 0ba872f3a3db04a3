"""What every check shares: the :class:`Result` it returns and the :class:`Context` it reads.

A :class:`Context` loads one site's live state lazily and once, through
:mod:`trustface.db.compliance_store`, :mod:`trustface.db.repo` and :mod:`trustface.db.access_store`
(ARCHITECTURE: only ``db`` has queries). Consent currency follows the same rules as the policy
gate (R1, R6, R7; PIPL-29, PIPL-31).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable

from sqlalchemy.orm import Session

from trustface.db import access_store, compliance_store, repo
from trustface.db.models import (
    Consent,
    Credential,
    Gate,
    LegalBasisRecord,
    Notice,
    Purpose,
    Refusal,
    Site,
    Subject,
    Tenant,
)
from trustface.policy import profiles, sites
from trustface.policy._common import is_minor

PASS, WARN, FAIL = "pass", "warn", "fail"
STATUSES = (PASS, WARN, FAIL)
#: how many ids or audit seqs a finding's evidence lists at most
SAMPLE = 10

#: one audit event as :func:`trustface.db.compliance_store.events` returns it (payload parsed)
Event = dict[str, Any]
#: (consent, its subject, its purpose), as :func:`trustface.db.compliance_store.consents_of_site` returns them
ConsentRow = tuple[Consent, Subject, Purpose]
#: (subject_id, purpose_id, mode, templates, highest key version) per stored template group
TemplateGroup = tuple[str, str, str, int, int]


@dataclass
class Result:
    """A check's verdict (``pass`` | ``warn`` | ``fail``), its evidence (JSON-ready: counts,
    sample ids, audit seqs, a ``summary``) and, where the check knows better than the rule pack,
    the fix."""

    status: str
    evidence: dict[str, Any]
    fix: str | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")


def sample(ids: Iterable[Any]) -> list[Any]:
    """At most :data:`SAMPLE` distinct ids, sorted, ``None`` left out."""
    return sorted({i for i in ids if i is not None})[:SAMPLE]


@dataclass
class Context:
    """One site's live state, loaded lazily and once.

    ``now``: aware UTC; ``directory``: the deployment folder (key file, image scan) or ``None``;
    ``params``: per-check thresholds, ``{check: {name: value}}``."""

    session: Session
    site_id: str
    now: dt.datetime
    directory: Path | None = None
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    _event_cache: dict[tuple[Any, ...], list[Event]] = field(default_factory=dict, init=False, repr=False)

    @cached_property
    def site(self) -> Site:
        return sites.get_site(self.session, self.site_id)

    @cached_property
    def tenant(self) -> Tenant | None:
        return repo.tenant(self.session, self.site.tenant_id)

    @cached_property
    def profile(self) -> profiles.Profile:
        return profiles.load(self.site.jurisdiction)

    @cached_property
    def guardian_age(self) -> int:
        return self.profile.guardian_age_for(self.site.guardian_age)

    @cached_property
    def purposes(self) -> list[Purpose]:
        return repo.purposes_of_site(self.session, self.site_id)

    @cached_property
    def purposes_by_id(self) -> dict[str, Purpose]:
        return {p.id: p for p in self.purposes}

    @cached_property
    def gates(self) -> list[Gate]:
        return access_store.gates_of_site(self.session, self.site_id)

    @cached_property
    def notices(self) -> list[Notice]:
        return compliance_store.notices_of_site(self.session, self.site_id)

    @cached_property
    def notice(self) -> Notice | None:
        return repo.current_notice(self.session, self.site_id, "general")

    @cached_property
    def minors_notice(self) -> Notice | None:
        return repo.current_notice(self.session, self.site_id, "minors")

    @cached_property
    def consents(self) -> list[ConsentRow]:
        return compliance_store.consents_of_site(self.session, self.site_id)

    @cached_property
    def active_consents(self) -> list[ConsentRow]:
        return [row for row in self.consents if row[0].status == "active"]

    @cached_property
    def templates(self) -> list[TemplateGroup]:
        return compliance_store.template_summary(self.session, self.site_id)

    @cached_property
    def subjects(self) -> list[Subject]:
        return compliance_store.subjects_of_site(self.session, self.site_id)

    @cached_property
    def refusals(self) -> list[Refusal]:
        return compliance_store.refusals_of_site(self.session, self.site_id)

    @cached_property
    def credentials(self) -> list[Credential]:
        return compliance_store.credentials_of_site(self.session, self.site_id)

    @cached_property
    def legal_bases(self) -> list[LegalBasisRecord]:
        return compliance_store.legal_bases_of_site(self.session, self.site_id)

    @cached_property
    def needles(self) -> list[str]:
        """Ids whose mention in an audit payload ties the event to this site."""
        return [self.site_id] + [p.id for p in self.purposes] + [g.id for g in self.gates]

    def events(self, types: Iterable[str] | None = None, actions: Iterable[str] | None = None, *,
               tenant_only: bool = True) -> list[Event]:
        """Audit events that mention this site's ids (of the site's tenant unless ``tenant_only`` is false)."""
        key = ("events", tuple(types or ()), tuple(actions or ()), tenant_only)
        if key not in self._event_cache:
            self._event_cache[key] = compliance_store.events(
                self.session, tenant_id=self.site.tenant_id if tenant_only else None, types=types, actions=actions,
                mentioning=self.needles)
        return self._event_cache[key]

    def site_events(self, types: Iterable[str] | None = None, actions: Iterable[str] | None = None) -> list[Event]:
        """Events whose payload names this site (``site_id``) or one of its purposes or gates."""
        ids = set(self.needles)
        return [e for e in self.events(types, actions)
                if ids & {e["payload"].get("site_id"), e["payload"].get("purpose_id"), e["payload"].get("gate_id")}]

    def seqs(self, types: Iterable[str] | None = None, actions: Iterable[str] | None = None, **match: Any) -> list[int]:
        """Seqs of the site's events whose payload (or row) has every ``match`` value."""
        out = []
        for e in self.site_events(types, actions):
            if all(e["payload"].get(k) == v or e.get(k) == v for k, v in match.items()):
                out.append(e["seq"])
        return out

    def param(self, check: str, name: str, default: Any) -> Any:
        return self.params.get(check, {}).get(name, default)

    def consent_problem(self, consent: Consent, subject: Subject, purpose: Purpose) -> str | None:
        """Why a consent does not let the gate process the face now, or ``None`` when it does: the
        same rules as the policy gate and the gallery filter (R1, R6, R7)."""
        if consent.status != "active":
            return consent.ended_reason or consent.status
        if consent.expires_at <= self.now:
            return "retention_expired"
        if purpose.ends_at is not None and purpose.ends_at <= self.now:
            return "purpose_ended"
        last = max(subject.last_interaction_at or consent.given_at, consent.given_at)
        if last + dt.timedelta(days=self.profile.inactivity_limit_days) <= self.now:
            return "inactive"
        if self.notice is None or consent.notice_hash != self.notice.content_hash:
            return "notice_changed"
        if consent.guardian is None and is_minor(subject.birth_date, subject.age_band, self.guardian_age, self.now):
            return "guardian_missing"
        if self.profile.written_release_required and consent.written_release is None:
            return "written_release_missing"
        return None

    def minor(self, subject: Subject) -> bool:
        return is_minor(subject.birth_date, subject.age_band, self.guardian_age, self.now)
