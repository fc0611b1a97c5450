"""Rotating the server's sealing key while it serves: every sealed value stays readable,
the re-seal job moves them all to the new key, and the old key can then be dropped.

The world is the real server over SQLite and PostgreSQL; the sealed values are made by
the real paths (a witness's PIN vault seed, staff and witness phone numbers, a TOTP
secret, an alert's outcome note), and the blind indexes (phone index, SMS code words)
must still match after the key changed.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import replace
from typing import Any

import pytest

from client_sdk import WitnessClient
from scheduler.runner import BackgroundJobs
from server.domain.events import NullEventSink
from server.domain.models import Role
from server.security.sealing import Sealer, UnknownSealingKey, key_id
from server.services import open_services
from tests.support.kdf import WITNESS_PIN
from tests.support.world import World, open_conversation

WITNESS_NUMBER = "+40712345678"
OFFICER_NUMBER = "+4915112345678"
CHECKIN_WORD, DURESS_WORD = "lalea", "ciocarlie"
NOTE = "home visit: safe, phone was off"


def new_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


class Sealed:
    """What the world sealed before the rotation, and how to check it opens."""

    def __init__(self, world: World, witness_id: str, officer_id: str, totp_id: str) -> None:
        self.world = world
        self.witness_id = witness_id
        self.officer_id = officer_id
        self.totp_id = totp_id
        self.totp_secret = ""
        self.alert_id = ""
        self.witness_store = world.tmp / "witness.store"

    async def all_open(self) -> None:
        """Every sealed value opens, and the blind indexes still match."""
        services = self.world.services
        async with services.store.read() as uow:
            witness_phone = await uow.witnesses.phone(self.witness_id)
            officer_phone = await uow.staff.phone(self.officer_id)
            totp_staff = await uow.staff.get(self.totp_id)
            found = await uow.witnesses.find_by_phone_index(services.phones.index(WITNESS_NUMBER))
            checkin_digest, duress_digest = await uow.witnesses.sms_words(self.witness_id)
        assert witness_phone is not None
        assert officer_phone is not None
        assert services.phones.open(witness_phone) == WITNESS_NUMBER
        assert services.phones.open(officer_phone) == OFFICER_NUMBER
        assert totp_staff is not None
        assert totp_staff.totp_secret_sealed is not None
        assert services.sealer.open(totp_staff.totp_secret_sealed) == self.totp_secret
        assert found is not None
        assert found.id == self.witness_id
        assert services.phones.word_matches("checkin", CHECKIN_WORD, checkin_digest)
        assert services.phones.word_matches("duress", DURESS_WORD, duress_digest)
        officer = await self.world.login("officer")
        detail = await officer.alert(self.alert_id)
        assert (detail["outcome"], detail["note"]) == ("visited", NOTE)
        # The phone's vault needs the server to open its sealed seed.
        phone = await WitnessClient.open(self.witness_store, WITNESS_PIN, clock=self.world.clock)
        self.world.clients.append(phone)
        await phone.close()


async def seal_everything(world: World) -> Sealed:
    talk = await open_conversation(world)
    await talk.officer.set_witness_phone(talk.witness_id, WITNESS_NUMBER)
    await talk.officer.set_my_phone(OFFICER_NUMBER)
    await talk.witness.set_sms_words(CHECKIN_WORD, DURESS_WORD)
    await talk.witness.panic()
    (alert,) = await talk.worker.alerts()
    await talk.worker.acknowledge(alert["alert_id"])
    await talk.worker.resolve(alert["alert_id"], "visited", NOTE)
    secret = await world.add_staff("sergeant", "police", Role.OFFICER, totp=True)
    assert secret is not None
    await talk.witness.close()
    sealed = Sealed(world, talk.witness_id, world.staff["officer"], world.staff["sergeant"])
    sealed.totp_secret = secret
    sealed.alert_id = alert["alert_id"]
    return sealed


async def restart_with(world: World, **settings: Any) -> None:
    await world.stop_server()
    world.settings = replace(world.settings, **settings)
    await world.start_server_again()


async def test_a_rotated_key_keeps_everything_readable_and_the_old_key_goes_after_resealing(
    world: World,
) -> None:
    # Before: the server runs on its first key, the key file in its data folder.
    sealed = await seal_everything(world)
    key_file = world.settings.secret_key_path
    old_id = key_id(base64.b64decode(key_file.read_text()))

    # Rotate: a new current key in the environment; the file's key is still readable.
    new = new_key()
    await restart_with(world, secret_key_b64=new)
    assert world.services.sealer.current_prefix[1:] != old_id
    before = await world.services.resealer.report()
    assert not before.old_keys_can_be_removed
    # root, TOTP, two phones, the outcome and the note, and the vault seed
    assert before.total_remaining == 7, before.remaining
    await sealed.all_open()

    report = await world.services.resealer.run()
    assert report.total_resealed == before.total_remaining
    assert report.old_keys_can_be_removed
    assert "previous keys can be removed" in report.describe()
    assert (await world.services.resealer.run()).total_resealed == 0

    # The old key is removed for good: only the new one remains, and all still opens.
    key_file.unlink()
    await restart_with(world, secret_key_b64=new)
    assert not world.services.sealer.has_previous_keys
    await sealed.all_open()


async def test_rotating_again_through_the_previous_keys_setting(world: World) -> None:
    sealed = await seal_everything(world)
    first = base64.b64encode(base64.b64decode(world.settings.secret_key_path.read_text()))
    second, third = new_key(), new_key()
    world.settings.secret_key_path.unlink()  # from now on keys come from the environment
    await restart_with(
        world, secret_key_b64=second, previous_secret_keys_b64=(first.decode("ascii"),)
    )
    await world.services.resealer.run()
    # A second rotation before every operator copy caught up: third current, second previous.
    await restart_with(world, secret_key_b64=third, previous_secret_keys_b64=(second,))
    await sealed.all_open()
    assert (await world.services.resealer.run()).old_keys_can_be_removed
    await restart_with(world, secret_key_b64=third, previous_secret_keys_b64=())
    await sealed.all_open()


async def test_a_value_under_a_key_missing_from_the_ring_is_reported_not_overwritten(
    world: World,
) -> None:
    sealed = await seal_everything(world)
    services = world.services
    stranger = Sealer(secrets.token_bytes(32))
    foreign = stranger.seal(WITNESS_NUMBER)
    async with services.store.write() as uow:
        await uow.witnesses.set_phone(
            sealed.witness_id, foreign, services.phones.index(WITNESS_NUMBER)
        )
    with pytest.raises(UnknownSealingKey, match=stranger.current_prefix[1:].hex()):
        services.phones.open(foreign)

    report = await services.resealer.run()
    assert not report.old_keys_can_be_removed
    assert report.unreadable["witnesses.phone_sealed"] == 1
    assert "open under no key of the ring" in report.describe()
    async with services.store.read() as uow:
        assert await uow.witnesses.phone(sealed.witness_id) == foreign


async def test_a_server_missing_the_key_its_data_is_under_refuses_to_start_and_says_which(
    world: World,
) -> None:
    await seal_everything(world)
    old = base64.b64decode(world.settings.secret_key_path.read_text())
    world.settings.secret_key_path.unlink()
    replacement = new_key()
    wrong = replace(world.settings, secret_key_b64=replacement)
    with pytest.raises(UnknownSealingKey) as refused:
        await open_services(wrong, world.clock, world.services.db, hub=None, events=NullEventSink())
    assert key_id(old).hex() in str(refused.value)
    assert replacement not in str(refused.value)


async def test_every_instance_runs_the_reseal_job_at_the_configured_interval(
    world: World,
) -> None:
    await restart_with(world, reseal_interval_s=42.0)
    jobs = BackgroundJobs(world.services)
    assert "reseal" in jobs.watchdog.report()["jobs"]
    (job,) = [j for j in jobs._scheduler.get_jobs() if j.id == "reseal"]
    assert job.trigger.interval.total_seconds() == 42.0
