"""The key-wrapping seam: what a phone app's Keystore / Secure Enclave wrapper relies on.

A wrapper the app supplies is the only thing that ever sees the header's plaintext; a
wrapper whose key is gone makes the store unopenable (before anything is asked of the
server); the header file says nothing to whoever lacks the key; a wipe destroys it.
"""

from __future__ import annotations

import secrets
import zlib
from pathlib import Path

import nacl.exceptions
import nacl.secret
import pytest

from client_sdk import (
    KeyWrapper,
    SoftwareKeyWrapper,
    VaultUnavailable,
    WitnessClient,
    WrapperError,
)
from client_sdk import _vault_header as hdr
from tests.support.kdf import FAST_KDF, WITNESS_PIN
from tests.support.world import World, finish_in_person
from tests.vault.helpers import unlock_state


class KeystoreLike:
    """What an app's hardware-backed wrapper looks like to the SDK: a key it never
    hands out (here held in memory, as a key store holds it outside the app)."""

    def __init__(self) -> None:
        self._key: bytes | None = None
        self.wrapped: list[bytes] = []
        self.destroyed = False

    def create(self) -> None:
        if self._key is not None:
            raise WrapperError("a key exists")
        self._key = secrets.token_bytes(32)

    def wrap(self, plaintext: bytes) -> bytes:
        out = bytes(nacl.secret.SecretBox(self._live()).encrypt(plaintext))
        self.wrapped.append(out)
        return out

    def unwrap(self, wrapped: bytes) -> bytes:
        try:
            return bytes(nacl.secret.SecretBox(self._live()).decrypt(wrapped))
        except nacl.exceptions.CryptoError as exc:
            raise WrapperError("not ours") from exc

    def destroy(self) -> None:
        self._key = None
        self.destroyed = True

    def _live(self) -> bytes:
        if self._key is None:
            raise WrapperError("the key is gone")
        return self._key


async def _enrol(world: World, wrapper: KeyWrapper, name: str = "phone") -> WitnessClient:
    officer = await world.login("officer")
    case = await officer.create_case(f"DE-{name}", world.agencies["support"])
    enrolment = await officer.add_witness(
        case["case_id"], alias="Sparrow", language="ro", timezone="Europe/Bucharest"
    )
    pending = await WitnessClient.enroll(
        world.url,
        enrolment.code,
        world.tmp / f"{name}.store",
        WITNESS_PIN,
        kdf=FAST_KDF,
        wrapper=wrapper,
        clock=world.clock,
    )
    world.clients.append(pending.client)
    return await finish_in_person(officer, enrolment, pending)


def test_the_software_wrapper_honours_the_contract(tmp_path: Path) -> None:
    wrapper = SoftwareKeyWrapper(tmp_path / "key")
    assert isinstance(wrapper, KeyWrapper)
    with pytest.raises(WrapperError):
        wrapper.wrap(b"no key yet")
    wrapper.create()
    with pytest.raises(WrapperError):
        wrapper.create()  # never silently replaces a key: a store would be orphaned
    wrapped = wrapper.wrap(b"header")
    assert wrapper.unwrap(wrapped) == b"header"
    with pytest.raises(WrapperError):
        wrapper.unwrap(wrapped[:-1] + bytes([wrapped[-1] ^ 1]))
    wrapper.destroy()
    wrapper.destroy()  # idempotent
    with pytest.raises(WrapperError):
        wrapper.unwrap(wrapped)


async def test_an_apps_wrapper_is_the_only_one_that_sees_the_header(world: World) -> None:
    keystore = KeystoreLike()
    phone = await _enrol(world, keystore)
    store = phone._store.vault.path
    await phone.close()
    assert not store.with_name(store.name + ".key").exists()  # no software key made
    data = hdr.header_path(store).read_bytes()
    for wrapped in keystore.wrapped[-2:]:
        assert wrapped in data

    reopened = await WitnessClient.open(store, WITNESS_PIN, clock=world.clock, wrapper=keystore)
    world.clients.append(reopened)
    assert reopened.device_id == phone.device_id


async def test_a_wrapper_whose_key_is_gone_makes_the_store_unopenable(world: World) -> None:
    keystore = KeystoreLike()
    phone = await _enrol(world, keystore)
    store, device = phone._store.vault.path, phone.device_id
    await phone.close()

    keystore.destroy()  # e.g. the phone's key store was reset, or the files moved
    with pytest.raises(VaultUnavailable):
        await WitnessClient.open(store, WITNESS_PIN, clock=world.clock, wrapper=keystore)
    # Nothing was asked of the server: without the header there is no attempt at all.
    assert (await unlock_state(world, device)).unconfirmed == 0

    # The software wrapper's key file likewise.
    other = SoftwareKeyWrapper(world.tmp / "sw.key")
    phone = await _enrol(world, other, "second")
    path = phone._store.vault.path
    await phone.close()
    other.path.unlink()
    with pytest.raises(VaultUnavailable):
        await WitnessClient.open(path, WITNESS_PIN, clock=world.clock, wrapper=other)


async def test_the_header_bytes_reveal_nothing_without_the_key(world: World) -> None:
    keystore = KeystoreLike()
    phone = await _enrol(world, keystore)
    store = phone._store.vault.path
    header = phone._store.vault.header
    assert header.locator is not None
    await phone.close()
    data = hdr.header_path(store).read_bytes()
    for needle in (
        header.salt,
        header.locator.server_url.encode(),
        header.locator.device_id.encode(),
        header.locator.unlock_token.encode(),
        header.locator.oprf_public_key,
        header.outbox_public_key,
        *header.slots,
    ):
        assert needle not in data
    # Indistinguishable from random bytes: nothing to compress, no structure to read.
    assert len(zlib.compress(data, 9)) > 0.99 * len(data)


async def test_wipe_destroys_the_wrappers_key(world: World) -> None:
    keystore = KeystoreLike()
    phone = await _enrol(world, keystore)
    await phone.wipe()
    assert keystore.destroyed
