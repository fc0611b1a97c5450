"""Rotating the Twilio auth token: while both are configured, webhooks signed with the
current or the previous token are accepted and SMS are sent with the current one only.

Signatures are made with the real ``twilio.request_validator.RequestValidator``, and the
fake Twilio accepts API calls only with the token it currently holds, as Twilio does
once the secondary token is promoted.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any

from server.notify.webhooks import TwilioWebhookVerifier
from tests.fakes.twilio_server import FakeTwilio, twilio_signature
from tests.support.welfare import (
    WITNESS_PHONE,
    WORKER_PHONE,
    catch_up,
    sms_to,
    with_phones_and_supervisor,
)
from tests.support.world import TWILIO_SENDER, World, open_conversation

CHECKIN_WORD, DURESS_WORD = "lalea", "ciocarlie"
PUBLIC = "https://sms.example.org"
FORM = {"MessageSid": "SM" + "0" * 32, "From": "+40712345678", "To": "+15005550006", "Body": "x"}


def token() -> str:
    return secrets.token_hex(16)


def test_the_verifier_accepts_the_current_and_the_previous_token_and_nothing_else() -> None:
    current, previous, stranger = token(), token(), token()
    url = PUBLIC + "/v1/twilio/sms"
    rotating = TwilioWebhookVerifier(current, PUBLIC, previous)
    settled = TwilioWebhookVerifier(current, PUBLIC)
    for signer, during, after in (
        (current, True, True),
        (previous, True, False),
        (stranger, False, False),
    ):
        signature = twilio_signature(signer, url, FORM)
        assert rotating.verify("/v1/twilio/sms", FORM, signature) is during
        assert settled.verify("/v1/twilio/sms", FORM, signature) is after


async def _restart(world: World, **settings: Any) -> None:
    await world.stop_server()
    world.settings = replace(world.settings, **settings)
    await world.start_server_again()


async def _inbound(world: World, fake: FakeTwilio, body: str, signer: str) -> int:
    reply = await fake.post_inbound_sms(
        world.url + "/v1/twilio/sms",
        from_=WITNESS_PHONE,
        to=TWILIO_SENDER,
        body=body,
        sign_with=signer,
    )
    return reply.status


async def test_webhooks_signed_with_either_token_work_during_rotation_and_sms_use_the_new_one(
    sms_world: World,
) -> None:
    world = sms_world
    fake = world.twilio
    assert fake is not None
    talk = await open_conversation(world)
    await with_phones_and_supervisor(world, talk)
    await talk.witness.set_sms_words(CHECKIN_WORD, DURESS_WORD)
    old, new = fake.auth_token, token()

    # The operator promotes a new token at Twilio and gives the server both.
    fake.auth_token = new
    await _restart(world, twilio_auth_token=new, twilio_previous_auth_token=old)
    assert await _inbound(world, fake, DURESS_WORD, signer=old) == 200
    (alert,) = await talk.worker.alerts()
    assert alert["kind"] == "duress"
    await catch_up(world)
    # Twilio (the fake) now refuses the old token, so an SMS that arrived was sent with
    # the new one.
    assert sms_to(world, WORKER_PHONE), "the alert SMS was not accepted by Twilio"
    assert await _inbound(world, fake, CHECKIN_WORD, signer=new) == 200
    assert await _inbound(world, fake, CHECKIN_WORD, signer=token()) == 403

    # Rotation done: the previous token is removed and no longer accepted.
    await _restart(world, twilio_previous_auth_token=None)
    assert await _inbound(world, fake, DURESS_WORD, signer=old) == 403
    assert await _inbound(world, fake, CHECKIN_WORD, signer=new) == 200
