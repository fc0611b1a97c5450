"""The ``witnesslink`` command: ``serve`` runs the server, ``admin`` manages it.

``witnesslink admin`` works directly on the configured database (the same settings as
the server, from ``WITNESSLINK_*`` variables or ``--data-dir``), so the first admin can
be created before anyone can log in. It is the platform operator's tool: it creates
agencies and their first admins (each agency then governs itself in the console),
resets an account's TOTP, lists agencies and staff, and verifies, backs up, restores and
re-seals — it prints no case data (no alias, phone number, note or case listing).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from server.app import build_app
from server.clock import FileClock, SystemClock
from server.config import Settings
from server.domain.accounts import FirstAdmin
from server.domain.agency_scope import review_governance
from server.domain.audit import Actor, verify_chain
from server.domain.events import NullEventSink
from server.domain.models import AgencyKind, Role
from server.domain.server_keys import IndexRootUnknown
from server.errors import DomainError
from server.observability.logs import PathOnlyAccessLogger, configure_logging
from server.observability.startup_warnings import production_warnings
from server.process_limits import raise_open_file_limit
from server.security.sealing import KeyConfigError, SealError, new_key_b64
from server.services import Services, open_services
from server.storage.backup import BackupError, backup, restore
from server.storage.opening import open_database

ADMIN_ACTOR = Actor.system("admin-cli")
startup_log = logging.getLogger("witnesslink.startup")
#: Start-up failures caused by the key configuration: shown as one line, not a traceback.
KEY_PROBLEMS = (KeyConfigError, SealError, IndexRootUnknown)

FIRST_RUN_HELP = """\
No staff accounts exist yet. This terminal keeps the server running (Ctrl+C stops
it); in a second terminal, create an agency and the first admin with:

  witnesslink admin create-agency --name "Example Police" --country DE --kind police \\
      --first-admin admin --first-admin-name "First Admin" --totp{data_arg}

then sign in to the staff console at /console/ on this server.
"""


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(
        data_dir=Path(args.data_dir) if getattr(args, "data_dir", None) else None,
        database_url=getattr(args, "database_url", None),
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        public_url=getattr(args, "public_url", None),
    )


async def _with_services(settings: Settings, action: Callable[[Services], Awaitable[int]]) -> int:
    clock = SystemClock()
    db = await open_database(settings.database_url, clock, schema=settings.postgres_schema)
    try:
        services = await open_services(settings, clock, db, hub=None, events=NullEventSink())
        return await action(services)
    finally:
        await db.close()


def _serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    configure_logging(settings.log_format)
    for warning in production_warnings(
        settings, secret_key_from_file=settings.secret_key_b64 is None
    ):
        startup_log.warning("production warning: %s", warning)

    async def first_run_check(services: Services) -> int:
        return 0 if await services.accounts.has_any_staff() else 1

    try:
        no_staff = asyncio.run(_with_services(settings, first_run_check))
    except KEY_PROBLEMS as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if no_staff:
        data_arg = f" --data-dir {args.data_dir}" if args.data_dir else ""
        print(FIRST_RUN_HELP.format(data_arg=data_arg), flush=True)
    location = str(settings.data_dir.resolve()) if settings.uses_sqlite else "PostgreSQL"
    raise_open_file_limit()  # one descriptor per connected phone
    print(
        f"witnesslink listening on http://{settings.host}:{settings.port} (data: {location})",
        flush=True,
    )
    clock_file = os.environ.get("WITNESSLINK_TEST_CLOCK_FILE")
    clock = FileClock(clock_file) if clock_file else None
    if clock is not None:
        print("TEST CLOCK: time is read from a file; never do this in production", flush=True)
    web.run_app(
        build_app(settings, clock=clock),
        host=settings.host,
        port=settings.port,
        access_log_class=PathOnlyAccessLogger,
        print=None,
        handle_signals=True,
    )
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password (12+ characters): ")
    if getpass.getpass("Repeat password: ") != first:
        raise SystemExit("passwords do not match")
    return first


def _print_totp(uri: str) -> None:
    import segno

    print("Scan this into the authenticator app (shown once):")
    segno.make(uri).terminal(compact=True)
    print(uri)


def _offline_admin(settings: Settings, args: argparse.Namespace) -> int | None:
    """The admin commands that must not open (and so migrate) the database first:
    a restore needs an empty target. None when ``args`` names another command."""
    command = args.admin_command
    if command == "new-key":
        print(new_key_b64())
        return 0
    if command not in ("backup", "restore"):
        return None
    try:
        if command == "backup":
            backup(settings.database_url, Path(args.to), schema=settings.postgres_schema)
            print(f"backup written to {args.to} (the server key is NOT in it: keep it apart)")
        else:
            restore(Path(args.source), settings.database_url)
            print("restored; run `witnesslink admin verify-audit`, then start the server")
    except BackupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _admin(args: argparse.Namespace) -> int:
    settings = _settings(args)
    command = args.admin_command
    offline = _offline_admin(settings, args)
    if offline is not None:
        return offline

    async def run(services: Services) -> int:
        accounts = services.accounts
        if command == "create-agency" and args.first_admin:
            agency, admin = await accounts.create_agency_with_admin(
                ADMIN_ACTOR,
                name=args.name,
                country=args.country.upper(),
                kind=AgencyKind(args.kind),
                requires_reason=args.requires_reason,
                first_admin=FirstAdmin(
                    username=args.first_admin,
                    display_name=args.first_admin_name or args.first_admin,
                    password=_read_password(args),
                    with_totp=args.totp,
                ),
            )
            print(f"created agency {agency.id} ({agency.kind.value}, {agency.country})")
            print(f"created staff {admin.staff.id} (admin)")
            uri = admin.totp_uri()
            if uri:
                _print_totp(uri)
        elif command == "create-agency":
            agency = await accounts.create_agency(
                ADMIN_ACTOR,
                name=args.name,
                country=args.country.upper(),
                kind=AgencyKind(args.kind),
                requires_reason=args.requires_reason,
            )
            print(f"created agency {agency.id} ({agency.kind.value}, {agency.country})")
        elif command == "create-staff":
            agency = await accounts.find_agency(args.agency)
            created = await accounts.create_staff(
                ADMIN_ACTOR,
                agency_id=agency.id,
                username=args.username,
                display_name=args.display_name,
                role=Role(args.role),
                password=_read_password(args),
                with_totp=args.totp,
            )
            print(f"created staff {created.staff.id} ({created.staff.role.value})")
            uri = created.totp_uri()
            if uri:
                _print_totp(uri)
        elif command == "reset-totp":
            async with services.store.read() as uow:
                staff = await uow.staff.get_by_username(args.username)
            if staff is None:
                print("no such staff member", file=sys.stderr)
                return 1
            secret = await accounts.set_totp(ADMIN_ACTOR, staff.id, enabled=not args.disable)
            if secret is None:
                print("TOTP disabled")
            else:
                import pyotp

                _print_totp(
                    pyotp.TOTP(secret).provisioning_uri(
                        name=staff.username, issuer_name="witnesslink"
                    )
                )
        elif command == "list-agencies":
            for agency in await accounts.list_agencies():
                print(f"{agency.id}\t{agency.kind.value}\t{agency.country}\t{agency.name}")
        elif command == "list-staff":
            agency = await accounts.find_agency(args.agency)
            async with services.store.read() as uow:
                members = await uow.staff.list_by_agency(agency.id)
            for member in members:
                print(f"{member.id}\t{member.role.value}\t{member.username}")
        elif command == "review-agencies":
            review = await review_governance(services.store)
            for change in review.changes:
                print(
                    f"entry {change.seq}\t{change.action}\tby {change.actor_id}"
                    f" ({change.actor_agency_id})\ton {change.subject[0]} {change.subject[1]}"
                    f" ({change.subject_agency_id})"
                )
            for agency_id in review.without_admin:
                print(f"agency {agency_id} has no active admin of its own")
            print(
                f"{len(review.changes)} cross-agency administration actions,"
                f" {len(review.without_admin)} agencies without an admin"
            )
            return 4 if review.changes or review.without_admin else 0
        elif command == "verify-audit":
            report = await verify_chain(services.store)
            print(report.describe())
            return 0 if report.ok else 2
        elif command == "reseal":
            resealer = services.resealer
            resealed = await (resealer.report() if args.report_only else resealer.run())
            print(resealed.describe())
            return 0 if resealed.old_keys_can_be_removed else 3
        return 0

    try:
        return asyncio.run(_with_services(settings, run))
    except DomainError as error:
        print(f"error: {error.detail}", file=sys.stderr)
        return 1
    except KEY_PROBLEMS as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="witnesslink", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-dir", help="local data folder (default ./witnesslink-data)")
        p.add_argument("--database-url", help="sqlite:///path or postgresql://… (overrides)")

    serve = commands.add_parser("serve", help="run the server")
    common(serve)
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8080)")
    serve.add_argument("--public-url", help="the URL phones use, printed into enrolment QR codes")
    serve.set_defaults(func=_serve)

    admin = commands.add_parser("admin", help="manage agencies, staff and the audit log")
    common(admin)
    admin_commands = admin.add_subparsers(dest="admin_command", required=True)
    agency = admin_commands.add_parser("create-agency", help="create an agency")
    agency.add_argument("--name", required=True)
    agency.add_argument("--country", required=True, help="ISO 3166-1 alpha-2, e.g. RO")
    agency.add_argument("--kind", required=True, choices=[k.value for k in AgencyKind])
    agency.add_argument(
        "--requires-reason", action="store_true", help="staff must give a reason to consult"
    )
    agency.add_argument(
        "--first-admin",
        metavar="USERNAME",
        help="also create the agency's first admin (in the same transaction)",
    )
    agency.add_argument("--first-admin-name", help="the first admin's display name")
    agency.add_argument("--totp", action="store_true", help="the first admin needs TOTP")
    agency.add_argument(
        "--password-stdin", action="store_true", help="read the first admin's password from stdin"
    )
    staff = admin_commands.add_parser("create-staff", help="create a staff account")
    staff.add_argument("--agency", required=True, help="agency name or id")
    staff.add_argument("--username", required=True)
    staff.add_argument("--display-name", required=True)
    staff.add_argument("--role", required=True, choices=[r.value for r in Role])
    staff.add_argument("--totp", action="store_true", help="require a TOTP code at login")
    staff.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    totp = admin_commands.add_parser("reset-totp", help="give an account a new TOTP secret")
    totp.add_argument("--username", required=True)
    totp.add_argument("--disable", action="store_true", help="turn TOTP off instead")
    admin_commands.add_parser("list-agencies", help="list agencies")
    list_staff = admin_commands.add_parser("list-staff", help="list an agency's staff")
    list_staff.add_argument("--agency", required=True)
    admin_commands.add_parser(
        "review-agencies",
        help="list past administration actions across agencies (accounts another agency's"
        " admin created or changed) and agencies without an admin; exit 4 if any",
    )
    admin_commands.add_parser(
        "verify-audit", help="check the audit log's hash chain; names the first broken entry"
    )
    reseal = admin_commands.add_parser(
        "reseal",
        help="re-seal every sealed value under the current server key; exit 3 while any"
        " value remains under a previous key",
    )
    reseal.add_argument(
        "--report-only", action="store_true", help="count what remains, change nothing"
    )
    admin_commands.add_parser("new-key", help="print a fresh random server key (base64)")
    backup_parser = admin_commands.add_parser(
        "backup", help="write a consistent backup of the database (not of the server key)"
    )
    backup_parser.add_argument("--to", required=True, help="backup file to create")
    restore_parser = admin_commands.add_parser(
        "restore", help="restore a backup into the configured, still empty, database"
    )
    restore_parser.add_argument("--from", dest="source", required=True, help="backup file")
    for sub in admin_commands.choices.values():
        common(sub)
    admin.set_defaults(func=_admin)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
