"""This device's fallback key: replaced once it has been used, and at least weekly.

A fallback key is what others get when they claim a key of this device and no one-time
key is left for them (the device ran out, or the claimer used up its allowance). Unlike
a one-time key it can be used by many sessions, so it is replaced as soon as a session
was opened with it (a pre-key message built on it decrypted here) and at least every
:data:`FALLBACK_MAX_AGE`: a new signed fallback key is generated, written with the
account, uploaded (the server keeps only the newest) and then marked published.
vodozemac keeps the previous fallback key as well, so a pre-key message built on it
that arrives late still opens; one built on the key before that does not, and is
repaired like any message that does not decrypt.

Which key a pre-key message was built on is in the message itself: an Olm pre-key
message is a version byte (3) followed by protobuf fields, field 1 being the
recipient's one-time (or fallback) key. It is read only after the message decrypted,
when it is known to be genuine.
"""

from __future__ import annotations

import binascii
from datetime import datetime, timedelta

from client_sdk.context import DeviceContext
from client_sdk.crypto import PRE_KEY, b64, unb64
from client_sdk.delivery_records import DeliveryRecords, FallbackKeyState
from client_sdk.localstore import Put

FALLBACK_MAX_AGE = timedelta(days=7)
_OLM_VERSION = 3
_ONE_TIME_KEY_FIELD = 1
_LENGTH_DELIMITED = 2


def pre_key_one_time_key(body: str) -> str | None:
    """The recipient key (base64, unpadded) a pre-key message was built on, or None if
    the message cannot be read as one."""
    try:
        data = unb64(body)
    except (binascii.Error, ValueError):
        return None
    if not data or data[0] != _OLM_VERSION:
        return None
    at = 1
    while at < len(data):
        tag = data[at]
        at += 1
        if tag & 0x7 != _LENGTH_DELIMITED:
            return None
        length = shift = 0
        while True:
            if at >= len(data) or shift > 28:
                return None
            byte = data[at]
            at += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        if at + length > len(data):
            return None
        if tag >> 3 == _ONE_TIME_KEY_FIELD:
            return b64(data[at : at + length])
        at += length
    return None


def _due(state: FallbackKeyState | None, now: datetime) -> bool:
    """Used, old, or unknown (a store from before keys were tracked): replace it."""
    if state is None or state.since is None or state.used_at is not None:
        return True
    return now - state.since >= FALLBACK_MAX_AGE


class FallbackKeys:
    """Notices when this device's fallback key was used, and replaces it when due."""

    def __init__(self, ctx: DeviceContext, records: DeliveryRecords) -> None:
        self._ctx = ctx
        self._records = records

    async def used_puts(self, olm_type: int, body: str) -> list[Put]:
        """After a message decrypted: if it was a pre-key message built on the current
        fallback key, the change that marks the key used (for the same store write)."""
        if olm_type != PRE_KEY:
            return []
        state = await self._records.fallback_key()
        if state is None or state.used_at is not None:
            return []
        if pre_key_one_time_key(body) != state.public_key:
            return []
        state.used_at = self._ctx.clock.now()
        return [DeliveryRecords.fallback_key_put(state)]

    async def rotate_if_due(self) -> bool:
        """Replace the fallback key if it was used or is old (or a replacement made
        earlier was not uploaded yet); returns whether a new key went to the server.

        Raises:
            ApiError, TransportError: the server could not be told (tried again later:
                the new key is kept, unpublished, with the account).
        """
        ctx = self._ctx
        async with ctx.lock:
            now = ctx.clock.now()
            state = await self._records.fallback_key()
            key = ctx.olm.unpublished_fallback_key()
            if key is None:
                if state is not None and state.since is None and state.used_at is None:
                    state.since = now  # a new device: its key's week starts now
                    await ctx.store.write([DeliveryRecords.fallback_key_put(state)])
                    return False
                if not _due(state, now):
                    return False
                key = ctx.olm.generate_fallback_key()
                fresh = FallbackKeyState(public_key=key.key, since=now)
                await ctx.persist_crypto([DeliveryRecords.fallback_key_put(fresh)])
        await ctx.transport.request("POST", "/v1/keys", json={"fallback_key": key.as_json()})
        async with ctx.lock:
            ctx.olm.mark_published()
            await ctx.persist_crypto()
        return True
