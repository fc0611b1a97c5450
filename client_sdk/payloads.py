"""Names of the end-to-end payload kinds and fields that delivery repair adds.

Every message travels as one Olm ciphertext per recipient device; inside is a JSON
object with the envelope (``v``, ``message_id``, ``case_id``, ``sender_device_id``,
``recipient_device_id``, ``sent_at``), a ``kind`` and the kind's fields. Conversation
kinds (``text``, ``attachment``, ``checkin_note``, ``appointment_details``) are shown to
people; the kinds below are delivery machinery, never shown and never stored as chat.
``docs/protocol.md`` §17 specifies them for independent clients.
"""

from __future__ import annotations

from typing import Final

#: Version of the decrypted payload object; a receiver refuses any other.
PAYLOAD_VERSION: Final = 1

#: "Please send these messages of yours to me again: I could not open them." Sent by a
#: receiving device to the sender device, over a fresh Olm session when allowed (see
#: :mod:`client_sdk.repair`). Fields: ``message_ids`` (list of the sender's message
#: ids, at most :data:`MAX_IDS_PER_REQUEST`).
KIND_REPAIR_REQUEST: Final = "repair_request"

#: "I cannot send these to you again." The sender's answer for message ids it no longer
#: has, never sent to the asking device, or has already sent again too often. Fields:
#: ``message_ids``.
#:
#: The messages asked for come back as ordinary copies under their original ids (added
#: with ``PUT /v1/cases/{case}/messages/{id}/copies/{device}``), so a receiver needs
#: nothing new to recognise them.
KIND_REPAIR_UNAVAILABLE: Final = "repair_unavailable"

#: Field of both repair kinds: the message ids concerned.
FIELD_MESSAGE_IDS: Final = "message_ids"

#: Kinds that steer delivery and are never shown or kept as conversation.
CONTROL_KINDS: Final = frozenset({KIND_REPAIR_REQUEST, KIND_REPAIR_UNAVAILABLE})

#: How many message ids one repair request or answer may name.
MAX_IDS_PER_REQUEST: Final = 50

#: Longest message id a client chooses (the server accepts 8 to 64 characters).
MAX_MESSAGE_ID_CHARS: Final = 64
