"""Backup and restore of the database, for both backends.

- SQLite: SQLite's online backup API copies a consistent snapshot page by page while
  the server keeps serving (WAL readers and the writer are not blocked for long).
  Restoring copies the backup into a data folder that has no database yet, after
  checking the backup's integrity.
- PostgreSQL: ``pg_dump --format=custom`` of the configured schema (or the whole
  database) and ``pg_restore`` into an empty database. Connection details are passed
  to the tools through libpq's environment variables, never on their command line,
  so a password does not show in the process list.

Neither backup contains the server keys: they live outside the database on purpose (a
stolen backup alone opens nothing), so the operator keeps the key file or the
``WITNESSLINK_SECRET_KEY`` value safely beside, not inside, the backup.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit


class BackupError(Exception):
    """A backup or restore could not be made; the message says why (no secrets)."""


def sqlite_path(database_url: str) -> Path:
    return Path(database_url.removeprefix("sqlite:///"))


def backup(database_url: str, target: Path, *, schema: str | None = None) -> None:
    """Write a backup of the configured database to ``target`` (which must not exist).

    Blocking: meant for the admin command, not the server's event loop.

    Raises:
        BackupError: the target exists, or the tool failed.
    """
    if target.exists():
        raise BackupError(f"{target} exists already; choose a new file")
    target.parent.mkdir(parents=True, exist_ok=True)
    if database_url.startswith("sqlite:///"):
        _sqlite_backup(sqlite_path(database_url), target)
    else:
        command = ["pg_dump", "--format=custom", "--no-owner", f"--file={target}"]
        if schema:
            command.append(f"--schema={schema}")
        _run_pg_tool(command, database_url)


def restore(source: Path, database_url: str) -> None:
    """Restore a backup made by :func:`backup` into an empty database.

    Raises:
        BackupError: the target already holds a database, the backup is damaged, or the
            tool failed.
    """
    if not source.is_file():
        raise BackupError(f"{source} is not a backup file")
    if database_url.startswith("sqlite:///"):
        _sqlite_restore(source, sqlite_path(database_url))
    else:
        # pg_restore needs the database named on its command line (not a secret); the
        # rest of the connection, password included, still comes from the environment.
        database = libpq_environment(database_url).get("PGDATABASE", "")
        _run_pg_tool(
            [
                "pg_restore",
                f"--dbname={database}",
                "--no-owner",
                "--exit-on-error",
                "--single-transaction",
                str(source),
            ],
            database_url,
        )


def _sqlite_backup(source: Path, target: Path) -> None:
    if not source.exists():
        raise BackupError("the configured SQLite database does not exist")
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        # A few pages at a time, so the server's writer is never held up for long.
        src.backup(dst, pages=1024)
    finally:
        dst.close()
        src.close()
    os.chmod(target, 0o600)


def _sqlite_restore(source: Path, target: Path) -> None:
    if target.exists():
        raise BackupError("the target data folder already has a database; restore into a new one")
    check = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        verdict = check.execute("PRAGMA integrity_check").fetchone()
    except sqlite3.DatabaseError:
        verdict = None
    finally:
        check.close()
    if verdict is None or verdict[0] != "ok":
        raise BackupError("the backup fails SQLite's integrity check")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".restoring")
    shutil.copyfile(source, partial)
    os.chmod(partial, 0o600)
    partial.replace(target)


def libpq_environment(dsn: str) -> dict[str, str]:
    """libpq variables (``PGHOST``…) for a ``postgresql://`` URL, so the tools get the
    connection without the password appearing in their arguments."""
    parts = urlsplit(dsn)
    env = {
        "PGHOST": parts.hostname or "",
        "PGPORT": str(parts.port or ""),
        "PGUSER": unquote(parts.username or ""),
        "PGPASSWORD": unquote(parts.password or ""),
        "PGDATABASE": unquote(parts.path.lstrip("/")),
        "PGSSLMODE": parse_qs(parts.query).get("sslmode", [""])[0],
    }
    return {name: value for name, value in env.items() if value}


def _run_pg_tool(command: list[str], dsn: str) -> None:
    if shutil.which(command[0]) is None:
        raise BackupError(f"{command[0]} is not installed (install the PostgreSQL client tools)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(libpq_environment(dsn))
    # The program is one of two fixed names; the arguments are paths and flags.
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        # The tools' own messages name objects, not data; they never echo the password.
        raise BackupError(f"{command[0]} failed: {result.stderr.strip()[-500:]}")
