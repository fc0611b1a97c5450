"""Test-speed key derivation: libsodium's minimum Argon2id cost.

Only for tests: a store made with it falls to the first guesser who copies it (and a
witness store still needs the server, so the tests of the PIN's protection are just as
real). Real code uses :data:`client_sdk.vault.DEFAULT_KDF`; the SDK does not export
this.
"""

from __future__ import annotations

import nacl.pwhash.argon2id

from client_sdk.vault import KdfParams

FAST_KDF = KdfParams(
    opslimit=nacl.pwhash.argon2id.OPSLIMIT_MIN, memlimit=nacl.pwhash.argon2id.MEMLIMIT_MIN
)

#: PINs the policy accepts (six digits, no pattern), for the tests' witnesses.
WITNESS_PIN = "284619"
DURESS_PIN = "719305"
