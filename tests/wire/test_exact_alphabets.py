"""The key-object checks accept exactly the alphabets ``docs/protocol.md`` gives: ids of
A-Z, a-z, 0-9, ``_`` and ``-`` (nothing after them, not even a newline), times in ASCII
digits; and a safety-number comparison says no to anything but the same digits."""

from __future__ import annotations

from typing import Any

import nacl.signing
import pytest

from wire.encoding import b64
from wire.keys import (
    InvalidObject,
    RosterMember,
    check_device_list,
    check_device_object,
    check_roster,
    device_list_object,
    device_object,
    parse_owner,
    roster_object,
    signed,
)
from wire.safety import safety_number, same_safety_number

KEY = nacl.signing.SigningKey(bytes([7]) * 32)
PUBLIC = b64(bytes(KEY.verify_key))
DIGEST = b64(bytes(32))


def _sign(body: dict[str, Any]) -> dict[str, Any]:
    return signed(body, lambda payload: b64(KEY.sign(payload).signature))


@pytest.mark.parametrize("device_id", ["dev_1\n", "dev 1", "dév_1", "x" * 65, ""])
def test_a_device_id_outside_the_alphabet_is_refused(device_id: str) -> None:
    obj = _sign(device_object(device_id, "staff:stf_1", PUBLIC, PUBLIC))
    with pytest.raises(InvalidObject):
        check_device_object(obj)


@pytest.mark.parametrize("owner", ["staff:stf_1\n", "staff:", "witness:a:b", "admin:stf_1"])
def test_an_owner_reference_outside_the_alphabet_is_refused(owner: str) -> None:
    with pytest.raises(InvalidObject):
        parse_owner(owner)


@pytest.mark.parametrize(
    "issued_at",
    ["2026-01-31T12:00:00Z\n", "\u0662\u0660\u0662\u0666-01-31T12:00:00Z", "2026-01-31 12:00:00Z"],
)
def test_a_time_that_is_not_plain_ascii_utc_is_refused(issued_at: str) -> None:
    obj = _sign(device_list_object("staff:stf_1", PUBLIC, 1, {"dev_1": DIGEST}, issued_at))
    with pytest.raises(InvalidObject):
        check_device_list(obj)


def test_a_case_id_with_a_trailing_newline_is_refused() -> None:
    member = RosterMember("staff:stf_1", PUBLIC, "officer", "Officer")
    obj = _sign(roster_object("case_1\n", 1, PUBLIC, [member], "2026-01-31T12:00:00Z"))
    with pytest.raises(InvalidObject):
        check_roster(obj)


def test_the_same_objects_with_plain_values_are_accepted() -> None:
    check_device_object(_sign(device_object("dev_1", "staff:stf_1", PUBLIC, PUBLIC)))
    check_device_list(
        _sign(
            device_list_object("staff:stf_1", PUBLIC, 1, {"dev_1": DIGEST}, "2026-01-31T12:00:00Z")
        )
    )


def test_a_safety_number_typed_in_other_digits_does_not_match_and_does_not_raise() -> None:
    number = safety_number(("staff:a", PUBLIC), ("staff:b", b64(bytes(KEY.verify_key)[::-1])))
    assert same_safety_number(number, number.replace(" ", "-"))
    eastern = number.translate({ord(str(d)): chr(0x0660 + d) for d in range(10)})
    assert not same_safety_number(number, eastern)
