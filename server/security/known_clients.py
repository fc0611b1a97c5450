"""Known-client proofs ("device cookies", OWASP): a client that once signed in to an
account with the right password (and TOTP code) keeps a proof of it, and presents it
with later sign-ins to the same account.

A proof exempts its holder from the per-account limit on sign-in attempts, the limit
that guesses from many addresses could otherwise exhaust to lock the owner out. It does
not exempt from the per-address and per-(account, address) limits, and each proof has
its own strict bucket, so a stolen proof does not make guessing cheap.

Proofs are stateless: a random nonce and a keyed BLAKE2b MAC over the nonce and the
account's username, under a key derived from the server's blind-index root
(:mod:`server.domain.server_keys`). Nothing is stored; every instance of a deployment
accepts them, and a rotation of the sealing key leaves them valid. They cannot be
withdrawn one by one.
"""

from __future__ import annotations

import base64
import hmac
import secrets

import nacl.encoding
import nacl.hash

_PREFIX = "kc1"
_NONCE_BYTES = 16
MAX_PROOF_LENGTH = 100


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class KnownClientProofs:
    """Issues and checks known-client proofs for usernames."""

    def __init__(self, root_key: bytes) -> None:
        self._key = nacl.hash.blake2b(
            root_key, key=b"", person=b"wl-known-client", encoder=nacl.encoding.RawEncoder
        )

    def __repr__(self) -> str:
        return "KnownClientProofs(<key hidden>)"

    def issue(self, username: str) -> str:
        """A new proof that this client signed in to ``username`` (lower-case)."""
        nonce = _b64(secrets.token_bytes(_NONCE_BYTES))
        return f"{_PREFIX}.{nonce}.{self._mac(username, nonce)}"

    def nonce_if_valid(self, proof: str | None, username: str) -> str | None:
        """The proof's nonce (its identity, for its own rate limit) if ``proof`` was
        issued for ``username`` by a server with this key; otherwise None."""
        if not proof or len(proof) > MAX_PROOF_LENGTH:
            return None
        parts = proof.split(".")
        if len(parts) != 3 or parts[0] != _PREFIX:
            return None
        _prefix, nonce, mac = parts
        if not hmac.compare_digest(mac, self._mac(username, nonce)):
            return None
        return nonce

    def _mac(self, username: str, nonce: str) -> str:
        message = f"{username}\x00{nonce}".encode()
        return _b64(
            nacl.hash.blake2b(
                message, key=self._key, digest_size=32, encoder=nacl.encoding.RawEncoder
            )
        )
