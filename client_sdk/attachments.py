"""Attachments: encrypted on the device with a fresh key, uploaded as ciphertext; the
key and description travel inside an end-to-end encrypted message."""

from __future__ import annotations

import hashlib

import nacl.secret
import nacl.utils

from client_sdk.context import DeviceContext
from client_sdk.crypto import DecryptionFailed, b64, unb64
from client_sdk.events import AttachmentRef
from client_sdk.localstore import StoredAttachment
from client_sdk.outbox import Outbox, SentMessage
from client_sdk.sessions import Sessions


class Attachments:
    """Sends and fetches encrypted attachments."""

    def __init__(self, ctx: DeviceContext, outbox: Outbox, sessions: Sessions) -> None:
        self._ctx = ctx
        self._outbox = outbox
        self._sessions = sessions

    async def send(
        self, case_id: str, data: bytes, *, filename: str, mime_type: str, text: str = ""
    ) -> SentMessage:
        """Encrypt ``data`` with a fresh key, upload the ciphertext, then send the key
        (and the description) inside an end-to-end encrypted message.

        Raises:
            ApiError, TransportError: the upload failed (nothing was sent).
        """
        ctx = self._ctx
        key = nacl.utils.random(nacl.secret.SecretBox.KEY_SIZE)
        blob = bytes(nacl.secret.SecretBox(key).encrypt(data))
        chosen = await self._outbox.recipients(case_id)
        async with ctx.lock:
            failed = await self._sessions.ensure(case_id, chosen.usable)
            await ctx.persist_crypto()
        recipients = [d.device_id for d in chosen.usable if d.device_id not in failed]
        reply = await ctx.transport.request(
            "POST",
            f"/v1/cases/{case_id}/attachments",
            data=blob,
            params={"recipients": ",".join(recipients)},
            headers={"Content-Type": "application/octet-stream"},
        )
        attachment = StoredAttachment(
            attachment_id=reply["attachment_id"],
            filename=filename,
            mime_type=mime_type,
            size=len(data),
            key=b64(key),
            sha256=hashlib.sha256(blob).hexdigest(),
        )
        body = {
            "kind": "attachment",
            "text": text,
            "attachment": {
                "attachment_id": attachment.attachment_id,
                "filename": filename,
                "mime_type": mime_type,
                "size": len(data),
                "key": attachment.key,
                "sha256": attachment.sha256,
            },
        }
        return await self._outbox.send_payload(case_id, body, text=text, attachment=attachment)

    async def download(self, ref: AttachmentRef | StoredAttachment) -> bytes:
        """Fetch, check and decrypt an attachment, then tell the server we have it.

        Raises:
            DecryptionFailed: the blob does not match its hash or does not decrypt.
            ApiError, TransportError: it could not be fetched.
        """
        transport = self._ctx.transport
        blob = await transport.request("GET", f"/v1/attachments/{ref.attachment_id}")
        if not isinstance(blob, bytes) or hashlib.sha256(blob).hexdigest() != ref.sha256:
            raise DecryptionFailed("the attachment does not match its hash")
        try:
            data = nacl.secret.SecretBox(unb64(ref.key)).decrypt(blob)
        except Exception as exc:
            raise DecryptionFailed("the attachment does not decrypt") from exc
        await transport.request("POST", f"/v1/attachments/{ref.attachment_id}/ack")
        return bytes(data)
