"""Backup and restore, exercised as an operator would, on both backends.

A real server process holds a message for a witness phone that is switched off. The
database is backed up with ``witnesslink admin backup`` while the server runs, the
original is destroyed, and the backup is restored with ``witnesslink admin restore``
into a new place — a new data folder (SQLite) or a new database (PostgreSQL). The
audit chain of the copy is verified with ``witnesslink admin verify-audit``, and a
server started on the copy delivers the queued message to the phone, whose PIN still
opens its store (its sealed seed came through the restore).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from client_sdk import IncomingMessage, WitnessClient
from tests.conftest import create_pg_schema, drop_pg_schema, postgres_dsn
from tests.support.kdf import WITNESS_PIN
from tests.support.processes import admin, enrol_pair, free_port, seed, server_process

QUEUED_TEXT = "we will call you on Thursday"


@dataclass
class Place:
    """Where one copy of the server's data lives: a data folder (with the key file)
    and, for PostgreSQL, the database and schema the environment points at."""

    data_dir: Path
    env: dict[str, str]


def _env(**settings: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("WITNESSLINK_")}
    return base | settings


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def places(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Place, Place]]:
    """The original place and an empty new one on the parametrised backend."""
    if request.param == "sqlite":
        yield Place(tmp_path / "original", _env()), Place(tmp_path / "restored", _env())
        return
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.skip("the PostgreSQL client tools are not installed")
    dsn = postgres_dsn()
    schema = asyncio.run(create_pg_schema(dsn))
    new_db = f"wl_restore_{secrets.token_hex(4)}"
    asyncio.run(_admin_sql(dsn, f"CREATE DATABASE {new_db}"))
    parts = urlsplit(dsn)
    new_dsn = urlunsplit(parts._replace(path=f"/{new_db}"))
    try:
        yield (
            Place(
                tmp_path / "original",
                _env(WITNESSLINK_DATABASE_URL=dsn, WITNESSLINK_POSTGRES_SCHEMA=schema),
            ),
            Place(
                tmp_path / "restored",
                _env(WITNESSLINK_DATABASE_URL=new_dsn, WITNESSLINK_POSTGRES_SCHEMA=schema),
            ),
        )
    finally:
        asyncio.run(drop_pg_schema(dsn, schema))
        asyncio.run(_admin_sql(dsn, f"DROP DATABASE IF EXISTS {new_db} WITH (FORCE)"))


async def _admin_sql(dsn: str, statement: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def _destroy(place: Place) -> None:
    """The original is gone (disk lost, schema dropped): only the backup remains."""
    database_url = place.env.get("WITNESSLINK_DATABASE_URL")
    if database_url is None:
        for path in place.data_dir.glob("witnesslink.db*"):
            path.unlink()
    else:
        asyncio.run(drop_pg_schema(database_url, place.env["WITNESSLINK_POSTGRES_SCHEMA"]))


def _admin_status(place: Place, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", "admin", *args, "--data-dir", str(place.data_dir)],
        capture_output=True,
        text=True,
        check=False,
        env=place.env,
    )


async def _queue_a_message(url: str, tmp: Path, support_id: str) -> None:
    officer, witness, case_id = await enrol_pair(url, tmp, support_id)
    await witness.close()  # the phone is off: the message waits on the server
    sent = await officer.send(QUEUED_TEXT, case_id=case_id)
    assert witness.device_id in sent.recipients
    await officer.close()


async def _phone_receives(store: Path) -> list[str]:
    phone = await WitnessClient.open(store, WITNESS_PIN)
    try:
        await phone.sync()
        return [e.text for e in phone.pending_events() if isinstance(e, IncomingMessage)]
    finally:
        await phone.close()


def test_a_restored_backup_verifies_and_delivers_the_queued_message(
    places: tuple[Place, Place], tmp_path: Path
) -> None:
    original, restored = places
    support_id = seed(original.data_dir, env=original.env)
    port = free_port()
    backup_file = tmp_path / "backups" / "witnesslink.backup"
    with server_process(original.data_dir, port, original.env):
        asyncio.run(_queue_a_message(f"http://127.0.0.1:{port}", tmp_path, support_id))
        # Online: the server keeps running while the backup is taken.
        admin(original.data_dir, "backup", "--to", str(backup_file), env=original.env)
    refused = _admin_status(original, "backup", "--to", str(backup_file))
    assert refused.returncode == 1
    assert "exists already" in refused.stderr

    _destroy(original)
    # The key travels apart from the backup (it is not in it): the operator's copy.
    restored.data_dir.mkdir()
    shutil.copy2(original.data_dir / "server.key", restored.data_dir / "server.key")
    done = _admin_status(restored, "restore", "--from", str(backup_file))
    assert done.returncode == 0, done.stderr
    again = _admin_status(restored, "restore", "--from", str(backup_file))
    assert again.returncode == 1, "a restore never overwrites a database"

    verified = _admin_status(restored, "verify-audit")
    assert verified.returncode == 0, verified.stderr
    assert "audit chain intact" in verified.stdout

    with server_process(restored.data_dir, port, restored.env):
        received = asyncio.run(_phone_receives(tmp_path / "witness.store"))
    assert received == [QUEUED_TEXT]


def test_a_damaged_sqlite_backup_is_refused(tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.backup"
    damaged.write_bytes(b"SQLite format 3\x00" + secrets.token_bytes(4096))
    place = Place(tmp_path / "new", _env())
    refused = _admin_status(place, "restore", "--from", str(damaged))
    assert refused.returncode == 1
    assert "integrity" in refused.stderr
    assert not (place.data_dir / "witnesslink.db").exists()
