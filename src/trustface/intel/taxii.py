"""Push and pull attack indicators through a TAXII 2.1 collection (``taxii2-client``).

``api_root`` is the TAXII API root URL (``https://intel.example/api1/``); the collection URL is
``<api_root>collections/<collection_id>/``. Credentials are HTTP basic auth, as TAXII servers such as
medallion take them. :func:`sync` pushes this deployment's own detections, then pulls everything
in the collection and puts the others' indicators on the blocklist at once.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy.orm import Session

from trustface.errors import TrustfaceError
from trustface.intel import stix
from trustface.intel.codes import E_TAXII_UNAVAILABLE

PAGE = 100


def collection(api_root: str, collection_id: str, *, user: str | None = None, password: str | None = None):
    from taxii2client.v21 import Collection

    root = api_root if api_root.endswith("/") else api_root + "/"
    try:
        return Collection(f"{root}collections/{collection_id}/", user=user, password=password)
    except Exception as exc:  # pragma: no cover - bad URL
        raise TrustfaceError(E_TAXII_UNAVAILABLE, f"bad TAXII collection URL: {exc}") from None


def _fail(exc: Exception) -> TrustfaceError:
    text = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    return TrustfaceError(E_TAXII_UNAVAILABLE, f"TAXII request failed: {text}")


def push(bundle, col) -> dict:
    """Add a bundle's objects to the collection; returns the TAXII status summary."""
    try:
        status = col.add_objects(bundle.serialize() if hasattr(bundle, "serialize") else json.dumps(bundle))
    except TrustfaceError:
        raise
    except Exception as exc:
        raise _fail(exc) from None
    return {"status": getattr(status, "status", None), "success_count": getattr(status, "success_count", None),
            "failure_count": getattr(status, "failure_count", None), "total_count": getattr(status, "total_count", None)}


def pull(col, *, added_after: dt.datetime | None = None) -> list[dict]:
    """Every object of the collection (all pages)."""
    from taxii2client.v21 import as_pages

    objects: list[dict] = []
    kwargs = {"added_after": added_after.isoformat()} if added_after else {}
    try:
        for envelope in as_pages(col.get_objects, per_request=PAGE, **kwargs):
            objects.extend(envelope.get("objects") or [])
    except Exception as exc:
        raise _fail(exc) from None
    return objects


def sync(session: Session, identity_key: bytes, *, api_root: str, collection_id: str, actor: str,
         user: str | None = None, password: str | None = None, push_local: bool = True,
         now: dt.datetime | None = None) -> dict:
    """Push this deployment's detections, then pull and import the collection."""
    col = collection(api_root, collection_id, user=user, password=password)
    out: dict = {}
    if push_local:
        bundle = stix.export_bundle(session, identity_key, actor=actor, now=now)
        out["pushed"] = sum(1 for o in bundle.objects if o.type == "indicator")
        if out["pushed"]:
            out["push_status"] = push(bundle, col)
    objects = pull(col)
    out["pulled_objects"] = len(objects)
    out["imported"] = stix.import_objects(session, stix.parse_objects(objects), identity_key, actor=actor,
                                          source="taxii", now=now)
    return out
