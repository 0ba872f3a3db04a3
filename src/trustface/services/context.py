"""What every use case needs: the opened deployment, its gallery, the validated settings, the
credential key and a clock, in one frozen :class:`Context`.

The transaction rule (docs/architecture.md): a service function decodes, detects, describes and
runs liveness *before* it opens a transaction; :meth:`Context.tx` then holds only storage work
(authorize, search bookkeeping, decide, audit), so no request holds a database lock while it
computes. A policy refusal is committed (its audit event stands) before the refusal is raised.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from trustface import audit
from trustface.access.keys import Principal
from trustface.config import Settings

if TYPE_CHECKING:
    from trustface.deployment import Deployment
    from trustface.gallery import Gallery


def local_caller(actor: str = "admin:local") -> Principal:
    """The caller a local program acts as: the deployment administrator, named ``actor`` in the audit trail."""
    return cli_principal(actor)


def open_deployment(directory: str | Path | None = None, *, database_url: str | None = None) -> Context:
    """Open the deployment in ``directory`` (else ``$TRUSTFACE_DIR``, else ``./trustface-data``) as
    the :class:`Context` every use case takes; its gallery indexes are built now. Close it with
    ``ctx.deployment.close()``."""
    from trustface.deployment import Deployment

    return Context.open(Deployment(directory, database_url=database_url))


def cli_principal(actor: str = "admin:cli") -> Principal:
    """The caller a local command runs as: the deployment administrator (whoever can read the key
    file and the database owns the deployment), named ``actor`` in the audit trail."""
    return Principal(key_id="local", role="admin", tenant_id=None, actor_name=actor)


@dataclass(frozen=True)
class Context:
    """One per process (API app, CLI command, benchmark): immutable once built."""

    deployment: Deployment
    gallery: Gallery
    settings: Settings
    credential_secret: bytes
    clock: Callable[[], dt.datetime] = field(default=audit.utcnow)

    @classmethod
    def open(cls, deployment: Deployment, gallery: Gallery | None = None, *, preload: bool = True,
             clock: Callable[[], dt.datetime] | None = None) -> Context:
        """A context for an opened deployment. The gallery's search indexes are built now
        (``preload``, what a server wants) or at a site's first search (what a one-shot command wants)."""
        from trustface.access.service import credential_key
        from trustface.gallery import Gallery

        if gallery is None:
            gallery = Gallery.open(deployment) if preload else Gallery(deployment)
        return cls(deployment=deployment, gallery=gallery,
                   settings=deployment.settings, credential_secret=credential_key(deployment.keys.tenant_kek_seed),
                   clock=clock or audit.utcnow)

    def now(self) -> dt.datetime:
        return self.clock()

    @property
    def grant_ttl(self) -> dt.timedelta:
        return self.settings.grant_ttl

    @contextmanager
    def tx(self) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back on any error."""
        with self.deployment.transaction() as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reads: closed at the end without committing anything. Rows read here stay
        usable afterwards as detached snapshots (closing does not expire them)."""
        session = self.deployment.read_session()
        try:
            yield session
        finally:
            session.close()
