"""Re-sealing after a server-key rotation: how long the background job needs.

Seeds ``--staff`` staff rows, each with a phone number and a TOTP secret sealed under
an old key (two sealed values per row), then makes a new key current and times one full
re-seal pass (:class:`server.domain.resealing.Resealer`, batches of 200 rows, one short
transaction each) and the report that follows. Prints one JSON line.

    python benchmarks/reseal.py --staff 20000
    python benchmarks/reseal.py --staff 20000 --postgres postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.clock import SystemClock
from server.domain.resealing import Resealer
from server.security.sealing import Sealer
from server.storage.database import Database
from server.storage.opening import open_database
from server.storage.store import SqlStore
from tests.conftest import create_pg_schema, drop_pg_schema


async def _seed(db: Database, old: Sealer, staff: int) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO agencies (id, name, country, kind, requires_reason, created_at)"
            " VALUES ('agn_bench', 'Bench', 'DE', 'police', FALSE, 0)"
        )
        await conn.executemany(
            "INSERT INTO staff (id, agency_id, username, display_name, role, password_hash,"
            " created_at, phone_sealed, totp_secret_sealed)"
            " VALUES ($1, 'agn_bench', $2, $2, 'officer', 'x', 0, $3, $4)",
            [
                (
                    f"stf_{i:08d}",
                    f"user{i}",
                    old.seal(f"+4915{i:09d}"),
                    old.seal("JBSWY3DPEHPK3PXP"),
                )
                for i in range(staff)
            ],
        )


async def _measure(database_url: str, schema: str | None, staff: int) -> dict[str, object]:
    old_key, new_key = secrets.token_bytes(32), secrets.token_bytes(32)
    db = await open_database(database_url, SystemClock(), schema=schema)
    try:
        await _seed(db, Sealer(old_key), staff)
        resealer = Resealer(SqlStore(db), Sealer(new_key, [old_key]))
        started = time.perf_counter()
        report = await resealer.run()
        pass_s = time.perf_counter() - started
        started = time.perf_counter()
        after = await resealer.report()
        report_s = time.perf_counter() - started
    finally:
        await db.close()
    assert after.old_keys_can_be_removed
    return {
        "values": report.total_resealed,
        "pass_s": round(pass_s, 2),
        "values_per_s": round(report.total_resealed / pass_s),
        "report_s": round(report_s, 3),
    }


async def _main(args: argparse.Namespace) -> dict[str, object]:
    if args.postgres:
        schema = await create_pg_schema(args.postgres)
        try:
            figures = await _measure(args.postgres, schema, args.staff)
        finally:
            await drop_pg_schema(args.postgres, schema)
        return {"backend": "postgres", "staff": args.staff, **figures}
    with tempfile.TemporaryDirectory() as tmp:
        figures = await _measure(f"sqlite:///{tmp}/reseal.db", None, args.staff)
    return {"backend": "sqlite", "staff": args.staff, **figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--staff", type=int, default=20000)
    parser.add_argument(
        "--postgres", help="a PostgreSQL DSN; SQLite in a temporary folder if unset"
    )
    print(json.dumps(asyncio.run(_main(parser.parse_args()))))


if __name__ == "__main__":
    main()
