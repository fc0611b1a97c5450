"""No personal data or secrets in the log: a scripted flow that handles phone numbers,
an alias, passwords, bearer tokens and a calendar-feed token writes none of them to
the server's log (JSON lines, as ``serve`` writes them), and every line parses."""

from __future__ import annotations

import io
import json
import re

import aiohttp
import pytest

from client_sdk import StaffClient
from client_sdk.errors import ApiError
from tests.support.kdf import FAST_KDF
from tests.support.welfare import (
    OFFICER_PHONE,
    SUPERVISOR_PHONE,
    WITNESS_PHONE,
    WORKER_PHONE,
    with_phones_and_supervisor,
)
from tests.support.world import PASSWORD, World, open_conversation
from tests.welfare.helpers import start_and_connect

ALIAS = "Sparrow"  # open_conversation's witness
WRONG_PASSWORD = PASSWORD + " mistyped"


async def test_a_flow_full_of_personal_data_leaves_none_of_it_in_the_log(
    world: World, json_log: io.StringIO
) -> None:
    talk = await open_conversation(world)
    await with_phones_and_supervisor(world, talk)
    await start_and_connect(world, talk.witness)
    await talk.officer.send("message text stays end-to-end encrypted", case_id=talk.case_id)
    await talk.witness.send("reply from the witness")
    await talk.witness.panic()
    await world.services.dispatcher.drain()  # SMS go to the log gateway (no Twilio)
    feed_url = await talk.officer.calendar_feed_url()
    async with aiohttp.ClientSession() as session, session.get(feed_url) as response:
        assert response.status == 200
    with pytest.raises(ApiError) as refused:
        await StaffClient.login(
            world.url,
            "officer",
            WRONG_PASSWORD,
            world.tmp / "mistyped.store",
            "staff passphrase",
            kdf=FAST_KDF,
            clock=world.clock,
        )
    assert refused.value.status == 401

    text = json_log.getvalue()
    records = [json.loads(line) for line in text.splitlines()]
    assert any(r["logger"] == "aiohttp.access" for r in records)
    assert any("SMS to" in r["message"] for r in records), "the log gateway wrote the SMS"
    secrets = {
        "alias": ALIAS,
        "password": PASSWORD,
        "mistyped password": WRONG_PASSWORD,
        "feed token": feed_url.rsplit("/", 1)[-1].removesuffix(".ics"),
        "officer bearer token": talk.officer.transport.token,
        "witness bearer token": talk.witness.transport.token,
    }
    for phone in (WORKER_PHONE, SUPERVISOR_PHONE, OFFICER_PHONE, WITNESS_PHONE):
        secrets[f"phone {phone}"] = phone
        secrets[f"phone digits {phone}"] = phone.lstrip("+")
    leaked = {name for name, secret in secrets.items() if secret and secret in text}
    assert leaked == set()
    # Nor anything else shaped like a full phone number in what the lines say (request
    # ids are hex and may hold a run of digits).
    assert not [r["message"] for r in records if re.search(r"\+\d{8,}", r["message"])]
