"""What to do when an alert fires: agency playbooks and per-witness instructions.

* A **playbook** is an agency's steps for one alert kind ("panic: call the local police
  on 112, then the witness's support worker"). Admins of an agency write their own
  agency's playbooks; staff see the playbooks of every agency on the alert's case.
* **Response instructions** say how to approach one witness ("never call, text only:
  her partner checks the phone"). Case staff edit them on the witness page. They are
  personal data: sealed at rest with the server's Sealer, and their changes and
  consultations are audited without their content.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from server.clock import Clock
from server.domain.access import can_view_case
from server.domain.agency_scope import require_own_agency
from server.domain.audit import Actor, AuditLog
from server.domain.models import Role, Staff
from server.domain.welfare_models import Alert, AlertKind
from server.errors import InvalidInput, NotFound
from server.security.sealing import Sealer
from server.storage.protocols import Store, UnitOfWork

MAX_PLAYBOOK = 4000
MAX_INSTRUCTIONS = 2000


@dataclass(frozen=True, slots=True)
class AlertGuide:
    """What the alert page shows beside an alert: playbook steps per agency name, and
    the witness's instructions (None when there are none)."""

    playbooks: list[tuple[str, str]]
    instructions: str | None


def clean_text(text: str, limit: int, what: str) -> str:
    """Trimmed free text without control or bidi-override characters (line breaks kept).

    Raises:
        InvalidInput: too long, or carrying control/format characters.
    """
    text = text.replace("\r\n", "\n").strip()
    if len(text) > limit:
        raise InvalidInput(f"{what} may be at most {limit} characters")
    if any(unicodedata.category(c) in ("Cc", "Cf") and c not in "\n\t" for c in text):
        raise InvalidInput(f"{what} must not contain control or direction characters")
    return text


class AlertGuidance:
    """Reads and writes playbooks and response instructions."""

    def __init__(self, store: Store, audit: AuditLog, clock: Clock, sealer: Sealer) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock
        self._sealer = sealer

    async def playbooks(self, staff: Staff, agency_id: str) -> dict[str, str]:
        """The agency's playbook steps by alert kind; for the agency's own admins.

        Raises:
            Forbidden: not an admin of that agency.
        """
        await self._require_admin(staff, agency_id, "playbook.view")
        async with self._store.read() as uow:
            return {
                kind: p.steps for kind, p in (await uow.alert_response.playbooks(agency_id)).items()
            }

    async def set_playbook(self, staff: Staff, agency_id: str, kind: str, steps: str) -> None:
        """Write (empty ``steps``: remove) the agency's playbook for ``kind``.

        Raises:
            Forbidden: not an admin of that agency.
            InvalidInput: an unknown kind, or steps too long or with control characters.
        """
        await self._require_admin(staff, agency_id, "playbook.change")
        if kind not in {k.value for k in AlertKind}:
            raise InvalidInput("unknown alert kind")
        steps = clean_text(steps, MAX_PLAYBOOK, "the steps")
        async with self._store.write() as uow:
            await uow.alert_response.set_playbook(
                agency_id, kind, steps, staff.id, self._clock.now()
            )
            await self._audit.append(
                uow.audit,
                Actor.staff(staff.id),
                "playbook.changed",
                subject=("agency", agency_id),
                details={"kind": kind, "removed": not steps},
            )

    async def _require_admin(self, staff: Staff, agency_id: str, attempted: str) -> None:
        """Raises: Forbidden (another agency's admin: audited)."""
        await require_own_agency(
            self._store,
            self._audit,
            staff,
            agency_id,
            attempted,
            roles=frozenset({Role.ADMIN}),
            refusal="Only the agency's admins edit its playbooks",
        )

    async def _case_of_witness(self, uow: UnitOfWork, staff: Staff, witness_id: str) -> str:
        witness = await uow.witnesses.get(witness_id)
        case = None if witness is None else await uow.cases.get(witness.case_id)
        if witness is None or case is None:
            raise NotFound("No such witness")
        assigned = await uow.cases.is_assigned(case.id, staff.id)
        if not can_view_case(staff, case, assigned=assigned):
            raise NotFound("No such witness")
        return case.id

    async def instructions(self, staff: Staff, witness_id: str) -> str | None:
        """The witness's response instructions (a consultation, audited).

        Raises:
            NotFound: no such witness visible to the caller.
        """
        async with self._store.write() as uow:
            case_id = await self._case_of_witness(uow, staff, witness_id)
            return await self._open_instructions(uow, staff, witness_id, case_id)

    async def _open_instructions(
        self, uow: UnitOfWork, staff: Staff, witness_id: str, case_id: str
    ) -> str | None:
        stored = await uow.alert_response.instructions(witness_id)
        if stored is None:
            return None
        await self._audit.append(
            uow.audit,
            Actor.staff(staff.id),
            "witness.instructions_consulted",
            subject=("witness", witness_id),
            case_id=case_id,
        )
        return self._sealer.open(stored.sealed)

    async def set_instructions(self, staff: Staff, witness_id: str, text: str) -> None:
        """Replace the witness's instructions (empty text removes them); audited, the
        content never.

        Raises:
            NotFound: no such witness visible to the caller.
            InvalidInput: too long, or with control or direction characters.
        """
        text = clean_text(text, MAX_INSTRUCTIONS, "the instructions")
        async with self._store.write() as uow:
            case_id = await self._case_of_witness(uow, staff, witness_id)
            sealed = self._sealer.seal(text) if text else None
            await uow.alert_response.set_instructions(
                witness_id, sealed, staff.id, self._clock.now()
            )
            await self._audit.append(
                uow.audit,
                Actor.staff(staff.id),
                "witness.instructions_changed",
                subject=("witness", witness_id),
                case_id=case_id,
                details={"removed": not text},
            )

    async def for_alert(self, staff: Staff, alert: Alert) -> AlertGuide:
        """The playbooks of the case's agencies for the alert's kind and the witness's
        instructions. Call only for an alert the caller may see (AlertDesk checked).
        """
        async with self._store.write() as uow:
            case = await uow.cases.get(alert.case_id)
            if case is None:
                raise NotFound("No such alert")
            found = await uow.alert_response.playbooks_for(
                sorted(set(case.agency_ids())), alert.kind.value
            )
            names = {}
            for playbook in found:
                agency = await uow.agencies.get(playbook.agency_id)
                names[playbook.agency_id] = agency.name if agency else playbook.agency_id
            instructions = await self._open_instructions(
                uow, staff, alert.witness_id, alert.case_id
            )
        return AlertGuide([(names[p.agency_id], p.steps) for p in found], instructions)
