"""Helpers for the handover and assessment specifications: the receiving agency's
people, alerts of one kind, and raw reads of what the server stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from client_sdk import StaffClient
from server.domain.models import AgencyKind, Role
from tests.support.world import Conversation, World, open_conversation


async def receiving_team(world: World) -> tuple[StaffClient, str]:
    """The support agency's supervisor (who decides for it), and a second support
    worker to name as alternate contact."""
    await world.add_staff("supportlead", "support", Role.SUPERVISOR)
    await world.add_staff("alternate", "support", Role.SUPPORT_WORKER)
    return await world.login("supportlead"), world.staff["alternate"]


async def foreign_support(world: World) -> StaffClient:
    """The supervisor of a support agency that is not the case's."""
    await world.add_agency("elsewhere", kind=AgencyKind.SUPPORT, country="BG")
    await world.add_staff("elsewherelead", "elsewhere", Role.SUPERVISOR)
    return await world.login("elsewherelead")


def days_ahead(world: World, days: int) -> date:
    return (world.clock.now() + timedelta(days=days)).date()


async def alerts_of(staff: StaffClient, kind: str) -> list[dict[str, Any]]:
    return [a for a in await staff.alerts(include_resolved=True) if a["kind"] == kind]


async def requested(world: World, talk: Conversation, days: int = 20) -> dict[str, Any]:
    return await talk.officer.request_handover(talk.case_id, days_ahead(world, days))


@dataclass
class Requested:
    """A case with an enrolled witness, the receiving agency's lead and a second
    support worker, and a handover request sent ``days`` before the return."""

    talk: Conversation
    lead: StaffClient
    alternate_id: str
    handover: dict[str, Any]

    @property
    def handover_id(self) -> str:
        return str(self.handover["handover_id"])


async def requested_case(world: World, start: datetime, days: int = 20) -> Requested:
    world.clock.set(start)
    talk = await open_conversation(world)
    lead, alternate_id = await receiving_team(world)
    return Requested(talk, lead, alternate_id, await requested(world, talk, days))
