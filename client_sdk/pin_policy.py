"""Which PINs and passphrases the SDK accepts.

A witness's PIN is guessed only through the server, ten tries at most — unless the
server itself is the attacker and holds the phone's files, when each guess costs one
Argon2id derivation and nothing else stands in the way. Both cases want a PIN that is
not among the first few an attacker tries: at least six digits, no repeats, runs or
short repeated patterns, none of the most common PINs. A staff store has no server
help at all (see :mod:`client_sdk.vault`), so its passphrase must be long.
"""

from __future__ import annotations

import itertools

MIN_PIN_DIGITS = 6
MAX_PIN_DIGITS = 64
MIN_PASSPHRASE_CHARS = 12

#: Among the most common six-digit PINs in published PIN and password leak studies,
#: beyond those the pattern rules below refuse already.
COMMON_PINS = frozenset(
    {
        "121212", "123123", "112233", "696969", "131313", "159753", "147258",
        "102030", "520520", "654321", "123321", "111222", "789456", "159357",
        "252525", "101010", "232323", "777777", "000000", "999999", "222222",
        "123654", "147852", "258258", "100200", "198500", "200000", "369369",
        "741852", "852456", "963852", "246810", "135790", "246802", "314159",
        "142536", "010203", "112358", "123456", "121314", "131415", "101112",
    }
)  # fmt: skip


def check_pin(pin: str) -> None:
    """Accept a PIN, or say why not.

    Raises:
        ValueError: fewer than six digits, anything but digits, one digit repeated, a
            run up or down (with wrap-around, e.g. 890123), a short pattern repeated
            (121212, 123123), or one of the most common PINs.
    """
    if not isinstance(pin, str) or not pin.isascii() or not pin.isdigit():
        raise ValueError("a PIN is made of digits only")
    if not MIN_PIN_DIGITS <= len(pin) <= MAX_PIN_DIGITS:
        raise ValueError(f"a PIN needs at least {MIN_PIN_DIGITS} digits")
    if len(set(pin)) == 1:
        raise ValueError("a PIN may not repeat one digit")
    steps = {(int(b) - int(a)) % 10 for a, b in itertools.pairwise(pin)}
    if steps in ({1}, {9}):
        raise ValueError("a PIN may not be a run of digits up or down")
    for size in range(2, len(pin) // 2 + 1):
        if len(pin) % size == 0 and pin == pin[:size] * (len(pin) // size):
            raise ValueError("a PIN may not repeat a short pattern")
    if pin in COMMON_PINS:
        raise ValueError("this PIN is among the most common ones: choose another")


def check_pins(pin: str, duress_pin: str | None) -> None:
    """Accept a PIN and an optional duress PIN that differs from it.

    Raises:
        ValueError: see :func:`check_pin`; or the two PINs are the same.
    """
    check_pin(pin)
    if duress_pin is not None:
        check_pin(duress_pin)
        if duress_pin == pin:
            raise ValueError("the duress PIN must differ from the PIN")


def check_passphrase(passphrase: str) -> None:
    """Raises: ValueError if the passphrase is shorter than twelve characters."""
    if not isinstance(passphrase, str) or len(passphrase.strip()) < MIN_PASSPHRASE_CHARS:
        raise ValueError(f"a passphrase needs at least {MIN_PASSPHRASE_CHARS} characters")
