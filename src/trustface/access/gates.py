"""Gates: where a resident comes in, which methods each takes (face never alone: SPC-10, PIPL-16,
CAC-10, R6), its purpose, schedule and liveness rule."""

from __future__ import annotations

import datetime as dt
import json
import re

from sqlalchemy.orm import Session

from trustface import audit
from trustface.access.methods import (
    FACE,
    IDENTIFY_FACE,
    NON_FACE,
    VERIFY_AFTER_CREDENTIAL,
    alternatives,
    validate_face_mode,
    validate_gate_methods,
)
from trustface.db import access_store, repo
from trustface.db.models import DeviceLocation, Gate, new_id
from trustface.engine.open_set import DEFAULT_FPIR_BUDGET, validate_budget
from trustface.errors import TrustfaceError
from trustface.policy import codes, sites
from trustface.policy._common import invalid, not_found, require_text, utc
from trustface.policy.vocab import IDENTIFY, VERIFY

DEFAULT_PURPOSE = "door_access"
#: "required": single frames are refused at the gate; only a passed challenge burst opens it (R24).
#: A gate that offers face requires it unless created "off" with a reason (an attended gate, issue 17)
LIVENESS_MODES = ("off", "required")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _check_schedule(schedule) -> str | None:
    if schedule is None:
        return None
    if not isinstance(schedule, dict) or set(schedule) - {"days", "from", "to"}:
        raise invalid('a schedule looks like {"days": [0, 1, 2, 3, 4], "from": "06:00", "to": "23:00"}')
    days = schedule.get("days", list(range(7)))
    if (not isinstance(days, list) or not days or
            not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 6 for d in days)):
        raise invalid("schedule days are weekday numbers 0 (Monday) to 6 (Sunday)")
    start, end = schedule.get("from", "00:00"), schedule.get("to", "23:59")
    if not all(isinstance(t, str) and _TIME.match(t) for t in (start, end)) or start >= end:
        raise invalid("schedule from/to are HH:MM (UTC) with from before to")
    return json.dumps({"days": sorted(set(days)), "from": start, "to": end}, separators=(",", ":"))


def gate_is_open(gate: Gate, now: dt.datetime) -> bool:
    if not gate.schedule:
        return True
    rule = json.loads(gate.schedule)
    hhmm = now.strftime("%H:%M")
    return now.weekday() in rule["days"] and rule["from"] <= hhmm <= rule["to"]


def create_gate(session: Session, *, site_id: str, name: str, methods, purpose: str = DEFAULT_PURPOSE,
                location_id: str | None = None, schedule: dict | None = None, liveness: str | None = None,
                liveness_off_reason: str | None = None, actor: str,
                face_mode: str = IDENTIFY_FACE, credential_alone: list[str] | None = None,
                now: dt.datetime | None = None, fpir_budget: float = DEFAULT_FPIR_BUDGET) -> Gate:
    """A gate offering ``methods``; face alone is refused with E_FACE_ONLY_POLICY (R6, SPC-10). A
    face gate needs the site to declare ``purpose`` with the mode its face step uses: identify (1:N)
    for ``face_mode="identify"``, verify (1:1) for ``"verify_after_credential"``, where a PIN, card
    or QR code names the resident first and ``credential_alone`` lists the credentials that also
    open the gate without a face (at least one: R6; see :func:`validate_face_mode`). ``fpir_budget``
    is its stranger-admission budget, the most FPIR per face attempt (1e-6 to 0.05, else
    E_FPIR_BUDGET_INVALID; ISO19795-1, R26): the identify threshold keeps it at the gallery's size.
    A face gate requires the liveness challenge unless ``liveness="off"`` comes with
    ``liveness_off_reason`` (an attended gate; audited, and a warning in the assessment: R24, R25)."""
    now = utc(now)
    purpose = require_text(purpose, "purpose", max_len=80)  # a purpose name; the column holds 80
    fpir_budget = validate_budget(fpir_budget)
    site = sites.get_site(session, site_id)
    chosen = validate_gate_methods(methods if isinstance(methods, (list, tuple)) else [])
    if credential_alone is not None and not isinstance(credential_alone, (list, tuple)):
        raise invalid("credential_alone is a list of the gate's credentials, e.g. [\"card\"]")
    face_mode, alone = validate_face_mode(face_mode if isinstance(face_mode, str) else "", chosen, credential_alone)
    if FACE in chosen:
        declared = sites.get_purpose(session, site_id, purpose)
        mode = VERIFY if face_mode == VERIFY_AFTER_CREDENTIAL else IDENTIFY
        if mode not in declared.allowed_modes.split(","):
            what = "matches the face 1:1 after a credential" if mode == VERIFY else "identifies (1:N)"
            raise TrustfaceError(codes.E_MODE_NOT_ALLOWED,
                                 f"this face gate {what}; purpose {purpose!r} does not allow {mode} here")
    if liveness is None:
        liveness = "required" if FACE in chosen else "off"
    if liveness not in LIVENESS_MODES:
        raise invalid(f"liveness is one of {', '.join(LIVENESS_MODES)}")
    if liveness == "required" and FACE not in chosen:
        raise invalid("liveness applies to face attempts: the gate offers no face")
    reason = None
    if liveness == "off" and FACE in chosen:
        if not isinstance(liveness_off_reason, str) or len(liveness_off_reason.strip()) < 10:
            raise invalid("a face gate requires liveness; to turn it off (an attended gate) give "
                          "liveness_off_reason, at least 10 characters")
        reason = require_text(liveness_off_reason.strip(), "liveness_off_reason", max_len=500)
    if location_id is not None:
        loc = repo.get(session, DeviceLocation, location_id)
        if loc is None or loc.site_id != site_id:
            raise not_found("device location", location_id)
    g = repo.add(session, Gate(id=new_id("gate"), tenant_id=site.tenant_id, site_id=site_id,
                               name=require_text(name, "gate name", max_len=200), methods=",".join(chosen),
                               purpose=purpose, location_id=location_id, schedule=_check_schedule(schedule),
                               liveness=liveness, liveness_off_reason=reason, face_mode=face_mode,
                               credential_alone=",".join(alone), fpir_budget=fpir_budget, created_at=now))
    audit.record(session, "admin", actor=actor, tenant_id=site.tenant_id, now=now,
                 payload={"action": "gate_created", "gate_id": g.id, "site_id": site_id, "methods": list(chosen),
                          "purpose": purpose, "liveness": liveness, "face_mode": face_mode,
                          "credential_alone": list(alone), "fpir_budget": fpir_budget,
                          **({"liveness_off_reason": reason} if reason else {})})
    return g


def get_gate(session: Session, gate_id: str) -> Gate:
    g = access_store.gate(session, gate_id)
    if g is None:
        raise not_found("gate", gate_id)
    return g


def gate_methods(gate: Gate) -> list[str]:
    return gate.methods.split(",")


def two_factor(gate: Gate) -> bool:
    """Whether a face at this gate follows a credential and is matched 1:1 (issue 16)."""
    return gate.face_mode == VERIFY_AFTER_CREDENTIAL


def opens_alone(gate: Gate) -> list[str]:
    """The gate's non-face methods that open it on their own: all of them at an identify gate; at a
    two-factor gate the credentials in ``credential_alone`` and a visitor pass (which names no
    resident, so no face can follow it)."""
    offered = [m for m in NON_FACE if m in gate_methods(gate)]
    if not two_factor(gate):
        return offered
    alone = set(gate.credential_alone.split(",")) if gate.credential_alone else set()
    return [m for m in offered if m in alone or m == "visitor_pass"]


def gate_alternatives(gate: Gate) -> list[str]:
    """What a failed attempt offers (PIPL-24, R25): the ways in that need no face."""
    return alternatives(opens_alone(gate))


def gate_to_dict(gate: Gate) -> dict:
    return {"id": gate.id, "site_id": gate.site_id, "name": gate.name, "methods": gate_methods(gate),
            "alternatives": gate_alternatives(gate), "purpose": gate.purpose,
            "location_id": gate.location_id, "schedule": json.loads(gate.schedule) if gate.schedule else None,
            "liveness": gate.liveness, "liveness_off_reason": gate.liveness_off_reason,
            "face_mode": gate.face_mode or IDENTIFY_FACE, "credential_alone": opens_alone(gate),
            "fpir_budget": gate.fpir_budget,
            "created_at": gate.created_at.isoformat()}
