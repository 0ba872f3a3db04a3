"""The search indexes of the identify galleries, kept in step with the encrypted store.

One in-memory :class:`~trustface.gallery.index.VectorIndex` per gallery (site x purpose x mode),
built from the decrypted templates. Every transaction that adds or removes templates bumps the
gallery's change counter (``gallery_state.generation``) and notes the change in the session; after
the commit, the open indexes of this process apply it (:func:`note_change`). An index whose
generation differs from the store's (another process wrote) is resynchronised on its next search,
and one built under another tenant key version is rebuilt. A rollback forgets the notes, so an
index never holds a vector the store does not (R14: an erased template leaves the index at commit).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from trustface.db import gallery_store, repo
from trustface.db.gallery_store import GalleryKey, TemplateRow
from trustface.db.session import on_transaction_end
from trustface.gallery import protection
from trustface.gallery.codes import TemplateIntegrityError
from trustface.gallery.index import EXACT_LIMIT, RERANK, VectorIndex
from trustface.gallery.keys import KeyRing, template_aad, tenant_key, unwrap_template_key
from trustface.policy._common import utc
from trustface.policy.vocab import IDENTIFY

_PENDING = "_tf_gallery_tx"         # pending index changes of the session's transaction
_LISTENING = "_tf_gallery_listening"
_SHRED = "_tf_gallery_shred"        # the transaction erased templates or keys

RowIds = npt.NDArray[np.int64]
#: a template that failed authentication: template_id, subject_id, error and gallery ("site/purpose/mode")
IntegrityFailure = dict[str, str]


@dataclass(frozen=True)
class Added:
    """Templates written in a transaction: row ids (n,), protected vectors (n, 128) float32, the
    subject of each, and the tenant key version they are protected under."""

    ids: RowIds
    vectors: protection.Vectors
    subjects: list[str]
    key_version: int


@dataclass
class PendingChange:
    """What one transaction did to one gallery: the generation it started from (None when another
    writer's change came first), the one it ends at, and the removals/additions in order."""

    base: int | None
    new: int = 0
    ops: list[RowIds | Added] = field(default_factory=list)


# --- notes made in the transaction, applied after its commit ------------------------------------------

def _pending(session: Session) -> dict[GalleryKey, PendingChange]:
    on_transaction_end(session, _LISTENING, committed=_apply_after_commit, rolled_back=_forget)
    pending: dict[GalleryKey, PendingChange] = session.info.setdefault(_PENDING, {})
    return pending


def note_change(session: Session, key: GalleryKey, *, add: Added | None = None,
                remove: Sequence[int] | None = None) -> int:
    """Bump the gallery's change counter in this transaction and remember what changed, so the
    open indexes of this process follow after the commit (other processes resynchronise).
    Returns the new generation."""
    pending = _pending(session)
    entry = pending.get(key)
    if entry is None:
        entry = pending[key] = PendingChange(base=gallery_store.generation(session, *key)[0])
    entry.new = gallery_store.bump_generation(session, *key)
    if remove is not None and len(remove):
        entry.ops.append(np.asarray(remove, dtype=np.int64))
    if add is not None:
        entry.ops.append(add)
    return entry.new


def note_shredded(session: Session) -> None:
    """The transaction deleted templates, photos or data keys: after the commit, squeeze the old
    page images out of SQLite's write-ahead log (:func:`trustface.db.gallery_store.checkpoint_wal`)."""
    _pending(session)
    session.info[_SHRED] = True


def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_SHRED, None)


def _apply_after_commit(session: Session) -> None:
    pending: dict[GalleryKey, PendingChange] | None = session.info.pop(_PENDING, None)
    if session.info.pop(_SHRED, None):
        gallery_store.checkpoint_wal(session)
    if not pending:
        return
    for indexes in list(_OPEN):
        for key, entry in pending.items():
            indexes.apply(key, entry)


# --- the indexes of one open gallery ----------------------------------------------------------------

@dataclass
class Slot:
    """One gallery's index, the store generation it mirrors and the key version it was built under."""

    index: VectorIndex
    generation: int
    key_version: int | None


class GalleryIndexes:
    """The search indexes of the identify galleries of one open :class:`~trustface.gallery.Gallery`.

    ``exact_limit`` and ``rerank`` are passed to :meth:`VectorIndex.build` (galleries above
    ``exact_limit`` templates are searched approximately, re-ranking ``rerank`` candidates)."""

    def __init__(self, ring: KeyRing, *, exact_limit: int = EXACT_LIMIT, rerank: int = RERANK) -> None:
        self._ring = ring
        self.exact_limit, self.rerank = exact_limit, rerank
        self._slots: dict[GalleryKey, Slot] = {}
        self._lock = threading.RLock()
        #: templates that failed authentication while building indexes
        self.integrity_failures: list[IntegrityFailure] = []
        _OPEN.add(self)

    def rebuild(self, session: Session, galleries: Sequence[GalleryKey] | None = None) -> dict[str, int]:
        """(Re)build the index of every identify gallery (or the given ones); {"site/purpose/mode": size}."""
        if galleries is None:
            galleries = [g for g in gallery_store.all_galleries(session) if g[2] == IDENTIFY]
        return {"/".join(key): len(self._build(session, key).index) for key in galleries}

    def size(self, key: GalleryKey) -> int:
        """Templates in the index of a gallery as last built or synchronised (0 when not built)."""
        slot = self._slots.get(key)
        return 0 if slot is None else len(slot.index)

    def index_for(self, session: Session, key: GalleryKey) -> Slot:
        """The gallery's index, in step with the store as this transaction sees it."""
        generation, key_version = gallery_store.generation(session, *key)
        with self._lock:
            slot = self._slots.get(key)
        if slot is None or slot.key_version != key_version:
            return self._build(session, key)
        if slot.generation != generation:
            self._sync(session, key, slot, generation)
        return slot

    def apply(self, key: GalleryKey, entry: PendingChange) -> None:
        """Apply a committed transaction's change, when the index was at the generation it started from."""
        with self._lock:
            slot = self._slots.get(key)
        if slot is None:
            return
        with slot.index.lock:
            if entry.base is None or slot.generation != entry.base:
                return  # someone else changed it too: the next call resynchronises
            for op in entry.ops:
                if not isinstance(op, Added):
                    slot.index.remove(op)
                elif op.key_version != slot.key_version:
                    return  # added under another key version: leave it stale
                else:
                    slot.index.add(op.ids, op.vectors, op.subjects)
            slot.generation = entry.new

    # --- building --------------------------------------------------------------------------------
    def _decrypt_rows(self, rows: list[TemplateRow], keys: dict[str, bytes], failures: list[IntegrityFailure],
                      ) -> tuple[list[int], protection.Vectors, list[str]]:
        """(row ids, their vectors as one (n, 128) float32 array, subject ids); ``keys`` caches
        unwrapped data keys by subject; templates that fail are named in ``failures`` and skipped."""
        ids: list[int] = []
        plains: list[bytes] = []
        subjects: list[str] = []
        for row in rows:
            try:
                dk = keys.get(row.subject_id)
                if dk is None:
                    if row.subject_key_version != row.key_version:
                        raise TemplateIntegrityError(
                            f"template {row.template_id}: key version {row.key_version} does not match the subject "
                            f"key's version {row.subject_key_version}", template_id=row.template_id,
                            subject_id=row.subject_id)
                    dk = keys[row.subject_id] = unwrap_template_key(row, self._ring.kek(row.tenant_id, row.key_version))
                plain = protection.open_sealed_bytes(row.ciphertext, dk, template_aad(row))
            except TemplateIntegrityError as exc:
                msg = exc.message if exc.template_id else (
                    f"template {row.template_id} of subject {row.subject_id} failed authentication")
                failures.append({"template_id": row.template_id, "subject_id": row.subject_id, "error": msg})
                continue
            ids.append(row.id)
            plains.append(plain)
            subjects.append(row.subject_id)
        return ids, np.frombuffer(b"".join(plains), dtype=np.float32).reshape(-1, protection.DIM), subjects

    def _build(self, session: Session, key: GalleryKey) -> Slot:
        generation, key_version = gallery_store.generation(session, *key)
        site = repo.gate_site(session, key[0])
        if key_version is not None and site is not None:
            tenant_key(session, self._ring, site.tenant_id, utc(None), create=False)
        ids: list[int] = []
        vecs: list[protection.Vectors] = []
        subjects: list[str] = []
        failures: list[IntegrityFailure] = []
        keys: dict[str, bytes] = {}
        for rows in gallery_store.iter_templates(session, *key):
            i, v, s = self._decrypt_rows(rows, keys, failures)
            ids += i
            vecs.append(v)
            subjects += s
        keys.clear()
        matrix = np.concatenate(vecs) if vecs else np.zeros((0, protection.DIM), dtype=np.float32)
        index = VectorIndex.build(np.array(ids, dtype=np.int64), matrix, subjects,
                                  exact_limit=self.exact_limit, rerank=self.rerank)
        del matrix, vecs
        slot = Slot(index, generation, key_version)
        name = "/".join(key)
        with self._lock:
            self._slots[key] = slot
            self.integrity_failures = [f for f in self.integrity_failures if f.get("gallery") != name]
            self.integrity_failures += [{**f, "gallery": name} for f in failures]
        return slot

    def _sync(self, session: Session, key: GalleryKey, slot: Slot, generation: int) -> None:
        """Bring an index in step with the store after changes made by another process."""
        with slot.index.lock:
            stored = np.array(gallery_store.template_ids(session, *key), dtype=np.int64)
            current = slot.index.ids
            gone = current[~np.isin(current, stored)]
            new = stored[~np.isin(stored, current)]
            slot.index.remove(gone)
            if len(new):
                failures: list[IntegrityFailure] = []
                rows = gallery_store.templates_by_ids(session, [int(x) for x in new])
                i, v, s = self._decrypt_rows(rows, {}, failures)
                if i:
                    slot.index.add(np.array(i, dtype=np.int64), v, s)
                self.integrity_failures += [{**f, "gallery": "/".join(key)} for f in failures]
            slot.generation = generation


_OPEN: weakref.WeakSet[GalleryIndexes] = weakref.WeakSet()
