"""Trivial PINs are refused — before anything is created or sent — and the duress PIN
must differ from the PIN; a staff store needs a passphrase of twelve characters."""

from __future__ import annotations

import pytest

from client_sdk import StaffClient, WitnessClient
from client_sdk.pin_policy import check_passphrase, check_pin, check_pins
from tests.support.kdf import DURESS_PIN, FAST_KDF, WITNESS_PIN
from tests.support.world import PASSWORD, World, finish_in_person


@pytest.mark.parametrize(
    ("pin", "why"),
    [
        ("2468", "at least 6 digits"),
        ("12345", "at least 6 digits"),
        ("12a456", "digits only"),
        ("１２８４６１", "digits only"),  # full-width digits  # noqa: RUF001
        (" 284619", "digits only"),
        ("111111", "repeat one digit"),
        ("00000000", "repeat one digit"),
        ("123456", "run of digits"),
        ("654321", "run of digits"),
        ("012345", "run of digits"),
        ("890123", "run of digits"),
        ("121212", "short pattern"),
        ("123123", "short pattern"),
        ("147147147", "short pattern"),
        ("112233", "most common"),
        ("696969", "short pattern"),
        ("159753", "most common"),
        ("102030", "most common"),
    ],
)
def test_trivial_pins_are_refused(pin: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        check_pin(pin)


@pytest.mark.parametrize("pin", [WITNESS_PIN, DURESS_PIN, "5804137", "90210577", "031986"])
def test_ordinary_pins_are_accepted(pin: str) -> None:
    check_pin(pin)


def test_the_duress_pin_must_differ() -> None:
    with pytest.raises(ValueError, match="must differ"):
        check_pins(WITNESS_PIN, WITNESS_PIN)
    with pytest.raises(ValueError, match="repeat"):
        check_pins(WITNESS_PIN, "999999")
    check_pins(WITNESS_PIN, DURESS_PIN)
    check_pins(WITNESS_PIN, None)


def test_a_staff_passphrase_needs_twelve_characters() -> None:
    with pytest.raises(ValueError, match="12 characters"):
        check_passphrase("eleven char")
    with pytest.raises(ValueError, match="12 characters"):
        check_passphrase("   padded   ")
    check_passphrase("twelve chars")


async def test_enrolment_refuses_a_trivial_pin_before_using_the_code(world: World) -> None:
    officer = await world.login("officer")
    case = await officer.create_case("DE-2026-0042", world.agencies["support"])
    enrolment = await officer.add_witness(
        case["case_id"], alias="Sparrow", language="ro", timezone="Europe/Bucharest"
    )
    store = world.tmp / "phone.store"
    for pin, duress in (("123456", None), (WITNESS_PIN, WITNESS_PIN), (WITNESS_PIN, "111111")):
        with pytest.raises(ValueError, match="PIN"):
            await WitnessClient.enroll(
                world.url, enrolment.code, store, pin, duress_pin=duress, kdf=FAST_KDF
            )
        assert not store.exists()
    with pytest.raises(ValueError, match="duress PIN"):
        await WitnessClient.enroll(
            world.url, enrolment.code, store, WITNESS_PIN, wipe_on_duress=True, kdf=FAST_KDF
        )
    # The code was not spent: the phone enrols with acceptable PINs.
    pending = await WitnessClient.enroll(
        world.url, enrolment.code, store, WITNESS_PIN, duress_pin=DURESS_PIN, kdf=FAST_KDF
    )
    await finish_in_person(officer, enrolment, pending)
    await pending.client.close()


async def test_staff_login_refuses_a_short_passphrase(world: World) -> None:
    store = world.tmp / "officer.store"
    with pytest.raises(ValueError, match="12 characters"):
        await StaffClient.login(world.url, "officer", PASSWORD, store, "short", kdf=FAST_KDF)
    assert not store.exists()
