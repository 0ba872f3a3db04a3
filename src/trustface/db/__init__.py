"""Storage: SQLAlchemy models, engines/sessions, Alembic migrations, repository functions.

This package is the only place with SQL or ORM queries (ARCHITECTURE). Other rooms call
:mod:`trustface.db.repo` (domain) and :mod:`trustface.db.audit_store` (audit chain).
"""
