"""The phone's side of enrolling in person (``wire.enrolment``).

The phone scans the code, makes its own keys and identity, and presents the server
token; it pins the team only if the roster it is handed carries the officer's MAC,
which the server cannot make. It then sends its nonce (after it holds the officer's
commitment), and shows the comparison numbers once the officer's client has revealed
its nonce. Only when the witness confirms that both screens match does the phone trust
the team; if they differ, the phone refuses and wipes itself.
"""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING

from client_sdk.errors import ApiError, EnrolmentRefused, WitnesslinkError
from client_sdk.localstore import LocalStore, PhoneEnrolment
from client_sdk.vault import Vault
from wire.encoding import unb64
from wire.enrolment import commitment, sas
from wire.keys import check_roster

if TYPE_CHECKING:
    from client_sdk.witness import WitnessClient


class PendingEnrolment:
    """A phone half way through enrolment: registered, team roster checked by MAC,
    waiting for the witness to compare the numbers with the officer's screen."""

    def __init__(self, client: WitnessClient, record: PhoneEnrolment) -> None:
        self._client = client
        self._record = record
        self._roster = check_roster(json.loads(record.roster))

    @property
    def client(self) -> WitnessClient:
        """The phone's client (not to be used for messages before :meth:`confirm`)."""
        return self._client

    async def sas(self) -> str | None:
        """The numbers to compare with the officer's screen; None until the officer's
        client has revealed its nonce.

        Raises:
            EnrolmentRefused: the revealed nonce does not match what the officer's
                client committed to (someone is in the middle): refuse, start again;
                or the officer refused this phone.
            ApiError, TransportError: the server refused or could not be reached.
        """
        try:
            view = await self._client.transport.request("GET", "/v1/me/enrolment")
        except ApiError as error:
            if error.status in (401, 403, 404):
                raise EnrolmentRefused(
                    "the officer refused this phone, or the code expired: start again"
                ) from error
            raise
        revealed = view.get("officer_nonce")
        if revealed is None:
            return None
        nonce = unb64(str(revealed))
        if commitment(nonce) != self._record.commitment:
            raise EnrolmentRefused("the comparison numbers were tampered with: start again")
        identity = self._client.trust.personal_identity
        assert identity is not None
        return sas(self._roster.object_hash, identity.public_key, nonce, self._record.nonce)

    async def confirm(self) -> WitnessClient:
        """The witness saw the same numbers on both screens: trust the team.

        Raises:
            WitnesslinkError: the officer's client has not shown the numbers yet.
            EnrolmentRefused: see :meth:`sas`.
            ApiError, TransportError: the server refused or could not be reached.
        """
        if await self.sas() is None:
            raise WitnesslinkError("the officer's client has not shown the numbers yet")
        client = self._client
        await client.trust.pin_roster(client.case_id, json.loads(self._record.roster))
        self._record.confirmed = True
        await client._store.write([LocalStore.phone_enrolment_put(self._record)])
        await client.refresh_devices(client.case_id)
        return client

    async def reject(self) -> None:
        """The numbers differ: tell the server (the device is revoked) and wipe."""
        client = self._client
        try:
            with contextlib.suppress(ApiError):  # already refused by the officer
                await client.transport.request("POST", "/v1/me/enrolment/abort")
        finally:
            path = client._store.vault.path
            await client.close()
            await Vault.destroy(path, wrapper=client._wrapper)
