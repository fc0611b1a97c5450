"""Installing and changing a witness phone's PINs with the server.

:func:`install_pins` runs once, during enrolment, after the device is registered (it
has its token) and its keys are in the new store (:meth:`Vault.create_for_server`):
the server creates the device's OPRF key and unlock credential and evaluates the PIN
and the duress PIN; the phone registers the two confirmation keys (the server alone
learns which is the duress one) and only then writes the slots and the locator into
the header. Before that last step nothing can open the store, so an enrolment that
stops half-way is started again, never left half-open.

:func:`change_pin` replaces one PIN (whichever the user types as the old one) in an
order that survives a crash at any point: the new key is endorsed by the old one and
registered with its role, the header's slot is replaced, then the old key is retired.
A note in the store says how to finish (or undo) a change that was interrupted, and
:func:`finish_pin_change` does it at the next unlock.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from typing import Any

import msgspec

from client_sdk import _vault_format as fmt
from client_sdk._vault_header import Locator
from client_sdk.errors import ApiError, TransportError
from client_sdk.pin_policy import check_pin, check_pins
from client_sdk.transport import Transport
from client_sdk.unlock import (
    PinKeys,
    UnlockServer,
    blind,
    derive_keys,
    finalize,
    locator_of,
    stretch,
)
from client_sdk.vault import Vault, VaultError, WrongSecret
from wire.vault import OPRF_PUBLIC_KEY_BYTES, confirm_payload, decode, endorse_payload
from wire.vault import retire_payload as retire_message

_PENDING = ("vault", "pin_change")


async def install_pins(
    vault: Vault,
    transport: Transport,
    *,
    pin: str,
    duress_pin: str | None = None,
    wipe_on_duress: bool = False,
) -> None:
    """Set up the PIN (and optionally a duress PIN) of a newly enrolled phone.

    ``vault`` comes from :meth:`Vault.create_for_server`; ``transport`` carries the
    device's token. With ``wipe_on_duress`` the server erases the store's key the
    moment the duress PIN is used: the open session looks as usual, and the store never
    opens again.

    Raises:
        ValueError: a PIN the policy refuses (checked before anything is sent), the
            two PINs are the same, or ``wipe_on_duress`` without a duress PIN.
        ApiError, TransportError: the server refused or could not be reached (the store
            still has no usable slot: enrol again).
        ServerMisbehaved: an evaluation did not verify.
        VaultError: the store is closed, or writing its header failed.
    """
    check_pins(pin, duress_pin)
    if wipe_on_duress and duress_pin is None:
        raise ValueError("wipe_on_duress needs a duress PIN")
    header = vault.header
    if header.locator is not None:
        raise VaultError("this store's PINs are already installed")
    pins = [pin] if duress_pin is None else [pin, duress_pin]
    stretched = [await stretch(p, header) for p in pins]
    blinded = [blind(s) for s in stretched]
    reply = await transport.request(
        "POST", "/v1/vault/setup", json={"blinded": [b for _c, b in blinded]}
    )
    public_key = decode(str(reply["oprf_public_key"]), OPRF_PUBLIC_KEY_BYTES)
    keys = [
        derive_keys(s, finalize(client, evaluation, public_key))
        for s, (client, _b), evaluation in zip(
            stretched, blinded, reply["evaluations"], strict=True
        )
    ]
    roles = ["primary", "duress"][: len(keys)]
    await transport.request(
        "PUT",
        "/v1/vault/keys",
        json={
            "keys": [
                {"public_key": k.public_key, "role": r} for k, r in zip(keys, roles, strict=True)
            ],
            "wipe_on_duress": wipe_on_duress,
        },
    )
    slots = [fmt.decoy_slot() for _ in range(fmt.SLOT_CAPACITY)]
    positions = secrets.SystemRandom().sample(range(fmt.SLOT_CAPACITY), len(keys))
    for position, key in zip(positions, keys, strict=True):
        slots[position] = await vault.seal_data_key(key.slot_key)
    locator = Locator(
        server_url=transport.base_url,
        device_id=str(reply["device_id"]),
        unlock_token=str(reply["unlock_token"]),
        oprf_public_key=public_key,
    )
    await vault.set_slots(slots, locator=locator)


class _PinChange(msgspec.Struct, kw_only=True):
    """How to finish or undo an interrupted PIN change (no key material: signatures)."""

    position: int
    new_slot_digest: bytes
    old_key: str
    new_key: str
    retire_old: str  # by the new key: drop the old one (the change went through)
    retire_new: str  # by the old key: drop the new one (the header kept the old slot)


async def change_pin(vault: Vault, transport: Transport, old_pin: str, new_pin: str) -> None:
    """Replace the PIN ``old_pin`` by ``new_pin``, keeping its role (the PIN stays the
    PIN, the duress PIN stays the duress PIN).

    ``transport`` carries the device token. Costs two Argon2id derivations and two
    counted evaluations (the first one confirmed as an unlock, the second by the change).

    Raises:
        ValueError: the policy refuses ``new_pin``, or it already opens a slot.
        WrongSecret: ``old_pin`` opens nothing in this store.
        ApiError, TransportError, ServerMisbehaved: the server step failed (the store
            is unchanged, or the change is finished at the next unlock).
    """
    check_pin(new_pin)
    locator = locator_of(vault.header)
    server = UnlockServer(locator)
    try:
        old_keys, position = await _prove_old_pin(vault, server, old_pin)
        stretched = await stretch(new_pin, vault.header)
        evaluation = await server.evaluate(stretched)
        new_keys = derive_keys(stretched, evaluation.output)
        if fmt.open_slots(new_keys.slot_key, vault.header.slots) is not None:
            raise ValueError("this PIN is already in use: choose another")
        new_slot = await vault.seal_data_key(new_keys.slot_key)
        device = locator.device_id
        note = _PinChange(
            position=position,
            new_slot_digest=hashlib.sha256(new_slot).digest(),
            old_key=old_keys.public_key,
            new_key=new_keys.public_key,
            retire_old=new_keys.sign(retire_message(device, old_keys.public_key)),
            retire_new=old_keys.sign(retire_message(device, new_keys.public_key)),
        )
        await vault.put(*_PENDING, msgspec.json.encode(note))
        challenge = (device, evaluation.attempt_id, evaluation.challenge)
        await transport.request(
            "POST",
            "/v1/vault/keys/endorse",
            json={
                "attempt_id": evaluation.attempt_id,
                "public_key": new_keys.public_key,
                "signature": new_keys.sign(confirm_payload(*challenge)),
                "endorsement": old_keys.sign(endorse_payload(*challenge, new_keys.public_key)),
            },
        )
    finally:
        await server.close()
    slots = list(vault.header.slots)
    slots[position] = new_slot
    await vault.set_slots(slots)
    await finish_pin_change(vault, transport)


async def finish_pin_change(vault: Vault, transport: Transport) -> bool:
    """Finish (or undo) an interrupted PIN change; True when nothing is left to do.

    The header decides: if it holds the new slot, the old key is retired; if not, the
    new key (possibly registered) is. Safe to call at every unlock.
    """
    raw = await vault.get(*_PENDING)
    if raw is None:
        return True
    note = msgspec.json.decode(raw, type=_PinChange)
    installed = hashlib.sha256(vault.header.slots[note.position]).digest() == note.new_slot_digest
    body: dict[str, Any] = (
        {"public_key": note.old_key, "signature": note.retire_old}
        if installed
        else {"public_key": note.new_key, "signature": note.retire_new}
    )
    try:
        await transport.request("POST", "/v1/vault/keys/retire", json=body)
    except TransportError:
        return False
    except ApiError as error:
        if error.retryable:
            return False
        # signature-invalid: the key that should sign is not registered (the change
        # never reached the server): nothing to retire.
    await vault.delete(*_PENDING)
    return True


async def _prove_old_pin(vault: Vault, server: UnlockServer, old_pin: str) -> tuple[PinKeys, int]:
    """An ordinary unlock round with the old PIN against the open store: its keys and
    the position of its slot.

    Raises:
        WrongSecret: it opens no slot of this store.
    """
    stretched = await stretch(old_pin, vault.header)
    evaluation = await server.evaluate(stretched)
    keys = derive_keys(stretched, evaluation.output)
    position = await vault.slot_of(keys.slot_key)
    if position is None:
        left = None
        with contextlib.suppress(TransportError, ApiError):
            left = await server.failed(evaluation.attempt_id)
        raise WrongSecret(left)
    await server.confirm(keys, evaluation.attempt_id, evaluation.challenge)
    return keys, position
