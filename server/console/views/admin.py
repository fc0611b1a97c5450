"""Administration: agencies, staff accounts, roles, TOTP, default escalation policies,
and the audit log viewer with chain verification.

Who may do what (the rules live in :class:`~server.domain.administration.AgencyAdministration`,
these pages only show them):

* only supervisors and admins reach ``/console/admin``; everyone else gets 403;
* each agency governs itself (:mod:`server.domain.agency_scope`): an agency's admins
  and supervisors see and manage their own agency only — another agency's pages are
  403, its accounts 404, and every such attempt is audited. No page creates an agency:
  agencies and their first admins are made by the platform operator with
  ``witnesslink admin create-agency --first-admin …``;
* admins alone grant the admin role; supervisors create accounts, change roles (never
  to admin), deactivate and reactivate accounts, reset or turn off TOTP and put staff
  on or off duty — but never on an admin's account (on duty excepted);
* nobody changes their own role or deactivates their own account;
* an agency's default escalation policy is saved through
  :meth:`~server.domain.welfare.settings.WelfareSettings.set_agency_policy`, which lets
  only that agency's own supervisors and admins change it;
* the audit log: an agency's supervisors and admins read the entries about their
  agency's cases, its staff (as actor or subject) and the agency itself, filtered after
  the query. Every page read is audited (``audit.viewed`` with the filters). Both may
  verify the chain (the result counts their agency's entries only); the check is
  audited too.

Every POST checks the CSRF token, makes one domain call and redirects — except where a
result must be shown exactly once and never again: a new TOTP secret (QR code and
``otpauth://`` URI, in the POST response only, ``Cache-Control: no-store``) and the
chain verification result (rendered, so it cannot be faked with a link).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import segno
from aiohttp import web
from multidict import MultiDict, MultiDictProxy, MultiMapping

from server.console.web import PREFIX, Page, back_to, page, services, submitted_form
from server.domain.accounts import NewStaff
from server.domain.audit import describe_entry
from server.domain.audit_reading import AuditFilters
from server.domain.escalation import EscalationPolicy
from server.domain.models import Role
from server.errors import InvalidInput
from server.security.passwords import MIN_PASSWORD_LENGTH

routes = web.RouteTableDef()

ADMIN = PREFIX + "/admin"
POLICY_LEVELS = 3
# The targets the policy form offers, per level: (agency side, role, on duty only).
POLICY_TARGETS: tuple[tuple[str, Role, bool], ...] = (
    ("support", Role.SUPPORT_WORKER, True),
    ("support", Role.SUPERVISOR, False),
    ("support", Role.OFFICER, False),
    ("police", Role.OFFICER, False),
    ("police", Role.SUPERVISOR, False),
    ("police", Role.SUPPORT_WORKER, True),
)
MAX_MINUTES = 7 * 24 * 60


def _target_key(side: str, role: Role) -> str:
    return f"{side}_{role.value}"


def _role(value: str | None) -> Role:
    try:
        return Role(value or "")
    except ValueError:
        raise InvalidInput("choose a role") from None


def _checked(form: MultiDictProxy[str], name: str) -> bool:
    return form.get(name) in {"1", "on", "yes", "true"}


def _qr_svg(uri: str) -> str:
    """The otpauth:// URI as an inline SVG QR code (as enrolment codes are shown)."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(
        buffer, kind="svg", scale=4, xmldecl=False, svgns=True, nl=False
    )
    return buffer.getvalue().decode("utf-8")


def _one_time_totp(current: Page, created: NewStaff, *, new_account: bool) -> web.Response:
    """The only page that ever shows this secret; never cached (the console middleware
    sets ``Cache-Control: no-store``)."""
    uri = created.totp_uri()
    assert uri is not None
    assert created.totp_secret is not None
    return current.render(
        "admin_totp.html",
        status=201 if new_account else 200,
        member=created.staff,
        new_account=new_account,
        qr=_qr_svg(uri),
        uri=uri,
        secret=created.totp_secret,
    )


# --- overview and agencies ----------------------------------------------------------------


@routes.get(ADMIN)
async def overview(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    agencies = await services(request).administration.agencies_for(current.staff)
    return current.render("admin.html", agencies=agencies)


@routes.get(ADMIN + "/agencies/{agency_id}")
async def agency(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    administration = services(request).administration
    agency_id = request.match_info["agency_id"]
    the_agency = await administration.managed_agency(current.staff, agency_id)
    members = await administration.list_staff(current.staff, agency_id)
    roles = [r for r in Role if r is not Role.ADMIN or current.staff.role is Role.ADMIN]
    return current.render(
        "admin_agency.html",
        agency=the_agency,
        members=members,
        roles=roles,
        min_password=MIN_PASSWORD_LENGTH,
    )


# --- staff accounts -----------------------------------------------------------------------


@routes.post(ADMIN + "/agencies/{agency_id}/staff")
async def create_staff(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    form = await submitted_form(request, current)
    agency_id = request.match_info["agency_id"]
    password = form.get("password", "")
    if password != form.get("password_again", ""):
        raise InvalidInput("the two passwords are not the same")
    created = await services(request).administration.add_staff(
        current.staff,
        agency_id=agency_id,
        username=form.get("username", ""),
        display_name=form.get("display_name", ""),
        role=_role(form.get("role")),
        password=password,
        with_totp=_checked(form, "totp"),
    )
    if created.totp_secret is not None:
        return _one_time_totp(current, created, new_account=True)
    raise back_to(f"{ADMIN}/agencies/{agency_id}", "created")


@routes.get(ADMIN + "/staff/{staff_id}")
async def staff_member(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    administration = services(request).administration
    member = await administration.staff_member(current.staff, request.match_info["staff_id"])
    the_agency = await administration.managed_agency(current.staff, member.agency_id)
    roles = [r for r in Role if r is not Role.ADMIN or current.staff.role is Role.ADMIN]
    return current.render(
        "admin_staff.html",
        member=member,
        agency=the_agency,
        roles=roles,
        is_self=member.id == current.staff.id,
    )


@routes.post(ADMIN + "/staff/{staff_id}/role")
async def change_role(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    form = await submitted_form(request, current)
    svc = services(request)
    change = await svc.administration.set_role(
        current.staff, request.match_info["staff_id"], _role(form.get("role"))
    )
    # Cached API credentials carry the old role (other instances' caches expire within
    # the authenticator's few-second TTL).
    svc.authenticator.forget_owner(change.staff.id)
    raise back_to(f"{ADMIN}/staff/{change.staff.id}", "saved")


@routes.post(ADMIN + "/staff/{staff_id}/active")
async def change_active(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    form = await submitted_form(request, current)
    svc = services(request)
    change = await svc.administration.set_active(
        current.staff, request.match_info["staff_id"], _checked(form, "active")
    )
    # Console sessions ended in the domain transaction; device tokens are refused from
    # the database from now on, so evict cached ones and drop live connections too.
    svc.authenticator.forget_owner(change.staff.id)
    if change.device_ids and not change.staff.active:
        await svc.events.devices_revoked(list(change.device_ids))
    raise back_to(f"{ADMIN}/staff/{change.staff.id}", "saved")


@routes.post(ADMIN + "/staff/{staff_id}/duty")
async def change_duty(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    form = await submitted_form(request, current)
    svc = services(request)
    changed = await svc.administration.set_staff_on_duty(
        current.staff, request.match_info["staff_id"], _checked(form, "on_duty")
    )
    svc.authenticator.forget_owner(changed.id)
    raise back_to(f"{ADMIN}/staff/{changed.id}", "saved")


@routes.post(ADMIN + "/staff/{staff_id}/totp")
async def change_totp(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    form = await submitted_form(request, current)
    changed = await services(request).administration.reset_totp(
        current.staff, request.match_info["staff_id"], enabled=_checked(form, "enabled")
    )
    if changed.totp_secret is not None:
        return _one_time_totp(current, changed, new_account=False)
    raise back_to(f"{ADMIN}/staff/{changed.staff.id}", "saved")


# --- default escalation policy ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PolicyForm:
    """What the structured form shows for a policy."""

    after: list[int | None]
    checked: list[set[str]]
    ack_timeout_minutes: int
    repeat_minutes: int
    lossy: bool


def policy_form(policy: EscalationPolicy) -> PolicyForm:
    """Fill the form from a policy; ``lossy`` when it holds more than the form can show
    (more levels, named staff, other on-duty choices)."""
    offered = {(side, role, on_duty) for side, role, on_duty in POLICY_TARGETS}
    lossy = len(policy.levels) > POLICY_LEVELS
    after: list[int | None] = [None] * POLICY_LEVELS
    checked: list[set[str]] = [set() for _ in range(POLICY_LEVELS)]
    for index, level in enumerate(policy.levels[:POLICY_LEVELS]):
        after[index] = level.after_minutes
        for target in level.targets:
            if target.staff_ids or target.agency is None:
                lossy = True
            for role in target.roles:
                if (target.agency, role, target.on_duty_only) in offered:
                    checked[index].add(_target_key(target.agency or "", role))
                else:
                    lossy = True
    return PolicyForm(after, checked, policy.ack_timeout_minutes, policy.repeat_minutes, lossy)


def _minutes(form: MultiDictProxy[str], name: str, what: str) -> int:
    raw = form.get(name, "").strip()
    if not raw.isdigit() or int(raw) > MAX_MINUTES:
        raise InvalidInput(f"{what} must be a whole number of minutes")
    return int(raw)


def policy_spec(form: MultiDictProxy[str]) -> dict[str, Any]:
    """The policy's JSON form from the structured form; the domain validates the rest.

    Raises:
        InvalidInput: a level with targets but no time, or a time but no targets.
    """
    levels: list[dict[str, Any]] = []
    for number in range(1, POLICY_LEVELS + 1):
        notify = [
            {"agency": side, "roles": [role.value], "on_duty_only": on_duty}
            for side, role, on_duty in POLICY_TARGETS
            if _checked(form, f"level{number}_{_target_key(side, role)}")
        ]
        has_time = number == 1 or bool(form.get(f"level{number}_after", "").strip())
        if number > 1 and not notify and not has_time:
            continue  # an unused level
        if not notify:
            raise InvalidInput(f"level {number} needs at least one group of people to tell")
        after = 0 if number == 1 else _minutes(form, f"level{number}_after", f"level {number}")
        levels.append({"after_minutes": after, "notify": notify})
    return {
        "levels": levels,
        "ack_timeout_minutes": _minutes(form, "ack_timeout_minutes", "the acknowledgement time"),
        "repeat_minutes": _minutes(form, "repeat_minutes", "the repeat time"),
    }


@routes.get(ADMIN + "/agencies/{agency_id}/policy")
async def policy(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    administration = services(request).administration
    agency_id = request.match_info["agency_id"]
    in_force, source = await administration.agency_policy(current.staff, agency_id)
    the_agency = await administration.managed_agency(current.staff, agency_id)
    return current.render(
        "admin_policy.html",
        agency=the_agency,
        policy=in_force,
        source=source,
        form=policy_form(in_force),
        levels=POLICY_LEVELS,
        targets=[(side, role.value, _target_key(side, role)) for side, role, _ in POLICY_TARGETS],
        editable=True,  # managed_agency refused every other agency
    )


@routes.post(ADMIN + "/agencies/{agency_id}/policy")
async def save_policy(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    form = await submitted_form(request, current)
    agency_id = request.match_info["agency_id"]
    await services(request).welfare.set_agency_policy(current.staff, agency_id, policy_spec(form))
    raise back_to(f"{ADMIN}/agencies/{agency_id}/policy", "saved")


# --- audit log ----------------------------------------------------------------------------


def _day(value: str, what: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{what} must be a date (YYYY-MM-DD)") from None


def audit_filters(query: MultiMapping[str]) -> AuditFilters:
    """Filters from the query string: dates are whole UTC days, ``to`` inclusive.

    Raises:
        InvalidInput: a date or page cursor that does not parse.
    """
    since_day = _day(query.get("from", ""), "'from'")
    until_day = _day(query.get("to", ""), "'to'")
    before = query.get("before", "").strip()
    if before and not before.isdigit():
        raise InvalidInput("the page cursor is not valid")
    return AuditFilters(
        actor_id=query.get("actor", "").strip() or None,
        case_id=query.get("case", "").strip() or None,
        action=query.get("action", "").strip() or None,
        since=None
        if since_day is None
        else datetime(since_day.year, since_day.month, since_day.day, tzinfo=UTC),
        until=None
        if until_day is None
        else datetime(until_day.year, until_day.month, until_day.day, tzinfo=UTC)
        + timedelta(days=1),
        before_seq=int(before) if before else None,
    )


async def _audit_page(
    request: web.Request, current: Page, verification: Any = None
) -> web.StreamResponse:
    query = request.query
    filters = audit_filters(query)
    result = await services(request).audit_reading.consult_audit(current.staff, filters)
    shown = {
        "actor": query.get("actor", "").strip(),
        "case": query.get("case", "").strip(),
        "action": query.get("action", "").strip(),
        "from": query.get("from", "").strip(),
        "to": query.get("to", "").strip(),
    }
    next_link = None
    if result.next_before_seq is not None:
        next_query = MultiDict((k, v) for k, v in shown.items() if v)
        next_query["before"] = str(result.next_before_seq)
        next_link = str(request.rel_url.with_path(ADMIN + "/audit").with_query(next_query))
    entries = []
    for entry in result.entries:
        described = describe_entry(entry)
        described["details_text"] = json.dumps(described["details"], sort_keys=True)
        described["hash_prefix"] = described["hash"][:12]
        entries.append(described)
    return current.render(
        "admin_audit.html",
        entries=entries,
        actors={k: v.display_name for k, v in result.actors.items()},
        filters=shown,
        next_link=next_link,
        verification=verification,
    )


@routes.get(ADMIN + "/audit")
async def audit(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    return await _audit_page(request, current)


@routes.post(ADMIN + "/audit/verify")
async def verify(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    await submitted_form(request, current)
    report = await services(request).audit_reading.verify_audit_chain(current.staff)
    return await _audit_page(request, current, report)
