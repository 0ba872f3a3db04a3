"""Storage: SQLAlchemy models, engines/sessions, Alembic migrations, repository functions.

This package is the only place with SQL or ORM queries (ARCHITECTURE). Other rooms call
:mod:`trustface.db.repo` (the policy aggregate: tenants, sites, purposes, notices, subjects, consents,
the gate's reads), :mod:`trustface.db.gallery_store` (keys, templates, kept photos, index counters),
:mod:`trustface.db.audit_store` (audit chain) and the other ``*_store`` modules of their rooms.
"""
