"""The blocklist as STIX 2.1 (the ``stix2`` library), and back.

Objects in an exported bundle:

* ``identity``: the reporting deployment, pseudonymous: ``trustface deployment <12 hex>``, derived by
  HMAC from the deployment's key file, so it is stable for one deployment and says nothing about
  who runs it. ``identity_class`` is ``system``.
* ``attack-pattern``: one per attack species (still replay, session replay, re-captured print,
  digital injection), with the same id in every deployment, referencing ISO/IEC 30107-3.
* ``indicator``: one per local blocklist entry, pattern over
  ``artifact:hashes.'SHA-256'`` (the probe's bytes), ``artifact:hashes.'x_trustface_phash256'`` (the
  256-bit DCT perceptual hash, :mod:`trustface.liveness.phash`), ``user-account:user_id`` (SHA-256 of
  a client id) or ``software:x_trustface_device_sha256`` (SHA-256 of a capture device id); with a
  ``relationship`` ``indicates`` its attack-pattern.
* ``sighting``: of each indicator, with ``count``, ``first_seen``, ``last_seen`` and the identity
  as ``where_sighted_refs``.

Ids are derived (UUIDv5) from the identity and the value, so exporting again updates the same
objects. Only this deployment's own detections are exported (never re-shared intelligence).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import uuid
from typing import Any

from sqlalchemy.orm import Session

from trustface import audit
from trustface.errors import TrustfaceError
from trustface.intel.codes import E_INTEL_INVALID
from trustface.liveness import passive
from trustface.liveness import service as liveness
from trustface.policy._common import utc

#: namespace of trustface's derived STIX ids
NAMESPACE = uuid.UUID("6f1c2b57-3f0e-4f4b-9a57-8a3e5c0d1b2e")
#: created/modified of the objects that never change (identity, attack-patterns)
EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
#: a shared indicator stays valid this long after its last sighting
INDICATOR_TTL = dt.timedelta(days=90)

PATTERNS = {
    "sha256": "[artifact:hashes.'SHA-256' = '{value}']",
    "phash": "[artifact:hashes.'x_trustface_phash256' = '{value}']",
    "client": "[user-account:user_id = '{value}']",
    "device": "[software:x_trustface_device_sha256 = '{value}']",
}
_PARSE = [
    ("sha256", re.compile(r"^\[(?:artifact|file):hashes\.'SHA-256'\s*=\s*'([0-9a-fA-F]{64})'\]$")),
    ("phash", re.compile(r"^\[artifact:hashes\.'x_trustface_phash256'\s*=\s*'([0-9a-f]{64})'\]$")),
    ("client", re.compile(r"^\[user-account:user_id\s*=\s*'([0-9a-f]{64})'\]$")),
    ("device", re.compile(r"^\[software:x_trustface_device_sha256\s*=\s*'([0-9a-f]{64})'\]$")),
]
KIND_NAMES = {"sha256": "probe hash", "phash": "perceptual hash", "client": "client id", "device": "device id"}

#: keys that would mean face data leaked into a bundle (checked before anything is written)
FORBIDDEN_KEYS = frozenset({
    "descriptor", "descriptors", "embedding", "embeddings", "template", "templates", "image", "images", "photo",
    "frame", "frames", "pixels", "landmarks", "encoding", "vector", "features", "subject_id", "subject", "name_of_person",
})


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "|".join(parts)))


def identity(identity_key: bytes):
    """The deployment's pseudonymous STIX identity."""
    import stix2

    digest = hmac.new(identity_key, b"trustface-intel-identity/1", hashlib.sha256).digest()
    ident = uuid.UUID(bytes=digest[:16], version=4)
    return stix2.Identity(id=f"identity--{ident}", created=EPOCH, modified=EPOCH, identity_class="system",
                          name=f"trustface deployment {digest.hex()[:12]}",
                          description="A trustface deployment reporting presentation and injection attacks; "
                                      "pseudonymous by design.")


def attack_pattern(species: str):
    import stix2

    return stix2.AttackPattern(
        id=f"attack-pattern--{_uuid('attack-pattern', species)}", created=EPOCH, modified=EPOCH,
        name=f"Face presentation attack: {species.replace('_', ' ')}",
        description=passive.SPECIES.get(species, species),
        external_references=[{"source_name": "ISO/IEC 30107-3",
                              "description": "Biometric presentation attack detection: attack instrument species"}])


def _species_of(pattern_name: str) -> str:
    prefix = "Face presentation attack: "
    if pattern_name.startswith(prefix):
        return pattern_name[len(prefix):].replace(" ", "_")[:40]
    return re.sub(r"[^a-z0-9_]+", "_", pattern_name.lower())[:40] or "unknown"


def build_bundle(rows, identity_key: bytes, *, now: dt.datetime):
    """STIX 2.1 bundle of local blocklist ``rows`` (LivenessIndicator)."""
    import stix2

    me = identity(identity_key)
    objects: list[Any] = [me]
    patterns = {}
    for row in rows:
        if row.kind not in PATTERNS:
            continue
        if row.species not in patterns:
            patterns[row.species] = attack_pattern(row.species)
            objects.append(patterns[row.species])
        created = utc(row.created_at)
        first, last = utc(row.first_seen), utc(row.last_seen)
        modified = max(created, last)
        valid_until = utc(row.valid_until) if row.valid_until else last + INDICATOR_TTL
        ind = stix2.Indicator(
            id=f"indicator--{_uuid(me.id, row.kind, row.value)}", created_by_ref=me.id, created=created,
            modified=modified, name=f"{row.species.replace('_', ' ')}: {KIND_NAMES[row.kind]}",
            description=f"A {KIND_NAMES[row.kind]} seen in a face presentation or injection attack.",
            indicator_types=["malicious-activity"], pattern=PATTERNS[row.kind].format(value=row.value),
            pattern_type="stix", valid_from=first, valid_until=max(valid_until, first + dt.timedelta(seconds=1)))
        rel = stix2.Relationship(id=f"relationship--{_uuid(ind.id, 'indicates')}", created_by_ref=me.id,
                                 created=created, modified=created, relationship_type="indicates",
                                 source_ref=ind.id, target_ref=patterns[row.species].id)
        sighting = stix2.Sighting(id=f"sighting--{_uuid(ind.id, 'sighting')}", created_by_ref=me.id, created=created,
                                  modified=modified, sighting_of_ref=ind.id, count=int(row.count), first_seen=first,
                                  last_seen=last, where_sighted_refs=[me.id])
        objects.extend([ind, rel, sighting])
    bundle = stix2.Bundle(objects=objects, allow_custom=False)
    assert_no_biometrics(json.loads(bundle.serialize()))
    return bundle


def assert_no_biometrics(value: Any, path: str = "bundle") -> None:
    """Refuse a bundle that could carry face data: forbidden keys, numeric vectors, long blobs."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key.lower() in FORBIDDEN_KEYS:
                raise ValueError(f"{path}.{key}: face data may not be shared")
            assert_no_biometrics(item, f"{path}.{key}")
    elif isinstance(value, list):
        if sum(1 for v in value if isinstance(v, (int, float)) and not isinstance(v, bool)) > 8:
            raise ValueError(f"{path}: numeric vectors may not be shared")
        for i, item in enumerate(value):
            assert_no_biometrics(item, f"{path}[{i}]")
    elif isinstance(value, str):
        if len(value) > 1000:
            raise ValueError(f"{path}: long strings (encoded images?) may not be shared")
        if re.search(r"\bsub_[0-9a-f]{16}\b", value):
            raise ValueError(f"{path}: subject ids may not be shared")


def export_bundle(session: Session, identity_key: bytes, *, actor: str, now: dt.datetime | None = None):
    """The deployment's own detections as a STIX 2.1 bundle; records an ``export`` audit event."""
    now = utc(now)
    rows = liveness.blocklist(session, source="local")
    bundle = build_bundle(rows, identity_key, now=now)
    audit.record(session, "export", actor=actor, now=now,
                 payload={"action": "intel_export", "indicators": len(rows), "bundle_id": bundle.id})
    return bundle


def parse_objects(data) -> list:
    """STIX 2.1 objects from a bundle (JSON text, bytes or dict) or a list of objects; validated
    with ``stix2`` (no custom objects or properties; patterns checked by ``stix2-patterns``)."""
    import stix2
    from stix2.exceptions import STIXError

    try:
        if isinstance(data, (bytes, str)):
            data = json.loads(data)
        if isinstance(data, list):
            data = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": data}
        if not isinstance(data, dict) or data.get("type") != "bundle":
            raise ValueError("not a STIX bundle")
        latest: dict[str, dict] = {}
        for obj in data.get("objects") or []:  # TAXII may answer several versions of one object
            if not isinstance(obj, dict) or "id" not in obj:
                raise ValueError("a bundle object without an id")
            old = latest.get(obj["id"])
            if old is None or str(obj.get("modified", "")) >= str(old.get("modified", "")):
                latest[obj["id"]] = obj
        data = {**data, "objects": list(latest.values())}
        if not data["objects"]:
            return []
        bundle = stix2.parse(data, allow_custom=False, version="2.1")
    except (ValueError, TypeError, STIXError) as exc:
        raise TrustfaceError(E_INTEL_INVALID, f"not a valid STIX 2.1 bundle: {str(exc).splitlines()[0][:200]}") from None
    return list(bundle.objects)


def _pattern_value(pattern: str) -> tuple[str, str] | None:
    for kind, regex in _PARSE:
        m = regex.match(pattern.strip())
        if m:
            value = m.group(1)
            return kind, value.lower() if kind != "phash" else value
    return None


def import_objects(session: Session, objects, identity_key: bytes, *, actor: str, source: str,
                   now: dt.datetime | None = None) -> dict:
    """Put the indicators of ``objects`` on the blocklist at once; records an ``admin`` audit event.

    Indicators this deployment published itself, revoked or expired ones, and patterns trustface
    does not match on are skipped (counted)."""
    now = utc(now)
    me = identity(identity_key).id
    by_id = {o.id: o for o in objects}
    species_of: dict[str, str] = {}
    sightings: dict[str, Any] = {}
    for o in objects:
        if o.type == "relationship" and o.relationship_type == "indicates":
            target = by_id.get(o.target_ref)
            if target is not None and target.type == "attack-pattern":
                species_of[o.source_ref] = _species_of(target.name)
        elif o.type == "sighting":
            sightings[o.sighting_of_ref] = o
    added = known = skipped = 0
    for o in objects:
        if o.type != "indicator":
            continue
        parsed = _pattern_value(o.pattern) if o.pattern_type == "stix" else None
        expired = getattr(o, "valid_until", None) is not None and o.valid_until <= now
        if parsed is None or getattr(o, "revoked", False) or expired or getattr(o, "created_by_ref", None) == me:
            skipped += 1
            continue
        sighting = sightings.get(o.id)
        first = getattr(sighting, "first_seen", None) or o.valid_from
        last = getattr(sighting, "last_seen", None) or o.modified
        new = liveness.import_indicator(
            session, kind=parsed[0], value=parsed[1], species=species_of.get(o.id, "unknown"), stix_id=o.id,
            origin=getattr(o, "created_by_ref", None), count=int(getattr(sighting, "count", 1) or 1),
            first_seen=utc(first), last_seen=utc(max(first, last)),
            valid_until=utc(o.valid_until) if getattr(o, "valid_until", None) else None, now=now)
        added += int(new)
        known += int(not new)
    summary = {"action": "intel_import", "source": source, "added": added, "known": known, "skipped": skipped}
    audit.record(session, "admin", actor=actor, now=now, payload=summary)
    return {k: v for k, v in summary.items() if k != "action"}


def import_bundle(session: Session, data, identity_key: bytes, *, actor: str, source: str = "file",
                  now: dt.datetime | None = None) -> dict:
    return import_objects(session, parse_objects(data), identity_key, actor=actor, source=source, now=now)


def identity_key_of(deployment) -> bytes:
    """The secret the pseudonymous identity is derived from (the deployment's audit key)."""
    return deployment.keys.audit_hmac_key
