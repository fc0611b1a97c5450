"""What a phone signs to answer a check-in."""

from __future__ import annotations


def checkin_response_payload(checkin_id: str, nonce: str, device_id: str, status: str) -> bytes:
    """Bound to the prompt (its id and one-time nonce) and to the answering device, so
    an answer can be neither replayed nor moved to another prompt or witness."""
    return f"witnesslink/checkin/v1\n{checkin_id}\n{nonce}\n{device_id}\n{status}".encode()
