"""The witness's phone: enrol once in person, then talk to the case team.

``WitnessClient.enroll`` is run while the officer is present: it scans (or types) the
enrolment code, creates the encrypted store under the witness's PIN, generates the
device's keys on the phone, and pins the case team's device keys — refusing to enrol if
they do not match the fingerprint the code carries. Afterwards ``WitnessClient.open``
unlocks the store with the PIN.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from client_sdk.conversation import Clock, Conversation, SentMessage
from client_sdk.errors import ApiError, EnrolmentRefused
from client_sdk.localstore import DeviceIdentity, KnownDevice, LocalStore, StoredMessage, Trust
from client_sdk.protocol import (
    TeamDevice,
    enrolment_context,
    parse_enrolment_code,
    team_fingerprint,
)
from client_sdk.setup import create_device, finish_device, open_device
from client_sdk.transport import Transport
from client_sdk.vault import DEFAULT_KDF, KdfParams, Vault


class WitnessClient(Conversation):
    """The witness's side of the conversation (one case)."""

    @property
    def case_id(self) -> str:
        assert self.identity.case_id is not None
        return self.identity.case_id

    @classmethod
    async def enroll(
        cls,
        server_url: str | None,
        code: str,
        store_path: Path,
        pin: str,
        *,
        device_name: str = "phone",
        kdf: KdfParams = DEFAULT_KDF,
        max_failed_unlocks: int = 10,
        clock: Clock | None = None,
    ) -> WitnessClient:
        """Enrol this phone with a one-time code (text or QR payload).

        Raises:
            ValueError: the code is malformed, or no server address is known.
            VaultExists: the phone already has a store at ``store_path``.
            EnrolmentRefused: the server refused the code, or the team keys it returned
                do not match the code's fingerprint (the store is wiped again).
            TransportError: the server could not be reached (the store is wiped again).
        """
        parsed = parse_enrolment_code(code)
        url = server_url or parsed.server_url
        if not url:
            raise ValueError("the server address is needed (it is in the QR code)")
        draft = await create_device(
            store_path,
            pin,
            name=device_name,
            context=enrolment_context(parsed.secret),
            kdf=kdf,
            max_failed_unlocks=max_failed_unlocks,
        )
        transport = Transport(url)
        try:
            reply = await transport.request(
                "POST", "/v1/enrol", json={"code": parsed.secret, "device": draft.registration}
            )
            team = [
                TeamDevice(d["device_id"], d["curve25519"], d["ed25519"])
                for d in reply["team_devices"]
            ]
            if not parsed.matches_fingerprint(team_fingerprint(team)):
                raise EnrolmentRefused(
                    "the case team's keys do not match the code: ask for a new code in person"
                )
        except ApiError as error:
            await draft.store.vault.wipe()
            raise EnrolmentRefused(f"the server refused the enrolment ({error.code})") from error
        except BaseException:
            await draft.store.vault.wipe()
            raise
        finally:
            await transport.close()
        witness = reply["witness"]
        identity = DeviceIdentity(
            device_id=reply["device_id"],
            token=reply["token"],
            server_url=url,
            owner_kind="witness",
            owner_id=witness["witness_id"],
            case_id=witness["case_id"],
            display_name=witness["alias"],
        )
        pinned = [
            KnownDevice(
                device_id=d.device_id,
                owner_kind="staff",
                owner_id="",
                name="",
                curve25519=d.curve25519,
                ed25519=d.ed25519,
                trust=Trust.PINNED,
                case_ids=[witness["case_id"]],
            )
            for d in team
        ]
        await finish_device(draft, identity, pinned)
        client = cls(
            draft.store,
            identity,
            draft.olm,
            {d.device_id: d for d in pinned},
            send_to_unverified=False,
            clock=clock,
        )
        await client.refresh_devices(identity.case_id or "")
        return client

    @classmethod
    async def open(cls, store_path: Path, pin: str, *, clock: Clock | None = None) -> WitnessClient:
        """Unlock the phone's store with the PIN.

        Raises:
            WrongSecret: wrong PIN (``attempts_left`` says how many remain).
            VaultWiped: too many wrong PINs: the store has been destroyed.
            VaultNotFound, NotEnrolled: nothing to open.
        """
        opened = await open_device(store_path, pin)
        return cls(
            opened.store,
            opened.identity,
            opened.olm,
            opened.devices,
            send_to_unverified=False,
            clock=clock,
        )

    async def send(self, text: str) -> SentMessage:
        """Send a text message to the case team."""
        return await self.send_text(self.case_id, text)

    async def send_file(
        self, data: bytes, *, filename: str, mime_type: str, text: str = ""
    ) -> SentMessage:
        """Send an encrypted attachment (photo, document) to the case team."""
        return await self.send_attachment(
            self.case_id, data, filename=filename, mime_type=mime_type, text=text
        )

    async def messages(self) -> list[StoredMessage]:
        """The conversation as kept on this phone, oldest first."""
        return await self.history(self.case_id)

    async def wipe(self) -> None:
        """Destroy everything on the phone (the server keeps nothing readable)."""
        await self.close()
        await Vault.wipe_file(self._store.vault.path)

    async def keep_messages_for(self, days: int) -> int:
        """Delete messages older than ``days`` from the phone now."""
        return await self.apply_retention(timedelta(days=days))


__all__ = ["LocalStore", "WitnessClient"]
