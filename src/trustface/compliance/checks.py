"""The named checks: each reads the live state of one site and returns pass / warn / fail with
evidence (counts, sample ids, audit event seqs) and, where it knows better than the default, the
fix. Rule packs (``rules/*.yaml``) say which requirement IDs each check proves.

Every check is read-only and works from a :class:`Context` that loads the site's rows once
(through :mod:`trustface.db.compliance_store`, :mod:`trustface.db.repo` and
:mod:`trustface.db.access_store`: this module has no queries of its own).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable

from sqlalchemy.orm import Session

from trustface import audit
from trustface.db import access_store, compliance_store, repo
from trustface.policy import profiles, retention, sites
from trustface.policy._common import is_minor
from trustface.policy.vocab import ANALYZE, IDENTIFY, NOTICE_FIELDS, PREMISES_SITE_TYPES, STATUTORY_BASES, VERIFY

PASS, WARN, FAIL = "pass", "warn", "fail"
STATUSES = (PASS, WARN, FAIL)
SAMPLE = 10
FACE_MODES = (VERIFY, IDENTIFY)

#: binary columns that hold protected templates and wrapped keys, never images (gallery, R9)
EXPECTED_BINARY = frozenset({"gallery_templates.ciphertext", "gallery_subject_keys.wrapped_key",
                             "gallery_images.ciphertext"})
#: photos kept under a written image consent (R9) are larger than a template by nature
PHOTO_COLUMNS = frozenset({"gallery_images.ciphertext"})
#: a sealed template: 128 float32 + 12-byte nonce + 16-byte tag = 540 bytes; anything far larger is not one
MAX_TEMPLATE_BYTES = 4096
#: magic numbers of image formats a camera or an export might leave behind
IMAGE_MAGIC = ((b"\xff\xd8\xff", "jpeg"), (b"\x89PNG\r\n\x1a\n", "png"), (b"GIF8", "gif"), (b"BM", "bmp"),
               (b"II*\x00", "tiff"), (b"MM\x00*", "tiff"))
MAX_FILES_SCANNED = 20000


@dataclass
class Result:
    status: str
    evidence: dict
    fix: str | None = None

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")


def _sample(ids) -> list:
    return sorted({i for i in ids if i is not None})[:SAMPLE]


def _when(event: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00"))


# --- the site as the checks see it -------------------------------------------------------------------

@dataclass
class Context:
    """One site's live state, loaded lazily and once."""

    session: Session
    site_id: str
    now: dt.datetime
    directory: Path | None = None
    params: dict = field(default_factory=dict)

    @cached_property
    def site(self):
        return sites.get_site(self.session, self.site_id)

    @cached_property
    def tenant(self):
        return repo.tenant(self.session, self.site.tenant_id)

    @cached_property
    def profile(self):
        return profiles.load(self.site.jurisdiction)

    @cached_property
    def guardian_age(self) -> int:
        return self.profile.guardian_age_for(self.site.guardian_age)

    @cached_property
    def purposes(self):
        return repo.purposes_of_site(self.session, self.site_id)

    @cached_property
    def purposes_by_id(self) -> dict:
        return {p.id: p for p in self.purposes}

    @cached_property
    def gates(self):
        return access_store.gates_of_site(self.session, self.site_id)

    @cached_property
    def notices(self):
        return compliance_store.notices_of_site(self.session, self.site_id)

    @cached_property
    def notice(self):
        return repo.current_notice(self.session, self.site_id, "general")

    @cached_property
    def minors_notice(self):
        return repo.current_notice(self.session, self.site_id, "minors")

    @cached_property
    def consents(self):
        return compliance_store.consents_of_site(self.session, self.site_id)

    @cached_property
    def active_consents(self):
        return [row for row in self.consents if row[0].status == "active"]

    @cached_property
    def templates(self):
        return compliance_store.template_summary(self.session, self.site_id)

    @cached_property
    def subjects(self):
        return compliance_store.subjects_of_site(self.session, self.site_id)

    @cached_property
    def refusals(self):
        return compliance_store.refusals_of_site(self.session, self.site_id)

    @cached_property
    def credentials(self):
        return compliance_store.credentials_of_site(self.session, self.site_id)

    @cached_property
    def legal_bases(self):
        return compliance_store.legal_bases_of_site(self.session, self.site_id)

    @cached_property
    def needles(self) -> list[str]:
        """Ids whose mention in an audit payload ties the event to this site."""
        return [self.site_id] + [p.id for p in self.purposes] + [g.id for g in self.gates]

    def events(self, types=None, actions=None, *, tenant_only: bool = True) -> list[dict]:
        key = ("events", tuple(types or ()), tuple(actions or ()), tenant_only)
        cache = self.__dict__.setdefault("_event_cache", {})
        if key not in cache:
            cache[key] = compliance_store.events(self.session, tenant_id=self.site.tenant_id if tenant_only else None,
                                                 types=types, actions=actions, mentioning=self.needles)
        return cache[key]

    def site_events(self, types=None, actions=None) -> list[dict]:
        """Events whose payload names this site (``site_id``) or one of its purposes or gates."""
        ids = set(self.needles)
        return [e for e in self.events(types, actions)
                if ids & {e["payload"].get("site_id"), e["payload"].get("purpose_id"), e["payload"].get("gate_id")}]

    def seqs(self, types=None, actions=None, **match) -> list[int]:
        out = []
        for e in self.site_events(types, actions):
            if all(e["payload"].get(k) == v or e.get(k) == v for k, v in match.items()):
                out.append(e["seq"])
        return out

    def param(self, check: str, name: str, default):
        return self.params.get(check, {}).get(name, default)

    # consent currency, the same rules as the gate (policy.gate) and the gallery filter
    def consent_problem(self, consent, subject, purpose) -> str | None:
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

    def minor(self, subject) -> bool:
        return is_minor(subject.birth_date, subject.age_band, self.guardian_age, self.now)


CHECKS: dict[str, Callable[[Context], Result]] = {}


def check(name: str):
    def register(fn):
        CHECKS[name] = fn
        return fn
    return register


# --- the checks -----------------------------------------------------------------------------------------

@check("face_only_gates")
def face_only_gates(ctx: Context) -> Result:
    face_only, visitor_only = [], []
    for g in ctx.gates:
        methods = g.methods.split(",")
        if methods == ["face"]:
            face_only.append(g)
        elif "face" in methods and set(methods) <= {"face", "visitor_pass"}:
            visitor_only.append(g)
    created = {g.id: ctx.seqs(["admin"], ["gate_created"], gate_id=g.id) for g in face_only + visitor_only}
    evidence = {"gates": len(ctx.gates), "face_only_gates": [g.id for g in face_only],
                "face_or_visitor_pass_only_gates": [g.id for g in visitor_only],
                "gate_methods": {g.id: g.methods.split(",") for g in ctx.gates[:SAMPLE]},
                "audit_seqs": sorted(s for v in created.values() for s in v)}
    if face_only:
        outside = [g.id for g in face_only if not created[g.id]]
        evidence["summary"] = (f"{len(face_only)} of {len(ctx.gates)} gates take only a face: "
                               f"{', '.join(g.name for g in face_only)}")
        if outside:
            evidence["configured_outside_trustface"] = outside
            evidence["summary"] += (f"; {len(outside)} of them have no gate_created audit event (written to the "
                                    "database directly: trustface refuses such a gate with E_FACE_ONLY_POLICY)")
        return Result(FAIL, evidence, f"Add a PIN, card or QR method to {', '.join(g.name for g in face_only)}.")
    if visitor_only:
        evidence["summary"] = (f"{len(visitor_only)} gates offer face and visitor passes only: residents who decline "
                               "face have no credential of their own there")
        return Result(WARN, evidence, "Add PIN, card or QR to gates that offer only face and visitor passes.")
    evidence["summary"] = (f"all {len(ctx.gates)} gates offer a non-face method" if ctx.gates
                           else "the site has no gates")
    return Result(PASS, evidence)


@check("enrolled_without_consent")
def enrolled_without_consent(ctx: Context) -> Result:
    active = {(c.subject_id, c.purpose_id, c.mode): (c, s, p) for c, s, p in ctx.active_consents}
    latest = {}
    for c, s, p in ctx.consents:  # the most recent consent of each subject x purpose x mode
        latest[(c.subject_id, c.purpose_id, c.mode)] = (c, s, p)
    problems: dict[str, list] = {}
    templates = 0
    for subject_id, purpose_id, mode, n, _kv in ctx.templates:
        templates += n
        row = active.get((subject_id, purpose_id, mode)) or latest.get((subject_id, purpose_id, mode))
        if row is None:
            problems.setdefault("no_consent", []).append((subject_id, purpose_id, mode))
            continue
        why = ctx.consent_problem(*row)
        if why:
            problems.setdefault(why, []).append((subject_id, purpose_id, mode, row[0].id))
    enrolled = {t[0] for t in ctx.templates}
    bad_subjects = {item[0] for items in problems.values() for item in items}
    evidence = {"templates": templates, "enrolled_subjects": len(enrolled),
                "template_groups": len(ctx.templates),
                "without_current_consent": {k: len(v) for k, v in sorted(problems.items())},
                "sample_subject_ids": _sample(bad_subjects),
                "sample_consent_ids": _sample(i[3] for v in problems.values() for i in v if len(i) > 3),
                "audit_seqs": sorted(e["seq"] for e in ctx.site_events(["enrolment"])
                                     if e.get("subject_id") in set(_sample(bad_subjects)))[:SAMPLE]}
    if not problems:
        evidence["summary"] = (f"{len(enrolled)} enrolled subjects, {templates} templates: each has a current "
                               "separate consent for its purpose and mode" if enrolled else "no templates are stored")
        return Result(PASS, evidence)
    blocking = {k for k in problems if k not in ("notice_changed",)}
    evidence["summary"] = (f"{len(bad_subjects)} of {len(enrolled)} enrolled subjects hold templates without a current "
                           f"consent for that purpose and mode "
                           f"({', '.join(f'{k}: {len(v)}' for k, v in sorted(problems.items()))})")
    if blocking:
        return Result(FAIL, evidence, "Purge these templates (`trustface retention run`, `trustface gallery erase`) "
                                      "or obtain a fresh separate consent; guardian consent for minors.")
    return Result(WARN, evidence, "The processing rules changed after these consents: ask the subjects to consent "
                                  "again to the current version (the gate refuses them until then).")


@check("processing_without_consent")
def processing_without_consent(ctx: Context) -> Result:
    fails, warns = [], []
    current_bases = []
    for b in ctx.legal_bases:
        if b.revoked_at is not None or (b.expires_at is not None and b.expires_at <= ctx.now):
            continue
        purpose = ctx.purposes_by_id.get(b.purpose_id)
        if b.basis not in STATUTORY_BASES or purpose is None:
            continue
        current_bases.append(b.id)
        item = {"legal_basis_id": b.id, "purpose": purpose.name, "mode": b.mode, "basis": b.basis,
                "declared_basis": purpose.legal_basis, "expires_at": b.expires_at.isoformat() if b.expires_at else None}
        if b.basis == "public_safety" and (purpose.legal_basis != "public_safety" or ctx.site.site_type != "public"):
            fails.append({**item, "why": "a public-safety basis lets the gate process faces without consent for a "
                                         f"purpose that declares {purpose.legal_basis!r} at a {ctx.site.site_type} site"})
        else:
            warns.append({**item, "why": "statutory exception in force: processing without consent until it expires"})
    grants = ctx.site_events(["grant"])
    no_consent_grants = []
    for e in grants:
        pl = e["payload"]
        if pl.get("basis") in (None, "consent"):
            continue
        purpose = ctx.purposes_by_id.get(pl.get("purpose_id"))
        misfit = ((purpose is not None and purpose.legal_basis == "consent")
                  or (pl.get("basis") == "public_safety" and ctx.site.site_type != "public"))
        no_consent_grants.append((e["seq"], e.get("subject_id"), pl.get("mode"), pl.get("basis"), misfit))
    grant_ids = {e["payload"].get("grant_id") for e in grants}
    orphans = [e["seq"] for e in ctx.site_events(["analysis", "match", "enrolment"])
               if e["payload"].get("grant_id") and e["payload"]["grant_id"] not in grant_ids]
    misfits = [g for g in no_consent_grants if g[4]]
    by_mode: dict[str, int] = {}
    for g in no_consent_grants:
        by_mode[g[2]] = by_mode.get(g[2], 0) + 1
    evidence = {"grants": len(grants), "grants_without_consent": len(no_consent_grants),
                "grants_without_consent_by_mode": by_mode,
                "grants_on_a_basis_the_purpose_does_not_declare": len(misfits),
                "sample_subject_ids": _sample(g[1] for g in misfits or no_consent_grants),
                "audit_seqs": [g[0] for g in (misfits or no_consent_grants)][:SAMPLE],
                "statutory_bases_in_force": current_bases, "findings": (fails + warns)[:SAMPLE],
                "operations_without_a_grant": orphans[:SAMPLE]}
    if fails or misfits or orphans:
        parts = []
        if misfits:
            parts.append(f"{len(misfits)} grants processed faces ({', '.join(sorted({g[2] for g in misfits}))}) without "
                         f"consent on a {'/'.join(sorted({g[3] for g in misfits}))} basis")
        if fails:
            parts.append(f"{len(fails)} legal-basis records let the gate skip consent for "
                         f"{', '.join(sorted({f['purpose'] + '/' + f['mode'] for f in fails}))}")
        if orphans:
            parts.append(f"{len(orphans)} face operations name no grant in the audit trail")
        evidence["summary"] = "; ".join(parts)
        return Result(FAIL, evidence, "Revoke the statutory legal-basis records of consent-based purposes "
                                      f"({', '.join(f['legal_basis_id'] for f in fails) or 'none current'}), "
                                      "stop the processing and collect separate consent.")
    if warns or no_consent_grants:
        evidence["summary"] = (f"{len(warns)} statutory exceptions in force, {len(no_consent_grants)} grants without "
                               "consent under them: confirm each justification and the notify-later task (PIPL-18)")
        return Result(WARN, evidence, "Review each statutory basis before it expires; notify the people concerned.")
    evidence["summary"] = f"all {len(grants)} grants at this site rest on consent; no statutory exception is in force"
    return Result(PASS, evidence)


@check("minors_guardian")
def minors_guardian(ctx: Context) -> Result:
    minors = [(c, s, p) for c, s, p in ctx.active_consents if ctx.minor(s)]
    without = [(c, s, p) for c, s, p in minors if c.guardian is None]
    identify = [(c, s, p) for c, s, p in minors if c.mode == IDENTIFY]
    no_rules = bool(minors) and ctx.profile.minors_notice_required and ctx.minors_notice is None
    minor_subjects = {s.id for _, s, _ in minors}
    bad = {s.id for _, s, _ in without}
    age_events = [e["seq"] for e in compliance_store.events(ctx.session, tenant_id=ctx.site.tenant_id, types=["admin"],
                                                            actions=["subject_age_corrected"])
                  if e.get("subject_id") in bad] if bad else []
    consent_seqs = [e["seq"] for e in ctx.site_events(["consent"]) if e["payload"].get("action") == "given"
                    and e["payload"].get("consent_id") in {c.id for c, _, _ in without}]
    evidence = {"guardian_age": ctx.guardian_age, "minors_with_active_consent": len(minor_subjects),
                "consents_of_minors": len(minors), "without_guardian_consent": len(without),
                "sample_subject_ids": _sample(bad), "sample_consent_ids": _sample(c.id for c, _, _ in without),
                "audit_seqs": sorted(consent_seqs + age_events)[:SAMPLE],
                "minors_notice_version": ctx.minors_notice.version if ctx.minors_notice else None,
                "minors_identify_consents": len(identify)}
    if without or no_rules:
        parts = []
        if without:
            parts.append(f"{len(bad)} minors (under {ctx.guardian_age}) hold {len(without)} active consents without "
                         "guardian consent")
        if no_rules:
            parts.append("no dedicated minors' processing rules are published")
        evidence["summary"] = "; ".join(parts)
        return Result(FAIL, evidence, "Withdraw these consents (the templates are deleted) and ask a verified parent "
                                      "or guardian, citing the published minors' rules.")
    if identify and ctx.site.jurisdiction == "cn":
        evidence["summary"] = (f"{len(identify)} consents let minors be identified 1:N; GB/T 41819 discourages face "
                               "identification of under-14s")
        return Result(WARN, evidence, "Keep minors to 1:1 verification or non-face credentials.")
    evidence["summary"] = (f"{len(minor_subjects)} minors hold consents, each with verified guardian consent"
                           if minors else "no minor holds an active consent at this site")
    return Result(PASS, evidence)


def _missing_fields(content: dict) -> list[str]:
    return [f for f in NOTICE_FIELDS if not content.get(f)]


@check("notice_published")
def notice_published(ctx: Context) -> Result:
    n = ctx.notice
    if n is None:
        return Result(FAIL, {"summary": "no processing-rules notice is published for this site",
                             "notice_versions": len([x for x in ctx.notices if x.kind == "general"]),
                             "active_consents": len(ctx.active_consents)},
                      "Publish the processing rules (`trustface notice generate --site S --publish`).")
    content = json.loads(n.content)
    missing = _missing_fields(content)
    text = n.content
    unnamed = [p.name for p in ctx.purposes if p.name not in text]
    by_id = {x.id: x for x in ctx.notices}
    stale, unshown, mismatch = [], [], []
    for c, _s, _p in ctx.active_consents:
        shown = by_id.get(c.notice_id)
        if shown is None or shown.content_hash != c.notice_hash:
            mismatch.append(c.id)
        elif shown.published_at is None or shown.published_at > c.given_at:
            unshown.append(c.id)
        elif c.notice_hash != n.content_hash:
            stale.append(c.id)
    minors_needed = ctx.profile.minors_notice_required and any(ctx.minor(s) for _, s, _ in ctx.active_consents)
    minors_missing = []
    if ctx.minors_notice is not None:
        minors_missing = _missing_fields(json.loads(ctx.minors_notice.content))
    publish_seqs = [e["seq"] for e in ctx.site_events(["notice"], ["published"])
                    if e["payload"].get("notice_id") in (n.id, getattr(ctx.minors_notice, "id", None))]
    evidence = {"notice_version": n.version, "content_hash": n.content_hash,
                "published_at": n.published_at.isoformat(), "missing_fields": missing,
                "purposes_not_named": unnamed, "active_consents": len(ctx.active_consents),
                "consents_citing_current_version": len(ctx.active_consents) - len(stale) - len(unshown) - len(mismatch),
                "consents_citing_older_version": len(stale), "consents_before_publication": len(unshown),
                "consents_citing_unknown_notice": len(mismatch),
                "sample_consent_ids": _sample(stale + unshown + mismatch),
                "minors_notice_version": ctx.minors_notice.version if ctx.minors_notice else None,
                "minors_notice_missing_fields": minors_missing, "audit_seqs": publish_seqs[-SAMPLE:]}
    fails = []
    if missing:
        fails.append(f"the published notice lacks {', '.join(missing)}")
    if unshown or mismatch:
        fails.append(f"{len(unshown) + len(mismatch)} consents do not cite a notice published before they were given")
    if minors_needed and ctx.minors_notice is None:
        fails.append("minors hold consents but no minors' rules are published")
    if minors_missing:
        fails.append(f"the minors' rules lack {', '.join(minors_missing)}")
    if fails:
        evidence["summary"] = "; ".join(fails)
        return Result(FAIL, evidence)
    if stale or unnamed:
        parts = []
        if stale:
            parts.append(f"{len(stale)} active consents cite an older notice version (the gate refuses them until "
                         "the subjects consent again)")
        if unnamed:
            parts.append(f"the notice does not name purpose(s) {', '.join(unnamed)}")
        evidence["summary"] = "; ".join(parts)
        return Result(WARN, evidence, "Name every purpose in the notice and ask for fresh consent on the current version.")
    evidence["summary"] = (f"version {n.version} is published with all {len(NOTICE_FIELDS)} required fields; every one of "
                           f"{len(ctx.active_consents)} active consents cites it")
    return Result(PASS, evidence)


@check("retention")
def retention_check(ctx: Context) -> Result:
    cap = ctx.profile.max_retention_days
    unbounded = [p for p in ctx.purposes if not p.retention_days or p.retention_days <= 0 or p.retention_days > cap]
    overdue = []
    for c, s, p in ctx.active_consents:
        end, why = retention.end_of(c, s, p, ctx.site)
        if end <= ctx.now:
            overdue.append((c, s, end, why))
    runs = compliance_store.events(ctx.session, types=["admin"], actions=["retention_run"], limit=1, newest_first=True)
    certs = [e for e in ctx.events(["deletion"]) if e["payload"].get("purpose_id") in ctx.purposes_by_id]
    evidence = {"profile_cap_days": cap,
                "retention_days": {p.name: p.retention_days for p in ctx.purposes},
                "unbounded_purposes": [p.name for p in unbounded],
                "sample_purpose_ids": _sample(p.id for p in unbounded),
                "overdue_consents": len(overdue),
                "most_overdue_days": max(((ctx.now - o[2]).days for o in overdue), default=0),
                "sample_consent_ids": _sample(o[0].id for o in overdue),
                "sample_subject_ids": _sample(o[1].id for o in overdue),
                "deletion_certificates": len(certs),
                "audit_seqs": ([runs[0]["seq"]] if runs else []) + [e["seq"] for e in certs][-SAMPLE:]}
    if unbounded or overdue:
        parts = []
        if unbounded:
            parts.append(f"{len(unbounded)} purposes have no finite retention within the {ctx.profile.id} cap of {cap} "
                         f"days: {', '.join(f'{p.name} ({p.retention_days} days)' for p in unbounded)}")
        if overdue:
            parts.append(f"{len(overdue)} consents are past their end and not purged")
        evidence["summary"] = "; ".join(parts)
        fix = []
        if unbounded:
            fix.append(f"set a finite retention of at most {cap} days for {', '.join(p.name for p in unbounded)}")
        if overdue:
            fix.append("run `trustface retention run` now and schedule it daily")
        return Result(FAIL, evidence, "; ".join(fix).capitalize() + ".")
    evidence["summary"] = (f"{len(ctx.purposes)} purposes with finite retention (at most "
                           f"{max((p.retention_days for p in ctx.purposes), default=0)} days); no purge is overdue")
    return Result(PASS, evidence)


def _scan_images(directory: Path) -> tuple[int, list[str], int]:
    found, scanned = [], 0
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            scanned += 1
            if scanned > MAX_FILES_SCANNED:
                return scanned, found, len(found)
            path = Path(root) / name
            try:
                if not stat.S_ISREG(path.lstat().st_mode):
                    continue
                with open(path, "rb") as fh:
                    head = fh.read(12)
            except OSError:
                continue
            if any(head.startswith(m) for m, _ in IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
                found.append(str(path.relative_to(directory)))
    return scanned, found, len(found)


@check("photos_kept")
def photos_kept(ctx: Context) -> Result:
    stats = compliance_store.binary_column_stats(ctx.session)
    unexpected = sorted(set(stats) - EXPECTED_BINARY)
    oversized = {k: v[1] for k, v in stats.items() if v[1] > MAX_TEMPLATE_BYTES and k not in PHOTO_COLUMNS}
    enrolments = ctx.site_events(["enrolment"])
    stored = [e["seq"] for e in enrolments if e["payload"].get("photos_stored")]
    kept, without_consent = compliance_store.kept_photos(ctx.session, ctx.purposes_by_id)
    refused = [e["seq"] for e in ctx.site_events(["denial", "admin"]) if "IMAGE_RETENTION" in json.dumps(e["payload"])]
    evidence = {"binary_columns": {k: {"rows": v[0], "largest_bytes": v[1]} for k, v in stats.items()},
                "unexpected_binary_columns": unexpected, "oversized_binary_values": oversized,
                "enrolments": len(enrolments),
                "photos_used_for_enrolment": sum(int(e["payload"].get("photos") or 0) for e in enrolments),
                "enrolments_that_stored_photos": len(stored), "audit_seqs": (stored + refused)[:SAMPLE],
                "photos_kept_encrypted": kept, "subjects_with_photos_but_no_image_consent": len(without_consent),
                "sample_subject_ids": without_consent[:SAMPLE]}
    if ctx.directory is not None:
        scanned, images, count = _scan_images(ctx.directory)
        evidence.update({"deployment_files_scanned": scanned, "image_files": count, "sample_image_files": images[:SAMPLE]})
    else:
        images = []
        evidence["deployment_files_scanned"] = None
    problems = []
    if images:
        problems.append(f"{len(images)} image files lie in the deployment folder (e.g. {images[0]})")
    if unexpected:
        problems.append(f"binary columns beyond templates and wrapped keys: {', '.join(unexpected)}")
    if oversized:
        problems.append(f"binary values larger than a protected template: {', '.join(oversized)}")
    if without_consent:
        problems.append(f"photos are kept for {len(without_consent)} subjects without a current written image "
                        "consent")
    if problems:
        evidence["summary"] = "; ".join(problems)
        return Result(FAIL, evidence, "Delete the stored face images and whatever writes them; keep photos only "
                                      "under a separate written image consent (mode keep_photo), sealed in the "
                                      "gallery.")
    where = "" if ctx.directory is not None else " (deployment folder not scanned)"
    kept_note = (f"{kept} photos kept sealed, each under a current written image consent" if kept
                 else "no photos kept")
    evidence["summary"] = (f"{kept_note}; {evidence['photos_used_for_enrolment']} enrolment photos became templates"
                           f"{' and were discarded' if not kept else ''}; no image file in the deployment "
                           f"folder{where}")
    return Result(PASS if ctx.directory is not None else WARN, evidence,
                  None if ctx.directory is not None else "Assess with the deployment folder to scan it for images.")


@check("premises_modes")
def premises_modes(ctx: Context) -> Result:
    wanted = [(p, m) for p in ctx.purposes for m in p.allowed_modes.split(",") if m in (IDENTIFY, ANALYZE)]
    signage_seqs = ctx.seqs(["admin"], ["signage_attested"], site_id=ctx.site_id)
    evidence = {"site_type": ctx.site.site_type, "identify_or_analyze": [f"{p.name}/{m}" for p, m in wanted],
                "signage_attested_at": ctx.site.signage_attested_at.isoformat() if ctx.site.signage_attested_at else None,
                "signage_attested_by": ctx.site.signage_attested_by, "audit_seqs": signage_seqs[-SAMPLE:],
                "device_locations": len(compliance_store.device_locations_of_site(ctx.session, ctx.site_id))}
    if ctx.site.site_type not in PREMISES_SITE_TYPES:
        evidence["summary"] = (f"not applicable: a {ctx.site.site_type} site is neither business premises nor a public "
                               "place (SPC-2(1)); the gate still applies the rule if the type changes")
        return Result(PASS, evidence)
    missing_basis = []
    for p, m in wanted:
        current = [b for b in ctx.legal_bases if b.purpose_id == p.id and b.mode == m and b.revoked_at is None
                   and (b.expires_at is None or b.expires_at > ctx.now)]
        if not current:
            missing_basis.append(f"{p.name}/{m}")
    evidence["without_legal_basis"] = missing_basis
    no_signage = bool(wanted) and ctx.site.signage_attested_at is None
    evidence["sample_purpose_ids"] = _sample(p.id for p, m in wanted if f"{p.name}/{m}" in missing_basis or no_signage)
    if missing_basis or no_signage:
        parts = []
        if missing_basis:
            parts.append(f"no current legal basis for {', '.join(missing_basis)}")
        if no_signage:
            parts.append(f"identify/analyze is switched on at this {ctx.site.site_type} site without a signage attestation")
        evidence["summary"] = "; ".join(parts)
        return Result(FAIL, evidence)
    evidence["summary"] = (f"{len(wanted)} identify/analyze purpose-modes, each with a current legal basis; signage "
                           "attested" if wanted else f"no identify/analyze at this {ctx.site.site_type} site")
    return Result(PASS, evidence)


@check("pia")
def pia_check(ctx: Context) -> Result:
    statuses = [sites.pia_status(ctx.session, p.id) for p in ctx.purposes]
    approved = {e["payload"].get("pia_id"): e["seq"] for e in ctx.site_events(["admin"], ["pia_approved"])}
    rows, fails, warns = [], [], []
    for st, p in zip(statuses, ctx.purposes, strict=False):
        row = {"purpose": p.name, **st.to_dict(), "audit_seq": approved.get(st.pia.id) if st.pia else None}
        rows.append(row)
        if st.state in ("missing", "stale"):
            fails.append(f"{p.name}: {st.state}" + (f" ({'; '.join(st.reasons)})" if st.state == "stale" else ""))
        elif st.state == "not_required" and ctx.site.jurisdiction == "cn":
            warns.append(f"{p.name}: no PIA (face data is sensitive personal information, PIPL-55)")
        if st.pia is not None:
            sections = json.loads(st.pia.sections)
            if ctx.site.jurisdiction == "eu" and not sections.get("description"):
                warns.append(f"{p.name}: the DPIA lacks the systematic description (GDPR-35(7)(a))")
            if str(sections.get("residual_risk", "")).strip().lower() == "high" and not sections.get("prior_consultation"):
                warns.append(f"{p.name}: high residual risk without a recorded prior consultation (GDPR-36)")
    evidence = {"purposes": rows, "sample_pia_ids": _sample(r["pia_id"] for r in rows),
                "audit_seqs": sorted(s for s in (r["audit_seq"] for r in rows) if s)[:SAMPLE]}
    if fails:
        evidence["summary"] = "; ".join(fails)
        return Result(FAIL, evidence)
    if warns:
        evidence["summary"] = "; ".join(warns)
        return Result(WARN, evidence)
    evidence["summary"] = (f"{len(rows)} purposes, each covered by an approved, fresh impact assessment" if rows
                           else "the site declares no purpose yet")
    return Result(PASS, evidence)


@check("filing_threshold")
def filing_threshold(ctx: Context) -> Result:
    threshold = int(ctx.param("filing_threshold", "threshold", 100000))
    ratio = float(ctx.param("filing_threshold", "warn_ratio", 0.8))
    counts = compliance_store.tenant_face_subject_counts(ctx.session, ctx.site.tenant_id)
    people = counts["either"]
    evidence = {"tenant_id": ctx.site.tenant_id, "unique_subjects": people, "with_templates": counts["templates"],
                "with_active_consent": counts["active_consents"], "threshold": threshold,
                "share_of_threshold": round(people / threshold, 4) if threshold else None,
                "sites_of_tenant": len(access_store.sites_of_tenant(ctx.session, ctx.site.tenant_id))}
    if ctx.site.jurisdiction != "cn":
        evidence["summary"] = (f"not applicable under the {ctx.site.jurisdiction} profile (CAC-15 binds processors in "
                               f"the PRC); {people} people counted")
        return Result(PASS, evidence)
    if people >= threshold:
        evidence["summary"] = f"{people} people's face information is held by this processor: at or over {threshold}"
        return Result(FAIL, evidence)
    if people >= ratio * threshold:
        evidence["summary"] = f"{people} people: {people / threshold:.0%} of the {threshold} filing threshold"
        return Result(WARN, evidence, "Prepare the CAC filing pack and a PI protection officer now.")
    evidence["summary"] = f"{people} people across the processor's sites, {people / threshold:.2%} of {threshold}"
    return Result(PASS, evidence)


@check("audit_chain")
def audit_chain(ctx: Context) -> Result:
    result = audit.verify(ctx.session)
    evidence = {"ok": result.ok, "events": result.events, "first_bad_seq": result.first_bad,
                "reason": result.reason or None,
                "tenant_events": compliance_store.count_events(ctx.session, tenant_id=ctx.site.tenant_id)}
    if not result.ok:
        evidence["summary"] = f"the chain breaks at event {result.first_bad}: {result.reason}"
        evidence["audit_seqs"] = [result.first_bad]
        return Result(FAIL, evidence)
    evidence["summary"] = f"all {result.events} events link and the signed head matches"
    return Result(PASS, evidence)


def _key_file(directory: Path) -> dict:
    from trustface.deployment import KEY_FILE

    path = directory / KEY_FILE
    try:
        info = path.stat()
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {"present": False}
    created = data.get("created_at")
    return {"present": True, "mode": oct(stat.S_IMODE(info.st_mode)), "created_at": created,
            "owner_only": not stat.S_IMODE(info.st_mode) & 0o077}


@check("key_management")
def key_management(ctx: Context) -> Result:
    max_key_age = int(ctx.param("key_management", "tenant_key_max_age_days", 365))
    max_file_age = int(ctx.param("key_management", "key_file_max_age_days", 730))
    tkey = repo.gallery_tenant_key(ctx.session, ctx.site.tenant_id)
    rotations = [e["seq"] for e in compliance_store.events(ctx.session, tenant_id=ctx.site.tenant_id, types=["admin"],
                                                            actions=["template_key_rotated"])]
    evidence = {"audit_seqs": rotations[-SAMPLE:]}
    fails, warns = [], []
    if tkey is None:
        evidence["template_key"] = None
    else:
        age = (ctx.now - tkey.rotated_at).days
        behind_subjects = [k.subject_id for k in repo.gallery_subject_keys_of_tenant(ctx.session, ctx.site.tenant_id)
                           if k.key_version != tkey.version]
        behind_templates = [t for t in ctx.templates if t[4] != tkey.version]
        evidence["template_key"] = {"version": tkey.version, "rotated_at": tkey.rotated_at.isoformat(),
                                    "age_days": age, "max_age_days": max_key_age,
                                    "subject_keys_on_older_version": len(behind_subjects),
                                    "template_groups_on_older_version": len(behind_templates)}
        evidence["sample_subject_ids"] = _sample(behind_subjects + [t[0] for t in behind_templates])
        if behind_subjects or behind_templates:
            fails.append(f"{len(behind_subjects) + len(behind_templates)} keys or templates are not on the current key "
                         f"version {tkey.version} (an interrupted rotation)")
        if age > max_key_age:
            warns.append(f"the template key was last rotated {age} days ago (policy: {max_key_age})")
    if ctx.directory is not None:
        kf = _key_file(ctx.directory)
        evidence["key_file"] = kf
        if not kf.get("present"):
            fails.append("the deployment key file is missing or unreadable")
        else:
            if not kf["owner_only"]:
                fails.append(f"the key file is readable by others (mode {kf['mode']})")
            if kf.get("created_at"):
                file_age = (ctx.now - dt.datetime.fromisoformat(kf["created_at"])).days
                kf["age_days"], kf["max_age_days"] = file_age, max_file_age
                if file_age > max_file_age:
                    warns.append(f"the key file (audit and key-encryption secrets) is {file_age} days old "
                                 f"(policy: {max_file_age})")
    else:
        evidence["key_file"] = "not inspected (no deployment folder given)"
    if fails:
        evidence["summary"] = "; ".join(fails + warns)
        return Result(FAIL, evidence)
    if warns:
        evidence["summary"] = "; ".join(warns)
        return Result(WARN, evidence)
    if tkey is None:
        evidence["summary"] = "no template is stored yet (the tenant key is made at the first enrolment); key file 0600"
    else:
        evidence["summary"] = (f"template key version {tkey.version}, rotated {evidence['template_key']['age_days']} days "
                               "ago; every key and template on it; key file owner-only")
    return Result(PASS, evidence)


DISCLOSURE_ACTIONS = ("disclosed", "provided", "transferred", "shared", "sold")
PERMITTED_DISCLOSURE_BASES = frozenset({"separate_consent", "consent", "financial_transaction", "law", "warrant"})


@check("disclosures")
def disclosures(ctx: Context) -> Result:
    exports = compliance_store.events(ctx.session, tenant_id=ctx.site.tenant_id, types=["export"])
    # evidence bundles carry the subject's own events to the subject (access right, PIPL-45)
    bundles = [e for e in exports if e["payload"].get("action") == "evidence_bundle"]
    other_exports = [e for e in exports if e["payload"].get("action") != "evidence_bundle"]
    provisions = compliance_store.events(ctx.session, tenant_id=ctx.site.tenant_id, actions=DISCLOSURE_ACTIONS)
    unbased = [e for e in other_exports + provisions if e["payload"].get("basis") not in PERMITTED_DISCLOSURE_BASES]
    evidence = {"disclosure_path": "none: no trustface API route or command provides face data to a third party; "
                                   "templates never leave the gallery (R11)",
                "evidence_bundles_to_subjects": len(bundles), "other_exports": len(other_exports),
                "provision_events": len(provisions), "without_permitted_basis": len(unbased),
                "audit_seqs": [e["seq"] for e in unbased][:SAMPLE] or [e["seq"] for e in bundles][:SAMPLE]}
    if unbased:
        evidence["summary"] = f"{len(unbased)} exports or provisions of data without a permitted basis"
        return Result(FAIL, evidence)
    evidence["summary"] = (f"no disclosure path exists and none is recorded; {len(bundles)} evidence bundles went to "
                           "the subjects themselves")
    return Result(PASS, evidence)


@check("declined_alternative")
def declined_alternative(ctx: Context) -> Result:
    face_gates = [g for g in ctx.gates if "face" in g.methods.split(",")]
    accepted = {m for g in ctx.gates for m in g.methods.split(",") if m not in ("face", "visitor_pass")}
    with_templates = {(t[0], t[1]) for t in ctx.templates if t[2] == IDENTIFY}
    face_ok = set()
    for c, s, p in ctx.active_consents:
        if c.mode == IDENTIFY and any(g.purpose == p.name for g in face_gates) and (s.id, p.id) in with_templates \
                and ctx.consent_problem(c, s, p) is None:
            face_ok.add(s.id)
    refused = {r.subject_id for r in ctx.refusals}
    withdrew = {c.subject_id for c, _, _ in ctx.consents if c.status == "withdrawn"}
    people = {s.id for s in ctx.subjects if s.site_id == ctx.site_id} | refused | withdrew
    working = {}
    for cred in ctx.credentials:
        if cred.subject_id and cred.type in accepted and (cred.expires_at is None or cred.expires_at > ctx.now) \
                and cred.used_at is None:
            working.setdefault(cred.subject_id, []).append(cred.type)
    need = people - face_ok
    stranded = sorted(need - set(working))
    declined = (refused | withdrew) - face_ok
    evidence = {"people_at_site": len(people), "enter_by_face": len(face_ok), "need_non_face_way_in": len(need),
                "declined_or_withdrew": len(declined), "with_working_credential": len(need & set(working)),
                "without_working_credential": len(stranded), "sample_subject_ids": stranded[:SAMPLE],
                "credential_types_gates_accept": sorted(accepted),
                "audit_seqs": sorted(e["seq"] for e in ctx.site_events(["consent"])
                                     if e["payload"].get("action") in ("refused", "withdrawn")
                                     and e.get("subject_id") in set(stranded))[:SAMPLE]}
    if not ctx.gates:
        evidence["summary"] = "the site has no gates: nobody needs a credential here"
        return Result(PASS, evidence)
    if stranded:
        declined_stranded = [s for s in stranded if s in declined]
        evidence["summary"] = (f"{len(stranded)} people who do not enter by face hold no credential a gate accepts "
                               f"({len(declined_stranded)} of them declined or withdrew face consent)")
        return Result(FAIL, evidence)
    evidence["summary"] = (f"{len(need)} people who do not enter by face ({len(declined)} declined or withdrew) each "
                           f"hold a working {'/'.join(sorted(accepted))} credential" if need
                           else "everyone registered at the site enters by face with consent" if people
                           else "nobody is registered at the site yet")
    return Result(PASS, evidence)
