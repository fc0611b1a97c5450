"""Changing a PIN keeps its meaning (the PIN stays the PIN, the duress PIN stays the
duress PIN), retires the old one everywhere, and survives a crash at any step: the new
confirmation key is registered first (endorsed by the old one), then the header's slot
is replaced, then the old key is dropped."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from client_sdk import WrongSecret
from client_sdk import pins as pins_module
from client_sdk.vault import Vault
from tests.support.kdf import DURESS_PIN, WITNESS_PIN
from tests.support.world import World
from tests.vault.helpers import RATE_WINDOW_S, confirm_keys, open_phone, unlock_state
from tests.welfare.helpers import alerts_of, open_case

NEW_PIN = "630285"
NEW_DURESS_PIN = "417396"


def _later(world: World) -> None:
    world.clock.advance(timedelta(seconds=RATE_WINDOW_S * 3))


async def _roles(world: World, device: str) -> list[str]:
    return sorted(k.role.value for k in await confirm_keys(world, device))


async def test_changing_the_pin_retires_the_old_one(world: World) -> None:
    talk, store = await open_case(world, duress_pin=DURESS_PIN)
    device = talk.witness.device_id
    await talk.witness.change_pin(WITNESS_PIN, NEW_PIN)
    assert await _roles(world, device) == ["duress", "primary"]
    await talk.witness.close()

    _later(world)
    with pytest.raises(WrongSecret):
        await open_phone(world, store, WITNESS_PIN)
    _later(world)
    phone = await open_phone(world, store, NEW_PIN)
    await phone.close()
    assert await alerts_of(talk.worker, "duress") == []
    with pytest.raises(ValueError, match="in use"):
        await phone_change(world, store, NEW_PIN, DURESS_PIN)


async def phone_change(world: World, store: Path, old: str, new: str) -> None:
    _later(world)
    phone = await open_phone(world, store, old)
    try:
        await phone.change_pin(old, new)
    finally:
        await phone.close()


async def test_changing_the_duress_pin_keeps_it_the_duress_pin(world: World) -> None:
    talk, store = await open_case(world, duress_pin=DURESS_PIN)
    device = talk.witness.device_id
    await talk.witness.close()
    await phone_change(world, store, DURESS_PIN, NEW_DURESS_PIN)
    assert await _roles(world, device) == ["duress", "primary"]
    _later(world)
    with pytest.raises(WrongSecret):
        await open_phone(world, store, DURESS_PIN)
    _later(world)
    await (await open_phone(world, store, WITNESS_PIN)).close()  # ends the first duress
    _later(world)
    await (await open_phone(world, store, NEW_DURESS_PIN)).close()
    assert (await unlock_state(world, device)).duress_since is not None


async def test_a_change_interrupted_before_the_header_write_is_undone(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    talk, store = await open_case(world)
    device = talk.witness.device_id

    async def crash(self: Vault, *args: object, **kwargs: object) -> None:
        raise OSError("the app was killed before the header was written")

    with monkeypatch.context() as patch:
        patch.setattr(Vault, "set_slots", crash)
        with pytest.raises(OSError, match="killed"):
            await talk.witness.change_pin(WITNESS_PIN, NEW_PIN)
    assert len(await confirm_keys(world, device)) == 2  # the new key got registered
    await talk.witness.close()

    _later(world)
    await (await open_phone(world, store, WITNESS_PIN)).close()  # finishes: undoes it
    assert await _roles(world, device) == ["primary"]
    _later(world)
    with pytest.raises(WrongSecret):
        await open_phone(world, store, NEW_PIN)


async def test_a_change_interrupted_after_the_header_write_is_finished(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    talk, store = await open_case(world)
    device = talk.witness.device_id

    async def killed(vault: Vault, transport: object) -> bool:
        return False  # the app was killed before it could retire the old key

    with monkeypatch.context() as patch:
        patch.setattr(pins_module, "finish_pin_change", killed)
        await talk.witness.change_pin(WITNESS_PIN, NEW_PIN)
    old_and_new = {k.public_key for k in await confirm_keys(world, device)}
    assert len(old_and_new) == 2
    await talk.witness.close()

    _later(world)
    await (await open_phone(world, store, NEW_PIN)).close()  # finishes: retires the old
    (kept,) = await confirm_keys(world, device)
    assert kept.public_key in old_and_new
    _later(world)
    with pytest.raises(WrongSecret):
        await open_phone(world, store, WITNESS_PIN)
