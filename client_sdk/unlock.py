"""Opening a witness phone's store: the PIN, stretched, then evaluated by the server.

The order is what makes a crash harmless and both PINs alike:

1. **Argon2id** of the PIN with the header's salt, on a worker thread — the slow,
   memory-heavy step. Nothing has been sent yet: if the system kills the app here, no
   attempt exists anywhere.
2. **One OPRF round trip** (RFC 9497 VOPRF, ristretto255-SHA512): the stretched PIN
   goes out blinded, the evaluation comes back with a proof checked against the
   server's public key pinned at setup. The server counts it as a guess.
3. ``HKDF(stretched || oprf)`` gives the slot key and the *confirmation key*; every slot
   is tried (the same work whichever opens).
4. **Confirmation at once**: the confirmation key signs the server's challenge, which
   resets the count — and tells the server, not the phone, whether it was the duress
   PIN. Only then is the SQLite store opened.

The phone does not know which PIN it was given; the same code runs, waits for the same
things and shows the same store. Without the server nothing opens, for either PIN:
after the Argon2id step the failed network call ends in :class:`ServerUnreachable`,
from which the app gets a locked, write-only phone (:mod:`client_sdk.locked`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.signing
from voprf import ristretto

from client_sdk import _vault_format as fmt
from client_sdk._vault_header import Header, Locator
from client_sdk.errors import ApiError, NotEnrolled, TransportError, WitnesslinkError
from client_sdk.keywrap import KeyWrapper
from client_sdk.transport import Transport
from client_sdk.vault import Vault, VaultError, VaultWiped, WrongSecret
from wire.vault import (
    ELEMENT_BYTES,
    PROOF_BYTES,
    confirm_payload,
    decode,
    encode,
)

log = logging.getLogger("witnesslink.sdk")

SLOT_INFO = b"witnesslink/vault/v2/slot"
CONFIRM_INFO = b"witnesslink/vault/v2/confirm"


class ServerMisbehaved(VaultError):
    """The server's evaluation did not verify against the key pinned at setup."""


class ServerUnreachable(WitnesslinkError):
    """The server could not be asked (offline): the store stays locked. Carries what a
    retry needs, so the slow derivation is not run again."""

    def __init__(self, header: Header, stretched: bytes) -> None:
        super().__init__("the server cannot be reached: the store stays locked")
        self.header = header
        self.stretched = stretched


@dataclass(frozen=True, repr=False)
class PinKeys:
    """What a PIN (with the server's evaluation) opens: its slot and its confirmation
    key. Never stored."""

    slot_key: bytes
    confirm: nacl.signing.SigningKey

    @property
    def public_key(self) -> str:
        return encode(bytes(self.confirm.verify_key))

    def sign(self, payload: bytes) -> str:
        return encode(self.confirm.sign(payload).signature)


def derive_keys(stretched: bytes, oprf_output: bytes) -> PinKeys:
    """``HKDF-SHA256(stretched || oprf)`` -> slot key, confirmation key seed."""
    material = stretched + oprf_output
    return PinKeys(
        slot_key=fmt.hkdf_sha256(material, SLOT_INFO),
        confirm=nacl.signing.SigningKey(fmt.hkdf_sha256(material, CONFIRM_INFO)),
    )


async def stretch(pin: str, header: Header) -> bytes:
    """Argon2id of the PIN with the header's salt and cost, on a worker thread."""
    secret = fmt.encode_secret(pin)
    return await asyncio.to_thread(
        fmt.stretch, secret, header.salt, header.opslimit, header.memlimit
    )


def blind(stretched: bytes) -> tuple[ristretto.Client, str]:
    client, blinded = ristretto.Client.blind(stretched)
    return client, encode(bytes(blinded.serialize()))


def finalize(client: ristretto.Client, reply: dict[str, Any], public_key: bytes) -> bytes:
    """Unblind an evaluation after checking its proof against the pinned key.

    Raises:
        ServerMisbehaved: the proof does not verify, or the reply is malformed.
    """
    try:
        proof = decode(str(reply["proof"]), PROOF_BYTES)
        element = decode(str(reply["element"]), ELEMENT_BYTES)
        output = ristretto.VerifiableOutput.deserialize(proof + element)
        return bytes(client.finalize(output, ristretto.PublicKey.deserialize(public_key)))
    except (KeyError, ValueError) as exc:
        raise ServerMisbehaved("the server's evaluation does not verify") from exc


@dataclass(frozen=True)
class Evaluation:
    output: bytes
    attempt_id: str
    challenge: str
    attempts_left: int


class UnlockServer:
    """The unlock endpoints, authenticated with the device's unlock credential."""

    def __init__(self, locator: Locator) -> None:
        self._locator = locator
        self._transport = Transport(locator.server_url, locator.unlock_token)
        self._base = f"/v1/vault/unlock/{locator.device_id}"

    async def evaluate(self, stretched: bytes) -> Evaluation:
        """Raises: ServerMisbehaved, ApiError, TransportError."""
        client, blinded = blind(stretched)
        reply = await self._transport.request(
            "POST", f"{self._base}/evaluate", json={"blinded": blinded}
        )
        output = finalize(client, reply, self._locator.oprf_public_key)
        return Evaluation(
            output, str(reply["attempt_id"]), str(reply["challenge"]), int(reply["attempts_left"])
        )

    async def confirm(self, keys: PinKeys, attempt_id: str, challenge: str) -> None:
        """Raises: ApiError, TransportError."""
        payload = confirm_payload(self._locator.device_id, attempt_id, challenge)
        await self._transport.request(
            "POST",
            f"{self._base}/confirm",
            json={"attempt_id": attempt_id, "signature": keys.sign(payload)},
        )

    async def confirm_again(self, keys: PinKeys) -> None:
        """A fresh challenge, confirmed (a confirmation that did not get through).

        Raises: ApiError, TransportError."""
        reply = await self._transport.request("POST", f"{self._base}/challenge", json={})
        await self.confirm(keys, str(reply["attempt_id"]), str(reply["challenge"]))

    async def failed(self, attempt_id: str) -> int:
        """Raises: ApiError (410 when this erased the store), TransportError."""
        reply = await self._transport.request(
            "POST", f"{self._base}/failed", json={"attempt_id": attempt_id}
        )
        return int(reply["attempts_left"])

    async def close(self) -> None:
        await self._transport.close()


@dataclass(repr=False)
class Unlocked:
    """An opened store and the confirmation key of the PIN that opened it (held in
    memory for the session, to retry a confirmation that did not get through)."""

    vault: Vault
    keys: PinKeys
    confirmed: bool


def locator_of(header: Header) -> Locator:
    """Raises: NotEnrolled if no PIN was ever installed in this store."""
    if header.locator is None:
        raise NotEnrolled("no PIN was installed in this store (enrolment did not finish)")
    return header.locator


async def unlock_with_pin(path: Path, pin: str, *, wrapper: KeyWrapper | None = None) -> Unlocked:
    """Open a witness store with a PIN (either of its PINs: it cannot tell).

    Raises:
        VaultNotFound, VaultUnavailable, VaultFormatError: no readable store here.
        NotEnrolled: no PIN was installed.
        ValueError: an empty PIN.
        ServerUnreachable: offline; nothing was counted (retry with its contents).
        WrongSecret: the PIN opens nothing (``attempts_left`` when the server said).
        VaultWiped: the server has erased this store's key: the local files are
            destroyed too.
        ServerMisbehaved: the evaluation did not verify.
        ApiError: the server refused otherwise (e.g. 429: wait).
    """
    header = await Vault.read_header(path, wrapper)
    locator_of(header)
    return await unlock_with_stretched(path, header, await stretch(pin, header), wrapper=wrapper)


async def unlock_with_stretched(
    path: Path, header: Header, stretched: bytes, *, wrapper: KeyWrapper | None = None
) -> Unlocked:
    """Steps 2-4 of the module docstring (a retry after :class:`ServerUnreachable`).

    Raises: as :func:`unlock_with_pin`.
    """
    server = UnlockServer(locator_of(header))
    try:
        try:
            evaluation = await server.evaluate(stretched)
        except TransportError as exc:
            raise ServerUnreachable(header, stretched) from exc
        except ApiError as error:
            await _erased_if(error, path, wrapper)
            raise
        keys = derive_keys(stretched, evaluation.output)
        found = fmt.open_slots(keys.slot_key, header.slots)
        if found is None:
            raise WrongSecret(await _report_failure(server, evaluation, path, wrapper))
        confirmed = await _confirm(server, keys, evaluation)
    finally:
        await server.close()
    vault = await Vault.open_with_data_key(path, found[1], wrapper=wrapper)
    return Unlocked(vault, keys, confirmed)


async def confirm_again(header: Header, keys: PinKeys) -> bool:
    """Retry a confirmation that did not get through; True once the server has it."""
    server = UnlockServer(locator_of(header))
    try:
        await server.confirm_again(keys)
    except (TransportError, ApiError):
        return False
    finally:
        await server.close()
    return True


async def _confirm(server: UnlockServer, keys: PinKeys, evaluation: Evaluation) -> bool:
    try:
        await server.confirm(keys, evaluation.attempt_id, evaluation.challenge)
    except TransportError:
        return False  # retried in the background (confirm_again)
    except ApiError as error:
        # The slot opened, so the PIN is right; the session goes on, and the app
        # retries. Nothing about the PIN is logged.
        log.warning("the server did not take the unlock confirmation (%s)", error.code)
        return False
    return True


async def _report_failure(
    server: UnlockServer, evaluation: Evaluation, path: Path, wrapper: KeyWrapper | None
) -> int | None:
    """Tell the server at once that this PIN opened nothing (so the last allowed wrong
    PIN erases now, not at the next try); the attempts left, if known."""
    try:
        return await server.failed(evaluation.attempt_id)
    except TransportError:
        return max(0, evaluation.attempts_left)
    except ApiError as error:
        await _erased_if(error, path, wrapper)
        return None


async def _erased_if(error: ApiError, path: Path, wrapper: KeyWrapper | None) -> None:
    """The server erased the store's key: destroy what is left here, and say so.

    Raises:
        VaultWiped: when ``error`` is ``store-erased``.
    """
    if error.code == "store-erased":
        await Vault.destroy(path, wrapper=wrapper)
        raise VaultWiped("the store has been erased: it can no longer be opened") from error
