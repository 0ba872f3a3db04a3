"""A hook for records kept outside the database that must be durable before a commit (the
gallery's erasure log): ``before(session)`` runs in the session's ``before_commit``, before the
database commits, and ``dropped(session)`` after a rollback. Registered once per session under
``key`` (later calls do nothing). Kept here because only ``db`` listens to session events."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session


def before_commit(session: Session, key: str, *, before: Callable[[Session], None],
                  dropped: Callable[[Session], None]) -> None:
    if not session.info.get(key):
        session.info[key] = True
        event.listen(session, "before_commit", before)
        event.listen(session, "after_rollback", dropped)
