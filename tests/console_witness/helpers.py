"""Small helpers shared by the witness-page tests."""

from __future__ import annotations

from server.domain.models import Staff
from tests.console_witness.conftest import Answer, ConsoleUser, SignIn
from tests.support.world import Conversation, World, open_conversation


def back_on_page(answer: Answer, case_id: str, done: str) -> str:
    """The page a form redirected back to, with its notice."""
    assert answer.status == 200, answer.text
    assert answer.url.endswith(f"/console/cases/{case_id}?done={done}"), answer.url
    return answer.text


async def staff_of(world: World, username: str) -> Staff:
    async with world.services.store.read() as uow:
        staff: Staff | None = await uow.staff.get(world.staff[username])
    assert staff is not None
    return staff


async def officer_on_page(world: World, console: SignIn) -> tuple[Conversation, ConsoleUser, str]:
    """A conversation with an enrolled phone, and the officer signed in to the console."""
    talk = await open_conversation(world)
    officer = await console("officer")
    return talk, officer, officer.case_page(talk.case_id)
