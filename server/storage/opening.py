"""Open the configured database and bring its schema up to date."""

from __future__ import annotations

from pathlib import Path

from server.clock import Clock
from server.storage.database import Database
from server.storage.migrations import migrate
from server.storage.postgres import PostgresDatabase
from server.storage.sqlite import SqliteDatabase


async def open_database(
    database_url: str, clock: Clock, *, schema: str | None = None, run_migrations: bool = True
) -> Database:
    """Open ``sqlite:///path`` or ``postgresql://...``; migrate unless told not to.

    Raises:
        ValueError: for an unsupported URL scheme.
    """
    db: Database
    if database_url.startswith("sqlite:///"):
        db = await SqliteDatabase.open(Path(database_url.removeprefix("sqlite:///")))
    elif database_url.startswith(("postgresql://", "postgres://")):
        db = await PostgresDatabase.open(database_url, schema=schema)
    else:
        raise ValueError("database URL must start with sqlite:/// or postgresql://")
    if run_migrations:
        try:
            await migrate(db, clock)
        except BaseException:
            await db.close()
            raise
    return db
