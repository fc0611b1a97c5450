"""Persistence: the database backends, migrations and the repositories.

The domain sees only :mod:`server.storage.protocols`; SQL lives in the repository
modules. Two backends, one suite of tests: SQLite (embedded default) and PostgreSQL.
"""
