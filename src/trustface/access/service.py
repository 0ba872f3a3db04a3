"""Gates, credentials and access decisions: a way in that never depends on a face (SPC-10,
PIPL-16, CAC-10, R6), and a failed face match that always offers the other ways (PIPL-24, R25).

Every function takes the caller's session and writes its audit event in the same transaction; the
caller commits. A decision is an ``access`` event naming the gate, the method, the result, the
reason and the subject when known; a face decision also leaves the policy gate's ``grant`` /
``denial`` event and the gallery's ``match`` event beside it.

``secret`` is the deployment's credential key (:func:`credential_key`): it keys the card digests
and PIN lookup tags and signs QR codes, so a copied database alone reveals no credential.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from trustface import audit
from trustface.access import credentials as creds
from trustface.access.codes import (
    E_ALTERNATIVE_REQUIRED,
    E_CREDENTIAL_CONFLICT,
    E_CREDENTIAL_EXPIRED,
    E_CREDENTIAL_INVALID,
    E_GATE_CLOSED,
    E_LIVENESS_REQUIRED,
    E_METHOD_NOT_OFFERED,
    E_NO_MATCH,
)
from trustface.access.methods import FACE, METHODS, alternatives, validate_gate_methods
from trustface.db import access_store, repo
from trustface.db.models import Credential, DeviceLocation, Gate, new_id
from trustface.errors import E_INVALID_ARGUMENT, TrustfaceError
from trustface.policy import codes, ledger, sites
from trustface.policy import gate as policy_gate
from trustface.policy._common import invalid, not_found, require_text, utc
from trustface.policy.vocab import IDENTIFY

#: credential types a subject may hold; a visitor pass has no subject
CREDENTIAL_TYPES = ("pin", "card", "qr")
VISITOR_PASS = "visitor_pass"
DEFAULT_PURPOSE = "door_access"
QR_VALIDITY = dt.timedelta(days=365)
VISITOR_VALIDITY = dt.timedelta(hours=24)
#: "required": single frames are refused at the gate; only a passed challenge burst opens it (R24)
LIVENESS_MODES = ("off", "required")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def credential_key(tenant_kek_seed: bytes) -> bytes:
    """The credential key, derived from the deployment's key file (never stored in the database)."""
    return hmac.new(tenant_kek_seed, b"trustface-credentials/1", hashlib.sha256).digest()


def _pin_tag(secret: bytes, site_id: str, pin: str) -> str:
    # a keyed tag finds the PIN's row without a scan of argon2 hashes; the hash is still checked
    return hmac.new(secret, f"trustface-pin|{site_id}|{pin}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Decision:
    """The answer to one attempt at a gate. ``alternatives`` lists the gate's non-face methods and
    is never empty when a face attempt fails (PIPL-24)."""

    granted: bool
    gate_id: str
    method: str
    subject_id: str | None = None
    reason: str | None = None
    message: str | None = None
    alternatives: list[str] = field(default_factory=list)
    audit_seq: int = 0
    distance: float | None = None

    def to_dict(self) -> dict:
        out = {"granted": self.granted, "gate_id": self.gate_id, "method": self.method,
               "subject_id": self.subject_id, "alternatives": list(self.alternatives),
               "reason": None if self.reason is None else {"code": self.reason, "message": self.message},
               "audit_seq": self.audit_seq}
        if self.distance is not None:
            out["distance"] = round(self.distance, 4)
        return out


# --- gates ---------------------------------------------------------------------------------------

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
                location_id: str | None = None, schedule: dict | None = None, liveness: str = "off", actor: str,
                now: dt.datetime | None = None) -> Gate:
    """A gate offering ``methods``; face alone is refused with E_FACE_ONLY_POLICY (R6, SPC-10). A
    face gate needs the site to declare ``purpose`` with identify among its modes."""
    now = utc(now)
    site = sites.get_site(session, site_id)
    chosen = validate_gate_methods(methods if isinstance(methods, (list, tuple)) else [])
    if FACE in chosen:
        declared = sites.get_purpose(session, site_id, purpose)
        if IDENTIFY not in declared.allowed_modes.split(","):
            raise TrustfaceError(codes.E_MODE_NOT_ALLOWED,
                                 f"a face gate identifies (1:N); purpose {purpose!r} does not allow identify here")
    if liveness not in LIVENESS_MODES:
        raise invalid(f"liveness is one of {', '.join(LIVENESS_MODES)}")
    if liveness == "required" and FACE not in chosen:
        raise invalid("liveness applies to face attempts: the gate offers no face")
    if location_id is not None:
        loc = repo.get(session, DeviceLocation, location_id)
        if loc is None or loc.site_id != site_id:
            raise not_found("device location", location_id)
    g = repo.add(session, Gate(id=new_id("gate"), tenant_id=site.tenant_id, site_id=site_id,
                               name=require_text(name, "gate name", max_len=200), methods=",".join(chosen),
                               purpose=purpose, location_id=location_id, schedule=_check_schedule(schedule),
                               liveness=liveness, created_at=now))
    audit.record(session, "admin", actor=actor, tenant_id=site.tenant_id, now=now,
                 payload={"action": "gate_created", "gate_id": g.id, "site_id": site_id, "methods": list(chosen),
                          "purpose": purpose, "liveness": liveness})
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
            "liveness": gate.liveness,
            "created_at": gate.created_at.isoformat()}


# --- credentials ---------------------------------------------------------------------------------

def _random_pin(secret: bytes, session: Session, site_id: str) -> tuple[str, str]:
    for _ in range(50):
        pin = f"{secrets.randbelow(10**8):08d}"
        try:
            creds.check_pin(pin)  # the same acceptability rule as a chosen PIN
        except TrustfaceError:
            continue
        tag = _pin_tag(secret, site_id, pin)
        if access_store.credential_by_lookup(session, site_id, "pin", tag) is None:
            return pin, tag
    raise TrustfaceError(E_CREDENTIAL_CONFLICT, "could not find a free PIN; try again")  # pragma: no cover


def issue_credential(session: Session, secret: bytes, *, subject_id: str, site_id: str, type: str,
                     value: str | None = None, valid_for: dt.timedelta | None = None, label: str | None = None,
                     actor: str, now: dt.datetime | None = None) -> tuple[Credential, str | None]:
    """Give a subject a non-face way in at a site (R6). Returns the record and what to hand the
    person once: a generated PIN or the QR code (``None`` for a chosen PIN or a card). Nothing
    shown here is stored in clear."""
    now = utc(now)
    subject = ledger.get_subject(session, subject_id)
    site = sites.get_site(session, site_id)
    if subject.tenant_id != site.tenant_id:
        raise not_found("site", site_id)
    if type not in CREDENTIAL_TYPES:
        raise invalid(f"credential type must be one of {', '.join(CREDENTIAL_TYPES)}")
    cred_id, shown, secret_hash, expires = new_id("cred"), None, None, None
    if type == "pin":
        if value is None:
            shown, lookup = _random_pin(secret, session, site_id)
            secret_hash = creds.hash_pin(shown)
        else:
            if not isinstance(value, str):
                raise invalid("a PIN is a string of digits")
            secret_hash = creds.hash_pin(value)
            lookup = _pin_tag(secret, site_id, value)
    elif type == "card":
        if not isinstance(value, str):
            raise invalid("a card credential needs the card number in `value`")
        lookup = creds.card_digest(secret, value)
    else:
        if value is not None:
            raise invalid("trustface makes the QR code; send no `value` for a QR credential")
        valid_for = valid_for or QR_VALIDITY
        shown = creds.issue_qr(secret, holder=cred_id, site_id=site_id, valid_for=valid_for, single_use=False, now=now)
        claims = creds.read_qr(secret, shown, site_id=site_id, now=now)
        lookup, expires = claims.nonce, claims.expires_at
    if access_store.credential_by_lookup(session, site_id, type, lookup) is not None:
        raise TrustfaceError(E_CREDENTIAL_CONFLICT, f"this {type} is already in use at the site; choose another")
    row = repo.add(session, Credential(id=cred_id, tenant_id=site.tenant_id, site_id=site_id, subject_id=subject_id,
                                       type=type, lookup=lookup, secret_hash=secret_hash,
                                       label=(label or "")[:200] or None, expires_at=expires, created_at=now))
    audit.record(session, "admin", actor=actor, tenant_id=site.tenant_id, subject_id=subject_id, now=now,
                 payload={"action": "credential_issued", "credential_id": row.id, "type": type, "site_id": site_id,
                          "generated": shown is not None and type == "pin"})
    return row, shown


def issue_visitor_pass(session: Session, secret: bytes, *, site_id: str, valid_for: dt.timedelta | None = None,
                       label: str | None = None, actor: str, now: dt.datetime | None = None) -> tuple[Credential, str]:
    """A single-use QR pass for a visitor (no subject, no face): refused once used or expired."""
    now = utc(now)
    site = sites.get_site(session, site_id)
    cred_id = new_id("pass")
    token = creds.issue_qr(secret, holder=cred_id, site_id=site_id, valid_for=valid_for or VISITOR_VALIDITY,
                           single_use=True, now=now)
    claims = creds.read_qr(secret, token, site_id=site_id, now=now)
    row = repo.add(session, Credential(id=cred_id, tenant_id=site.tenant_id, site_id=site_id, subject_id=None,
                                       type=VISITOR_PASS, lookup=claims.nonce, label=(label or "")[:200] or None,
                                       expires_at=claims.expires_at, created_at=now))
    audit.record(session, "admin", actor=actor, tenant_id=site.tenant_id, now=now,
                 payload={"action": "visitor_pass_issued", "credential_id": row.id, "site_id": site_id,
                          "expires_at": claims.expires_at.isoformat()})
    return row, token


def credential_to_dict(row: Credential) -> dict:
    """What may be shown about a credential: never its hash, tag or value."""
    return {"id": row.id, "type": row.type, "site_id": row.site_id, "subject_id": row.subject_id,
            "label": row.label, "created_at": row.created_at.isoformat(),
            "expires_at": row.expires_at.isoformat() if row.expires_at else None,
            "used_at": row.used_at.isoformat() if row.used_at else None}


def subject_has_face_consent(session: Session, subject_id: str, site_id: str) -> bool:
    return any(c.mode in ("verify", "identify") and (p := repo.purpose_of_site(session, c.purpose_id)) is not None
               and p.site_id == site_id for c in repo.active_consents(session, subject_id))


def revoke_credential(session: Session, *, credential_id: str, actor: str, now: dt.datetime | None = None) -> None:
    """Delete a credential. Refused with E_ALTERNATIVE_REQUIRED when it is the last non-face way in
    of a subject who holds no face consent at that site (R6: nobody is left outside)."""
    now = utc(now)
    row = access_store.credential(session, credential_id)
    if row is None:
        raise not_found("credential", credential_id)
    if row.subject_id is not None:
        others = [c for c in access_store.credentials_of_subject(session, row.subject_id)
                  if c.id != row.id and c.site_id == row.site_id and (c.expires_at is None or c.expires_at > now)]
        if not others and not subject_has_face_consent(session, row.subject_id, row.site_id):
            raise TrustfaceError(E_ALTERNATIVE_REQUIRED,
                                 "this is the resident's only way in (no face consent here); issue another "
                                 "credential first")
    access_store.delete_row(session, row)
    audit.record(session, "admin", actor=actor, tenant_id=row.tenant_id, subject_id=row.subject_id, now=now,
                 payload={"action": "credential_revoked", "credential_id": credential_id, "type": row.type})


def erase_credentials(session: Session, subject_id: str) -> int:
    """Delete every credential of a subject (erasure); the caller writes the certificate."""
    return access_store.delete_credentials_of_subject(session, subject_id)


# --- decisions -----------------------------------------------------------------------------------

def _decide(session: Session, gate: Gate, method: str, *, granted: bool, actor: str, now: dt.datetime,
            subject_id: str | None = None, reason: str | None = None, message: str | None = None,
            credential_id: str | None = None, distance: float | None = None) -> Decision:
    offered = alternatives(gate_methods(gate))
    payload = {"action": "gate_access", "gate_id": gate.id, "site_id": gate.site_id, "method": method,
               "result": "granted" if granted else "denied", "reason": reason}
    if credential_id:
        payload["credential_id"] = credential_id
    seq = audit.record(session, "access", actor=actor, tenant_id=gate.tenant_id, subject_id=subject_id,
                       payload=payload, now=now)
    return Decision(granted, gate.id, method, subject_id, reason, message,
                    [] if granted else offered, seq, distance)


def _why_not(gate: Gate, method: str, now: dt.datetime) -> tuple[str, str] | None:
    """Why the gate refuses ``method`` now, before any credential or face is looked at."""
    if method not in gate_methods(gate):
        return E_METHOD_NOT_OFFERED, f"this gate does not take {method.replace('_', ' ')}; it offers " \
                                     f"{', '.join(gate_methods(gate))}"
    if not gate_is_open(gate, now):
        return E_GATE_CLOSED, "the gate is closed at this time by its schedule"
    return None


def decide_credential(session: Session, secret: bytes, *, gate_id: str, method: str, value: str, actor: str,
                      now: dt.datetime | None = None) -> Decision:
    """A PIN, card or QR attempt at a gate. Wrong, expired or spent credentials are denied decisions
    (not errors) so the kiosk can show them; a malformed request raises E_INVALID_ARGUMENT."""
    now = utc(now)
    gate = get_gate(session, gate_id)
    if method not in METHODS or method == FACE:
        raise invalid(f"method must be one of {', '.join(m for m in METHODS if m != FACE)}")
    if not isinstance(value, str) or not value or len(value) > 2000:
        raise invalid("send the PIN, card number or QR code in `value`")
    # a QR code may be a resident's or a visitor pass: which method it is shows once it is read
    qr_like = method in ("qr", VISITOR_PASS)
    refusal = _why_not(gate, method, now)
    if qr_like and refusal is not None and refusal[0] == E_METHOD_NOT_OFFERED:
        refusal = _why_not(gate, next(m for m in gate_methods(gate)), now)  # only the schedule counts yet
    if refusal is not None:
        return _decide(session, gate, method, granted=False, actor=actor, now=now, reason=refusal[0],
                       message=refusal[1])
    row, failure = None, (E_CREDENTIAL_INVALID, f"the {method.replace('_', ' ')} is not valid at this gate")
    if method == "pin":
        row = access_store.credential_by_lookup(session, gate.site_id, "pin", _pin_tag(secret, gate.site_id, value))
        if row is not None and not creds.verify_pin(row.secret_hash or "", value):
            row = None
    elif method == "card":
        try:
            row = access_store.credential_by_lookup(session, gate.site_id, "card", creds.card_digest(secret, value))
        except TrustfaceError:
            row = None
    else:  # a resident's QR code or a visitor pass: the signed claims say which
        try:
            claims = creds.read_qr(secret, value, site_id=gate.site_id, now=now)
        except TrustfaceError as exc:
            claims, failure = None, (exc.code, exc.message)
        if claims is not None:
            method = VISITOR_PASS if claims.single_use else "qr"
            refusal = _why_not(gate, method, now)
            if refusal is not None:
                return _decide(session, gate, method, granted=False, actor=actor, now=now, reason=refusal[0],
                               message=refusal[1])
            row = access_store.credential_by_lookup(session, gate.site_id, method, claims.nonce)
            if row is not None and row.id != claims.holder:
                row = None
            if row is not None and row.used_at is not None:
                row, failure = None, (E_CREDENTIAL_INVALID, "this visitor pass was already used")
    if row is not None and row.expires_at is not None and now >= row.expires_at:
        row, failure = None, (E_CREDENTIAL_EXPIRED, "the credential has expired")
    if row is None:
        return _decide(session, gate, method, granted=False, actor=actor, now=now, reason=failure[0],
                       message=failure[1])
    if row.type == VISITOR_PASS:
        row.used_at = now
    return _decide(session, gate, method, granted=True, actor=actor, now=now, subject_id=row.subject_id,
                   credential_id=row.id)


def decide_face(session: Session, gallery, *, gate_id: str, image, actor: str, now: dt.datetime | None = None,
                liveness_passed: bool = False) -> Decision:
    """A face at a gate: the policy gate grants 1:N identify for the gate's purpose, the gallery
    searches the consented subjects only, and a refusal or a miss offers the other methods.

    A bad upload (not an image, too large) raises E_IMAGE_INVALID / E_IMAGE_TOO_LARGE; a frame with
    no face is a denied decision (E_NO_FACE) so a kiosk can keep trying. At a gate that requires
    liveness, only :func:`trustface.liveness.service.check_burst` (``liveness_passed=True``) gets past
    E_LIVENESS_REQUIRED."""
    from trustface import imaging
    from trustface.liveness import service as liveness

    now = utc(now)
    gate = get_gate(session, gate_id)
    refusal = _why_not(gate, FACE, now)
    if refusal is None and gate.liveness == "required" and not liveness_passed:
        refusal = (E_LIVENESS_REQUIRED, "this gate needs the liveness challenge: ask "
                                        f"POST /v1/gates/{gate.id}/liveness/challenge, then send the frame burst")
    if refusal is not None:
        return _decide(session, gate, FACE, granted=False, actor=actor, now=now, reason=refusal[0], message=refusal[1])
    pixels = image if not isinstance(image, (bytes, bytearray, str)) else imaging.load_image(image)
    # liveness: a frame already used at this gate, or a blocklisted one, is refused before any face work
    screen = liveness.screen_frame(session, gate, image, pixels, now=now)
    if screen.refused:
        return _decide(session, gate, FACE, granted=False, actor=actor, now=now, reason=screen.code,
                       message=screen.message)
    grant = policy_gate.authorize(session, tenant_id=gate.tenant_id, site_id=gate.site_id, purpose=gate.purpose,
                                  mode=IDENTIFY, location_id=gate.location_id, actor=actor, now=now)
    if isinstance(grant, policy_gate.Denial):
        return _decide(session, gate, FACE, granted=False, actor=actor, now=now, reason=grant.code,
                       message=grant.message)
    try:
        result = gallery.identify(session, grant, pixels, actor=actor, now=now)
    except TrustfaceError as exc:
        if exc.code in (E_INVALID_ARGUMENT,):
            raise
        return _decide(session, gate, FACE, granted=False, actor=actor, now=now, reason=exc.code, message=exc.message)
    if result.unknown:
        return _decide(session, gate, FACE, granted=False, actor=actor, now=now, reason=E_NO_MATCH,
                       message="no enrolled resident matched; use another way in")
    best = result.candidates[0]
    screen.remember()  # this frame opened the gate: the same frame cannot open it again
    return _decide(session, gate, FACE, granted=True, actor=actor, now=now, subject_id=best.subject_id,
                   distance=best.distance)
