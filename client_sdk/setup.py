"""Creating a device: local store, Olm account, and the registration the server checks.

Shared by witness enrolment and staff login. The account is written to the encrypted
store before anything is sent, and one-time keys are marked published only after the
server has them. A witness phone's store is created with no usable key slot (its PINs
need the server, see :mod:`client_sdk.pins`); a staff store opens with a passphrase.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from client_sdk.crypto import OlmDevice
from client_sdk.delivery_records import DeliveryRecords, FallbackKeyState
from client_sdk.errors import NotEnrolled
from client_sdk.keywrap import KeyWrapper
from client_sdk.localstore import DeviceIdentity, LocalStore, SelfPerson
from client_sdk.trust import TrustState
from client_sdk.vault import DEFAULT_KDF, KdfParams, Vault
from wire.keys import device_proof_payload

INITIAL_ONE_TIME_KEYS = 50


@dataclass
class DeviceDraft:
    store: LocalStore
    olm: OlmDevice
    registration: dict[str, Any]


async def create_device(
    store_path: Path,
    passphrase: str | None,
    *,
    name: str,
    context: str,
    kdf: KdfParams = DEFAULT_KDF,
    wrapper: KeyWrapper | None = None,
) -> DeviceDraft:
    """Create the store and the Olm account; return the registration body to send.

    ``passphrase`` opens a staff store; ``None`` makes a witness phone's store, whose
    PINs are installed after registration.

    Raises:
        VaultExists: there is already a store at ``store_path``.
        ValueError: a passphrase under twelve characters.
    """
    if passphrase is None:
        vault = await Vault.create_for_server(store_path, kdf=kdf, wrapper=wrapper)
    else:
        vault = await Vault.create_with_passphrase(store_path, passphrase, kdf=kdf, wrapper=wrapper)
    store = LocalStore(vault)
    olm = OlmDevice.create()
    one_time_keys = olm.generate_one_time_keys(INITIAL_ONE_TIME_KEYS)
    fallback = olm.generate_fallback_key()
    account, sessions = olm.take_changes()
    await store.write(
        [
            *LocalStore.olm_puts(account, olm.pickle_key, sessions),
            # Which fallback key is current, so that its use is noticed (it is replaced).
            DeliveryRecords.fallback_key_put(FallbackKeyState(public_key=fallback.key)),
        ]
    )
    registration = {
        "name": name,
        "curve25519": olm.curve25519,
        "ed25519": olm.ed25519,
        "proof": olm.sign(device_proof_payload(olm.curve25519, olm.ed25519, context)),
        "one_time_keys": [k.as_json() for k in one_time_keys],
        "fallback_key": fallback.as_json(),
    }
    return DeviceDraft(store, olm, registration)


async def finish_device(new: DeviceDraft, identity: DeviceIdentity, me: SelfPerson) -> None:
    """Record the server's answer: the device identity, its person, published keys."""
    new.olm.mark_published()
    account, sessions = new.olm.take_changes()
    puts = LocalStore.olm_puts(account, new.olm.pickle_key, sessions)
    puts.append(LocalStore.identity_put(identity))
    puts.append(LocalStore.person_put(me))
    await new.store.write(puts)


@dataclass
class OpenedDevice:
    store: LocalStore
    identity: DeviceIdentity
    olm: OlmDevice
    trust: TrustState


async def load_device(vault: Vault) -> OpenedDevice:
    """The device kept in an open store.

    Raises:
        NotEnrolled: the store has no completed enrolment (the vault is closed).
    """
    store = LocalStore(vault)
    identity = await store.identity()
    state = await store.olm_state()
    me = await store.person()
    if identity is None or state is None or me is None:
        await vault.close()
        raise NotEnrolled("this store holds no enrolled device")
    olm_state, sessions = state
    olm = OlmDevice.restore(olm_state.account_pickle, olm_state.pickle_key, sessions)
    return OpenedDevice(store, identity, olm, await TrustState.load(store, me))


async def open_device(
    store_path: Path, passphrase: str, *, wrapper: KeyWrapper | None = None
) -> OpenedDevice:
    """Open an existing staff store with its passphrase.

    Raises:
        VaultNotFound, VaultUnavailable, WrongSecret: see :class:`~client_sdk.vault.Vault`.
        NotEnrolled: the store has no completed enrolment.
    """
    return await load_device(
        await Vault.open_with_passphrase(store_path, passphrase, wrapper=wrapper)
    )
