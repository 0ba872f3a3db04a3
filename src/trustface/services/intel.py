"""Attack intelligence, one place for every door: this deployment's detections as a STIX 2.1
bundle, another deployment's indicators onto the blocklist, TAXII 2.1 sync, and the blocklist.
The blocklist serves every tenant, so all of it is the deployment administrator's.

Transaction rule: an export reads the detections and records its ``export`` event in one
transaction; an import adds the indicators (and its event) in one. A TAXII sync pushes, pulls
and imports inside one transaction, as :func:`trustface.intel.taxii.sync` does (its network
calls hold that transaction open: bounded by the client's timeouts). Listing only reads.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from trustface.access.codes import E_FORBIDDEN
from trustface.access.keys import Principal
from trustface.errors import TrustfaceError
from trustface.services.context import Context


@dataclass(frozen=True)
class Indicator:
    """One blocklist entry: ``value`` is a hash, never a frame or a face."""

    kind: str
    value: str
    species: str
    source: str
    count: int
    first_seen: dt.datetime
    last_seen: dt.datetime
    valid_until: dt.datetime | None


def _deployment_admin(who: Principal) -> None:
    who.require("tenants:write")
    if not who.is_root:
        raise TrustfaceError(E_FORBIDDEN, "the attack blocklist serves every tenant: the deployment administrator's")


def export_indicators(ctx: Context, who: Principal) -> Any:
    """This deployment's attack detections as a STIX 2.1 bundle (never a face, a template or a
    subject id); the export is an audit event."""
    from trustface.intel import stix

    _deployment_admin(who)
    with ctx.tx() as s:
        return stix.export_bundle(s, stix.identity_key_of(ctx.deployment), actor=who.actor, now=ctx.now())


def import_indicators(ctx: Context, who: Principal, data: bytes) -> dict[str, Any]:
    """Put a STIX 2.1 bundle's indicators on the blocklist at once: counts added, known, skipped."""
    from trustface.intel import stix

    _deployment_admin(who)
    with ctx.tx() as s:
        result: dict[str, Any] = stix.import_bundle(s, data, stix.identity_key_of(ctx.deployment), actor=who.actor,
                                                    now=ctx.now())
        return result


def sync_taxii(ctx: Context, who: Principal, *, api_root: str, collection: str, user: str | None = None,
               password: str | None = None, push_local: bool = True) -> dict[str, Any]:
    """Push this deployment's detections to a TAXII 2.1 collection, then pull and import the rest."""
    from trustface.intel import stix, taxii

    _deployment_admin(who)
    with ctx.tx() as s:
        result: dict[str, Any] = taxii.sync(s, stix.identity_key_of(ctx.deployment), api_root=api_root,
                                            collection_id=collection, actor=who.actor, user=user, password=password,
                                            push_local=push_local, now=ctx.now())
        return result


def blocklist(ctx: Context, who: Principal) -> tuple[Indicator, ...]:
    """The blocklist: kind, species, where it came from, how often it was seen."""
    from trustface.liveness import service as liveness

    _deployment_admin(who)
    with ctx.read() as s:
        return tuple(Indicator(r.kind, r.value, r.species, r.source, r.count, r.first_seen, r.last_seen, r.valid_until)
                     for r in liveness.blocklist(s))
