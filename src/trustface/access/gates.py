"""Gates: where a resident comes in, which methods each takes (face never alone: SPC-10, PIPL-16,
CAC-10, R6), its purpose, schedule and liveness rule."""

from __future__ import annotations

import datetime as dt
import json
import re

from sqlalchemy.orm import Session

from trustface import audit
from trustface.access.methods import FACE, alternatives, validate_gate_methods
from trustface.db import access_store, repo
from trustface.db.models import DeviceLocation, Gate, new_id
from trustface.errors import TrustfaceError
from trustface.policy import codes, sites
from trustface.policy._common import invalid, not_found, require_text, utc
from trustface.policy.vocab import IDENTIFY

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
                liveness_off_reason: str | None = None, actor: str, now: dt.datetime | None = None) -> Gate:
    """A gate offering ``methods``; face alone is refused with E_FACE_ONLY_POLICY (R6, SPC-10). A
    face gate needs the site to declare ``purpose`` with identify among its modes, and requires the
    liveness challenge unless ``liveness="off"`` comes with ``liveness_off_reason`` (an attended
    gate; audited, and a warning in the assessment: R24, R25)."""
    now = utc(now)
    site = sites.get_site(session, site_id)
    chosen = validate_gate_methods(methods if isinstance(methods, (list, tuple)) else [])
    if FACE in chosen:
        declared = sites.get_purpose(session, site_id, purpose)
        if IDENTIFY not in declared.allowed_modes.split(","):
            raise TrustfaceError(codes.E_MODE_NOT_ALLOWED,
                                 f"a face gate identifies (1:N); purpose {purpose!r} does not allow identify here")
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
                               liveness=liveness, liveness_off_reason=reason, created_at=now))
    audit.record(session, "admin", actor=actor, tenant_id=site.tenant_id, now=now,
                 payload={"action": "gate_created", "gate_id": g.id, "site_id": site_id, "methods": list(chosen),
                          "purpose": purpose, "liveness": liveness,
                          **({"liveness_off_reason": reason} if reason else {})})
    return g


def get_gate(session: Session, gate_id: str) -> Gate:
    g = access_store.gate(session, gate_id)
    if g is None:
        raise not_found("gate", gate_id)
    return g


def gate_methods(gate: Gate) -> list[str]:
    return gate.methods.split(",")


def gate_to_dict(gate: Gate) -> dict:
    return {"id": gate.id, "site_id": gate.site_id, "name": gate.name, "methods": gate_methods(gate),
            "alternatives": alternatives(gate_methods(gate)), "purpose": gate.purpose,
            "location_id": gate.location_id, "schedule": json.loads(gate.schedule) if gate.schedule else None,
            "liveness": gate.liveness, "liveness_off_reason": gate.liveness_off_reason,
            "created_at": gate.created_at.isoformat()}
