"""Non-face credentials held by residents and visitors: PINs (argon2id), cards (keyed digests), signed
QR codes and single-use visitor passes; the way in that never needs a face (R6).

``secret`` is the deployment's credential key (:func:`credential_key`): it keys the card digests
and PIN lookup tags and signs QR codes, so a copied database alone reveals no credential. Every
function writes its audit event in the caller's transaction; the caller commits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from sqlalchemy.orm import Session

from trustface import audit
from trustface.access import credentials as creds
from trustface.access.codes import E_ALTERNATIVE_REQUIRED, E_CREDENTIAL_CONFLICT
from trustface.db import access_store, repo
from trustface.db.models import Credential, new_id
from trustface.errors import TrustfaceError
from trustface.policy import ledger, sites
from trustface.policy._common import invalid, not_found, utc

#: credential types a subject may hold; a visitor pass has no subject
CREDENTIAL_TYPES = ("pin", "card", "qr")
VISITOR_PASS = "visitor_pass"
QR_VALIDITY = dt.timedelta(days=365)
VISITOR_VALIDITY = dt.timedelta(hours=24)


def pin_tag(secret: bytes, site_id: str, pin: str) -> str:
    """A keyed tag that finds a PIN's row without a scan of argon2 hashes (the hash is still checked)."""
    return hmac.new(secret, f"trustface-pin|{site_id}|{pin}".encode(), hashlib.sha256).hexdigest()


def credential_key(tenant_kek_seed: bytes) -> bytes:
    """The credential key, derived from the deployment's key file (never stored in the database)."""
    return hmac.new(tenant_kek_seed, b"trustface-credentials/1", hashlib.sha256).digest()


def _random_pin(secret: bytes, session: Session, site_id: str) -> tuple[str, str]:
    for _ in range(50):
        pin = f"{secrets.randbelow(10**8):08d}"
        try:
            creds.check_pin(pin)  # the same acceptability rule as a chosen PIN
        except TrustfaceError:
            continue
        tag = pin_tag(secret, site_id, pin)
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
            lookup = pin_tag(secret, site_id, value)
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
