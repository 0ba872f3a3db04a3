"""The self-assessment of one site: every named check over the live state, each finding tied to the
requirement IDs of the rule packs that apply (issue 7; SPC-6: the processor proves compliance).

:func:`assess` is read-only; :func:`record` writes one ``admin`` audit event saying that an
assessment was made and what it found (PIPL-54: regular compliance audits leave a trace).

JSON shape (``format: trustface-assessment/1``)::

    {"site": {"id", "name", "site_type", "jurisdiction", "tenant_id", "tenant"},
     "generated_at": ISO time, "regimes": [{"id", "title", "title_zh"}],
     "summary": {"pass", "warn", "fail", "verdict"},
     "findings": [{"id", "title", "title_zh", "requirements": ["SPC-10(1)", ...],
                   "status": "pass" | "warn" | "fail", "severity", "evidence": {...}, "fix",
                   "rules": [{"regime", "id", "title", "severity"}]}],
     "metrics": {"consent_coverage": [...], "access_by_method": {...}}}
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy.orm import Session

from trustface import audit
from trustface.compliance import checks as checks_mod
from trustface.compliance import packs
from trustface.policy._common import utc

FORMAT = "trustface-assessment/1"
_SEVERITY_ORDER = {s: n for n, s in enumerate(packs.SEVERITIES)}


def _merge_params(overrides: dict | None) -> dict:
    params = {name: dict(spec.params) for name, spec in packs.checks().items()}
    for name, values in (overrides or {}).items():
        params.setdefault(name, {}).update(values)
    return params


def metrics(ctx: checks_mod.Context) -> dict:
    """Numbers behind the report's charts: consent coverage per purpose and mode, and the share
    of gate decisions by method."""
    people = {s.id for s in ctx.subjects}
    coverage = []
    for p in ctx.purposes:
        for mode in p.allowed_modes.split(","):
            rows = [(c, s) for c, s, q in ctx.consents if q.id == p.id and c.mode == mode]
            current = {s.id for c, s in rows if ctx.consent_problem(c, s, p) is None}
            active_not_current = {s.id for c, s in rows if c.status == "active"} - current
            ended = {s.id for c, s in rows if c.status != "active"} - current - active_not_current
            refused = {r.subject_id for r in ctx.refusals if r.purpose_id == p.id and r.mode == mode}
            coverage.append({"purpose": p.name, "mode": mode, "people": len(people), "current": len(current),
                             "active_not_current": len(active_not_current), "ended": len(ended),
                             "refused": len(refused - current)})
    by_method: dict[str, dict[str, int]] = {}
    for e in ctx.site_events(["access"]):
        pl = e["payload"]
        slot = by_method.setdefault(pl.get("method") or "unknown", {"granted": 0, "denied": 0})
        slot["granted" if pl.get("result") == "granted" else "denied"] += 1
    return {"consent_coverage": coverage, "access_by_method": dict(sorted(by_method.items()))}


def assess(session: Session, site_id: str, *, directory: Path | str | None = None, now: dt.datetime | None = None,
           regimes=None, params: dict | None = None) -> dict:
    """Run every check for ``site_id`` and return the assessment as JSON-ready data.

    ``directory``: the deployment folder (key file, and a scan for image files); ``regimes``: the
    rule packs to apply (default: those of the site's jurisdiction profile); ``params``:
    per-check threshold overrides, e.g. ``{"filing_threshold": {"threshold": 1000}}``."""
    now = utc(now)
    ctx = checks_mod.Context(session, site_id, now, Path(directory) if directory is not None else None,
                             _merge_params(params))
    site = ctx.site
    chosen = list(regimes) if regimes else packs.regimes_for(site.jurisdiction)
    loaded = [packs.load(r) for r in chosen]
    rules_by_check: dict[str, list[packs.Rule]] = {}
    for pack in loaded:
        for rule in pack.rules:
            if rule.applies_to(site.site_type):
                rules_by_check.setdefault(rule.check, []).append(rule)
    findings = []
    for name, spec in packs.checks().items():
        fn = checks_mod.CHECKS[name]
        try:
            result = fn(ctx)
        except Exception as exc:  # one broken check must not hide the others; it fails, visibly
            result = checks_mod.Result(checks_mod.FAIL, {"summary": f"the check could not run: "
                                                                    f"{exc.__class__.__name__}: {exc}"})
        rules = rules_by_check.get(name, [])
        requirements = list(dict.fromkeys([r.id for r in rules] + list(spec.requirements)))
        severity = max((r.severity for r in rules), key=_SEVERITY_ORDER.__getitem__, default="medium")
        findings.append({"id": name, "title": spec.title, "title_zh": spec.title_zh, "requirements": requirements,
                         "status": result.status, "severity": severity, "evidence": result.evidence,
                         "fix": result.fix or spec.fix,
                         "rules": [{"regime": r.regime, "id": r.id, "title": r.title, "severity": r.severity}
                                   for r in rules]})
    counts = {s: sum(1 for f in findings if f["status"] == s) for s in checks_mod.STATUSES}
    verdict = "fail" if counts["fail"] else "warn" if counts["warn"] else "pass"
    tenant = ctx.tenant
    return {
        "format": FORMAT,
        "site": {"id": site.id, "name": site.name, "site_type": site.site_type, "jurisdiction": site.jurisdiction,
                 "tenant_id": site.tenant_id, "tenant": tenant.name if tenant else None},
        "generated_at": now.isoformat(),
        "regimes": [{"id": p.id, "title": p.title, "title_zh": p.title_zh} for p in loaded],
        "summary": {**counts, "verdict": verdict},
        "findings": findings,
        "metrics": metrics(ctx),
        "disclaimer": "Engineering evidence from the live system, not legal advice; counsel confirms each requirement.",
    }


def record(session: Session, assessment: dict, *, actor: str, now: dt.datetime | None = None) -> int:
    """Write one audit event for an assessment (what was assessed, the verdict, the failed checks)."""
    return audit.record(session, "admin", actor=actor, tenant_id=assessment["site"]["tenant_id"], now=utc(now),
                        payload={"action": "compliance_assessed", "site_id": assessment["site"]["id"],
                                 "regimes": [r["id"] for r in assessment["regimes"]],
                                 "verdict": assessment["summary"]["verdict"],
                                 "counts": {k: assessment["summary"][k] for k in checks_mod.STATUSES},
                                 "failed": [f["id"] for f in assessment["findings"] if f["status"] == "fail"]})
