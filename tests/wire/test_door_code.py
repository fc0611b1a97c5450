"""The door code: six digits, bound to both people, the visit and the nonce."""

from __future__ import annotations

import pytest

from wire.door import DoorCodeError, door_code, new_door_nonce, same_door_code
from wire.encoding import b64

PEOPLE = {
    "visitor_owner": "staff:stf_worker",
    "visitor_identity_key": b64(bytes([1]) * 32),
    "witness_owner": "witness:wit_sparrow",
    "witness_identity_key": b64(bytes([2]) * 32),
    "visit_id": "vis_one",
    "visit_version": 1,
}


def test_every_input_changes_the_code() -> None:
    nonce = new_door_nonce()
    base = door_code(nonce, **PEOPLE)
    changed = [
        {"visitor_owner": "staff:stf_other"},
        {"visitor_identity_key": b64(bytes([3]) * 32)},
        {"witness_owner": "witness:wit_heron"},
        {"witness_identity_key": b64(bytes([4]) * 32)},
        {"visit_id": "vis_two"},
        {"visit_version": 2},
    ]
    for change in changed:
        assert door_code(nonce, **{**PEOPLE, **change}) != base, change
    assert door_code(new_door_nonce(), **PEOPLE) != base
    assert same_door_code(base, base.replace(" ", "-"))
    assert not same_door_code(base, "000 000" if base != "000 000" else "111 111")


@pytest.mark.parametrize("nonce", ["", "not base64!", b64(bytes(16)), b64(bytes(33))])
def test_a_malformed_nonce_makes_no_code(nonce: str) -> None:
    with pytest.raises(DoorCodeError):
        door_code(nonce, **PEOPLE)


def test_a_line_break_cannot_shift_one_input_into_another() -> None:
    with pytest.raises(DoorCodeError):
        door_code(new_door_nonce(), **{**PEOPLE, "visit_id": "vis\nx"})
