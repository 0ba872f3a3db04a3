"""Repository functions of the gallery aggregate: tenant and subject keys, protected templates,
kept photos and the per-gallery change counters (ARCHITECTURE: db is the only module with SQL).

Only ciphertext and wrapped keys pass through here; decryption happens in :mod:`trustface.gallery`.
A gallery is named by ``(site_id, purpose_id, mode)``. The start-up rebuild and 1:1 verify read
templates with hand-written SQL on the session's DBAPI connection (:mod:`trustface.db.fast`),
about 10x cheaper per row than the ORM; everything runs in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from trustface.db.fast import Raw
from trustface.db.gallery_models import GalleryImage, GalleryState, GallerySubjectKey, GalleryTemplate, GalleryTenantKey
from trustface.db.session import mark_domain_changed

GalleryKey = tuple[str, str, str]
"""(site_id, purpose_id, mode) of one gallery."""

_templates = cast(Table, GalleryTemplate.__table__)
_subject_keys = cast(Table, GallerySubjectKey.__table__)
_state = cast(Table, GalleryState.__table__)


class TemplateRow(NamedTuple):
    """One stored template with its subject's wrapped data key (None when the key is gone)."""

    id: int
    template_id: str
    tenant_id: str
    site_id: str
    purpose_id: str
    mode: str
    subject_id: str
    key_version: int
    model_version: str
    ciphertext: bytes
    wrapped_key: bytes | None
    subject_key_version: int | None


_TEMPLATE_COLUMNS = (
    "t.id, t.template_id, t.tenant_id, t.site_id, t.purpose_id, t.mode, t.subject_id, t.key_version, "
    "t.model_version, t.ciphertext, k.wrapped_key, k.key_version"
)
_TEMPLATES_WITH_KEYS = (f"SELECT {_TEMPLATE_COLUMNS} FROM gallery_templates t "
                        "LEFT OUTER JOIN gallery_subject_keys k ON k.subject_id = t.subject_id")


def _template_rows(rows: Sequence[Sequence[Any]]) -> list[TemplateRow]:
    return [TemplateRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], bytes(r[9]),
                        None if r[10] is None else bytes(r[10]), r[11]) for r in rows]


def _gallery_keys(rows: Sequence[Sequence[Any]]) -> list[GalleryKey]:
    return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]


# --- keys -----------------------------------------------------------------------------------------

def tenant_key(session: Session, tenant_id: str, *, for_update: bool = False) -> GalleryTenantKey | None:
    """The tenant's template-key version row (nothing secret is stored in it)."""
    stmt = select(GalleryTenantKey).where(GalleryTenantKey.tenant_id == tenant_id)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def add_tenant_key(session: Session, tenant_id: str, *, version: int, kek_check: str,
                   now: dt.datetime) -> GalleryTenantKey:
    row = GalleryTenantKey(tenant_id=tenant_id, version=version, rotated_at=now, kek_check=kek_check)
    session.add(row)
    session.flush()
    return row


def set_tenant_key_version(session: Session, row: GalleryTenantKey, *, version: int, kek_check: str,
                           now: dt.datetime) -> None:
    """Move the tenant to a new key version (key rotation)."""
    row.version, row.kek_check, row.rotated_at = version, kek_check, now
    session.flush()


def tenants(session: Session) -> list[str]:
    """Tenants that have template keys."""
    return list(session.scalars(select(GalleryTenantKey.tenant_id).order_by(GalleryTenantKey.tenant_id)))


def subject_key(session: Session, subject_id: str) -> GallerySubjectKey | None:
    return session.get(GallerySubjectKey, subject_id)


def add_subject_key(session: Session, subject_id: str, *, tenant_id: str, key_version: int, wrapped_key: bytes,
                    now: dt.datetime) -> GallerySubjectKey:
    row = GallerySubjectKey(subject_id=subject_id, tenant_id=tenant_id, key_version=key_version,
                            wrapped_key=wrapped_key, created_at=now)
    session.add(row)
    session.flush()
    return row


def set_subject_key(row: GallerySubjectKey, *, wrapped_key: bytes, key_version: int) -> None:
    """Give the subject a new wrapped data key (key rotation; written at the session's next flush)."""
    row.wrapped_key, row.key_version = wrapped_key, key_version


def subject_keys_of_tenant(session: Session, tenant_id: str) -> list[GallerySubjectKey]:
    return list(session.scalars(select(GallerySubjectKey).where(GallerySubjectKey.tenant_id == tenant_id)
                                .order_by(GallerySubjectKey.subject_id)))


def delete_subject_key(session: Session, subject_id: str) -> bool:
    """Delete (SQLite: overwrite) the subject's wrapped data key: crypto-shreds every copy of its
    templates and kept photos (R14). True when a key existed."""
    secure_delete(session)
    key = session.get(GallerySubjectKey, subject_id)
    if key is not None:
        session.delete(key)
        session.flush()
    result = session.connection().execute(_subject_keys.delete().where(_subject_keys.c.subject_id == subject_id))
    mark_domain_changed(session)
    return key is not None or bool(result.rowcount)


# --- templates ------------------------------------------------------------------------------------

def add_templates(session: Session, rows: Sequence[GalleryTemplate]) -> None:
    """Insert sealed templates; their ``id`` (the index vector id) is set on return."""
    session.add_all(rows)
    session.flush()


def templates_of_subject(session: Session, subject_id: str, *, purpose_id: str | None = None,
                         mode: str | None = None, site_id: str | None = None) -> list[TemplateRow]:
    """The subject's template rows with the subject's wrapped key (for 1:1 verify and erasure)."""
    sql = _TEMPLATES_WITH_KEYS + " WHERE t.subject_id = :subject_id"
    params: dict[str, Any] = {"subject_id": subject_id}
    for col, value in (("purpose_id", purpose_id), ("mode", mode), ("site_id", site_id)):
        if value is not None:
            sql += f" AND t.{col} = :{col}"
            params[col] = value
    return _template_rows(Raw.of(session).all(sql + " ORDER BY t.id", params))


def templates_by_ids(session: Session, ids: Sequence[int]) -> list[TemplateRow]:
    if not ids:
        return []
    t, k = _templates.c, _subject_keys.c
    stmt = (select(t.id, t.template_id, t.tenant_id, t.site_id, t.purpose_id, t.mode, t.subject_id, t.key_version,
                   t.model_version, t.ciphertext, k.wrapped_key, k.key_version)
            .select_from(_templates.outerjoin(_subject_keys, k.subject_id == t.subject_id))
            .where(t.id.in_(list(ids))).order_by(t.id))
    return _template_rows(session.connection().execute(stmt).all())


def iter_templates(session: Session, site_id: str, purpose_id: str, mode: str, *,
                   batch: int = 20_000) -> Iterator[list[TemplateRow]]:
    """Every template row of one gallery with its subject's wrapped key, streamed in batches of
    ``batch`` rows (the start-up rebuild of the search index)."""
    cur = Raw.of(session).execute(_TEMPLATES_WITH_KEYS + " WHERE t.site_id = :site_id AND t.purpose_id = :purpose_id "
                                  "AND t.mode = :mode", {"site_id": site_id, "purpose_id": purpose_id, "mode": mode})
    while True:
        rows = cur.fetchmany(batch)
        if not rows:
            break
        yield _template_rows(rows)


def template_ids(session: Session, site_id: str, purpose_id: str, mode: str) -> list[int]:
    """Row ids (index vector ids) of one gallery's templates."""
    rows = Raw.of(session).all("SELECT id FROM gallery_templates WHERE site_id = :site_id AND "
                               "purpose_id = :purpose_id AND mode = :mode",
                               {"site_id": site_id, "purpose_id": purpose_id, "mode": mode})
    return [int(r[0]) for r in rows]


def existing_template_ids(session: Session, ids: Sequence[int]) -> set[int]:
    if not ids:
        return set()
    stmt = select(_templates.c.id).where(_templates.c.id.in_(list(ids)))
    return {int(i) for i in session.connection().execute(stmt).scalars()}


def count_templates(session: Session, subject_id: str) -> int:
    stmt = select(func.count()).select_from(_templates).where(_templates.c.subject_id == subject_id)
    return int(session.connection().execute(stmt).scalar() or 0)


def update_template(session: Session, row_id: int, *, ciphertext: bytes, key_version: int) -> None:
    session.connection().execute(_templates.update().where(_templates.c.id == row_id)
                                 .values(ciphertext=ciphertext, key_version=key_version))
    mark_domain_changed(session)


def delete_templates(session: Session, ids: Sequence[int]) -> int:
    """Delete (SQLite: overwrite) template rows by id; returns how many went."""
    if not ids:
        return 0
    secure_delete(session)
    result = session.connection().execute(_templates.delete().where(_templates.c.id.in_(list(ids))))
    mark_domain_changed(session)
    return int(result.rowcount or 0)


# --- galleries ------------------------------------------------------------------------------------

def all_galleries(session: Session) -> list[GalleryKey]:
    """Every gallery that holds templates, sorted."""
    stmt = select(_templates.c.site_id, _templates.c.purpose_id, _templates.c.mode).distinct()
    return sorted(_gallery_keys(session.connection().execute(stmt).all()))


def galleries_of_tenant(session: Session, tenant_id: str) -> list[GalleryKey]:
    """Every gallery of the tenant that holds templates."""
    stmt = (select(_templates.c.site_id, _templates.c.purpose_id, _templates.c.mode)
            .where(_templates.c.tenant_id == tenant_id).distinct())
    return _gallery_keys(session.connection().execute(stmt).all())


def galleries_of_subject(session: Session, subject_id: str, purpose_id: str | None = None,
                         mode: str | None = None) -> list[GalleryKey]:
    stmt = (select(_templates.c.site_id, _templates.c.purpose_id, _templates.c.mode)
            .where(_templates.c.subject_id == subject_id).distinct())
    if purpose_id is not None:
        stmt = stmt.where(_templates.c.purpose_id == purpose_id)
    if mode is not None:
        stmt = stmt.where(_templates.c.mode == mode)
    return _gallery_keys(session.connection().execute(stmt).all())


def bump_generation(session: Session, site_id: str, purpose_id: str, mode: str) -> int:
    """Increment the gallery's change counter (creating it) and return the new value; the caller
    holds the audit head lock, so writers are serialised and the value is exact."""
    conn = session.connection()
    where = (_state.c.site_id == site_id) & (_state.c.purpose_id == purpose_id) & (_state.c.mode == mode)
    if conn.execute(_state.update().where(where).values(generation=_state.c.generation + 1)).rowcount == 0:
        conn.execute(_state.insert().values(site_id=site_id, purpose_id=purpose_id, mode=mode, generation=1))
    mark_domain_changed(session)
    return int(conn.execute(select(_state.c.generation).where(where)).scalar() or 0)


def generation(session: Session, site_id: str, purpose_id: str, mode: str) -> tuple[int, int | None]:
    """(gallery change counter, tenant key version) in one round trip; (0, None) when unknown."""
    r = Raw.of(session).one(
        "SELECT (SELECT generation FROM gallery_state WHERE site_id = :site_id AND purpose_id = :purpose_id "
        "AND mode = :mode), (SELECT k.version FROM gallery_tenant_keys k JOIN sites s ON s.tenant_id = k.tenant_id "
        "WHERE s.id = :site_id)", {"site_id": site_id, "purpose_id": purpose_id, "mode": mode})
    return (int(r[0] or 0), None if r[1] is None else int(r[1]))


# --- kept photos (R9) -----------------------------------------------------------------------------

def add_images(session: Session, rows: Sequence[GalleryImage]) -> None:
    session.add_all(rows)
    session.flush()


def images_of_subject(session: Session, subject_id: str, purpose_id: str | None = None) -> list[GalleryImage]:
    """The subject's kept photos (for one purpose, or all), oldest first."""
    stmt = select(GalleryImage).where(GalleryImage.subject_id == subject_id)
    if purpose_id is not None:
        stmt = stmt.where(GalleryImage.purpose_id == purpose_id)
    return list(session.scalars(stmt.order_by(GalleryImage.created_at, GalleryImage.image_id)))


def image_purposes(session: Session, subject_id: str) -> list[str]:
    """The purposes under which photos of the subject are kept (no ciphertext is read)."""
    return list(session.scalars(select(GalleryImage.purpose_id).where(GalleryImage.subject_id == subject_id)
                                .distinct()))


def set_image_ciphertext(row: GalleryImage, *, ciphertext: bytes, key_version: int) -> None:
    """Store a kept photo sealed again (key rotation; written at the session's next flush)."""
    row.ciphertext, row.key_version = ciphertext, key_version


def count_images(session: Session, subject_id: str) -> int:
    stmt = select(func.count()).select_from(GalleryImage).where(GalleryImage.subject_id == subject_id)
    return int(session.scalar(stmt) or 0)


def delete_images(session: Session, subject_id: str, purpose_id: str | None = None) -> int:
    """Delete (SQLite: overwrite) a subject's kept photos, for one purpose or all; returns how many."""
    rows = images_of_subject(session, subject_id, purpose_id)
    if rows:
        secure_delete(session)
        for row in rows:
            session.delete(row)
        session.flush()
        mark_domain_changed(session)
    return len(rows)


# --- erasing for real -----------------------------------------------------------------------------

def secure_delete(session: Session) -> None:
    """SQLite: overwrite deleted content with zeros (the erased ciphertext and wrapped keys leave
    the file, not just the b-tree). PostgreSQL relies on crypto-shredding plus VACUUM."""
    raw = Raw.of(session)
    if raw.sqlite:
        raw.execute("PRAGMA secure_delete = ON", {})


def checkpoint_wal(session: Session) -> None:
    """After an erasure on SQLite, move the WAL into the database file and truncate it, so the
    old page images (ciphertext, wrapped key) do not linger in ``-wal``; ``secure_delete`` has
    already zeroed them in the new pages. Best effort: a long reader elsewhere can delay it.
    Runs outside a transaction (after the commit), on a pooled connection of its own."""
    engine = session.get_bind().engine
    if engine.dialect.name != "sqlite":
        return
    raw = engine.raw_connection()
    try:
        if raw.driver_connection is not None:
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()
