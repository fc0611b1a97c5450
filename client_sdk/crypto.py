"""A device's Olm account and its sessions with other devices (vodozemac).

Each device has one Olm account (Curve25519 identity key, Ed25519 signing key, one-time
and fallback keys) and one or more Olm sessions per peer device. Session state is
committed only after a message decrypts: every decryption attempt works on a copy
restored from the last saved pickle, so a tampered or replayed ciphertext cannot damage
a session. Pickles carry a format version so that stored state can be migrated.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field

import vodozemac

from wire.keys import fallback_key_payload, one_time_key_payload

PICKLE_FORMAT = 1
MAX_SESSIONS_PER_PEER = 5
PRE_KEY = 0
NORMAL = 1


class CryptoError(Exception):
    """Base of the SDK's cryptographic failures."""


class DecryptionFailed(CryptoError):
    """A ciphertext did not decrypt: tampered, replayed, or from an unknown session."""


class UntrustedKey(CryptoError):
    """A key's signature does not verify against the pinned identity."""


@dataclass(frozen=True, slots=True)
class SignedKeyMaterial:
    key_id: str
    key: str
    signature: str

    def as_json(self) -> dict[str, str]:
        return {"key_id": self.key_id, "key": self.key, "signature": self.signature}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def verify_signature(ed25519: str, payload: bytes, signature: str) -> bool:
    """Whether ``signature`` (base64) over ``payload`` verifies with ``ed25519``."""
    try:
        key = vodozemac.Ed25519PublicKey.from_base64(ed25519)
        key.verify_signature(payload, vodozemac.Ed25519Signature.from_base64(signature))
    except (
        vodozemac.KeyException,
        vodozemac.SignatureException,
        vodozemac.DecodeException,
        ValueError,
    ):
        return False
    return True


@dataclass
class OlmDevice:
    """The Olm state of this device, with change tracking for persistence."""

    account: vodozemac.Account
    pickle_key: bytes
    sessions: dict[str, list[str]] = field(default_factory=dict)
    account_dirty: bool = False
    dirty_peers: set[str] = field(default_factory=set)

    @classmethod
    def create(cls) -> OlmDevice:
        return cls(
            account=vodozemac.Account(), pickle_key=secrets.token_bytes(32), account_dirty=True
        )

    @classmethod
    def restore(
        cls, account_pickle: str, pickle_key: bytes, sessions: dict[str, list[str]]
    ) -> OlmDevice:
        """Raises: CryptoError if the pickle does not open with the key."""
        version, _, body = account_pickle.partition(":")
        if version != f"v{PICKLE_FORMAT}":
            raise CryptoError(f"unsupported account pickle format {version!r}")
        try:
            account = vodozemac.Account.from_pickle(body, pickle_key)
        except vodozemac.PickleException as exc:
            raise CryptoError("the account state does not open") from exc
        return cls(account=account, pickle_key=pickle_key, sessions=sessions)

    @property
    def curve25519(self) -> str:
        return self.account.curve25519_key.to_base64()

    @property
    def ed25519(self) -> str:
        return self.account.ed25519_key.to_base64()

    def sign(self, payload: bytes) -> str:
        return self.account.sign(payload).to_base64()

    def account_pickle(self) -> str:
        return f"v{PICKLE_FORMAT}:" + self.account.pickle(self.pickle_key)

    def generate_one_time_keys(self, count: int) -> list[SignedKeyMaterial]:
        """Create ``count`` new keys and return every unpublished key, signed."""
        self.account.generate_one_time_keys(count)
        self.account_dirty = True
        return self.unpublished_one_time_keys()

    def unpublished_one_time_keys(self) -> list[SignedKeyMaterial]:
        curve = self.curve25519
        return [
            SignedKeyMaterial(
                key_id,
                key.to_base64(),
                self.sign(one_time_key_payload(curve, key_id, key.to_base64())),
            )
            for key_id, key in self.account.one_time_keys.items()
        ]

    def generate_fallback_key(self) -> SignedKeyMaterial:
        # The bindings have these methods; their type stubs omit them.
        self.account.generate_fallback_key()  # type: ignore[attr-defined]
        self.account_dirty = True
        found = self.unpublished_fallback_key()
        assert found is not None
        return found

    def unpublished_fallback_key(self) -> SignedKeyMaterial | None:
        fallback: dict[str, vodozemac.Curve25519PublicKey] = self.account.fallback_key  # type: ignore[attr-defined]
        for key_id, key in fallback.items():
            public = key.to_base64()
            return SignedKeyMaterial(
                key_id, public, self.sign(fallback_key_payload(self.curve25519, key_id, public))
            )
        return None

    def mark_published(self) -> None:
        self.account.mark_keys_as_published()
        self.account_dirty = True

    def has_session(self, peer_curve25519: str) -> bool:
        return bool(self.sessions.get(peer_curve25519))

    def start_session(
        self, peer_curve25519: str, peer_ed25519: str, key: SignedKeyMaterial, *, fallback: bool
    ) -> None:
        """Open an outbound session with a claimed key, after checking its signature.

        Raises:
            UntrustedKey: the key is not signed by the peer's pinned Ed25519 key.
        """
        payload_fn = fallback_key_payload if fallback else one_time_key_payload
        payload = payload_fn(peer_curve25519, key.key_id, key.key)
        if not verify_signature(peer_ed25519, payload, key.signature):
            raise UntrustedKey("a claimed key is not signed by the device's identity key")
        session = self.account.create_outbound_session(
            vodozemac.Curve25519PublicKey.from_base64(peer_curve25519),
            vodozemac.Curve25519PublicKey.from_base64(key.key),
        )
        self._remember(peer_curve25519, session, newest=True)

    def _remember(
        self, peer: str, session: vodozemac.Session, *, newest: bool, replace: int | None = None
    ) -> None:
        pickles = list(self.sessions.get(peer, []))
        pickled = session.pickle(self.pickle_key)
        if replace is not None:
            pickles.pop(replace)
        if newest:
            pickles.insert(0, pickled)
        else:
            pickles.insert(replace if replace is not None else len(pickles), pickled)
        self.sessions[peer] = pickles[:MAX_SESSIONS_PER_PEER]
        self.dirty_peers.add(peer)

    def encrypt(self, peer_curve25519: str, plaintext: bytes) -> tuple[int, str]:
        """Encrypt with the newest session to the peer.

        Raises:
            CryptoError: there is no session with the peer (claim a key first).
        """
        pickles = self.sessions.get(peer_curve25519)
        if not pickles:
            raise CryptoError("no session with this device")
        session = vodozemac.Session.from_pickle(pickles[0], self.pickle_key)
        message_type, body = session.encrypt(plaintext).to_parts()
        self.sessions[peer_curve25519] = [session.pickle(self.pickle_key), *pickles[1:]]
        self.dirty_peers.add(peer_curve25519)
        return message_type, b64(body)

    def decrypt(self, peer_curve25519: str, message_type: int, body: str) -> bytes:
        """Decrypt a message from the peer; session state changes only on success.

        Raises:
            DecryptionFailed: malformed, tampered, replayed, or no matching session.
        """
        try:
            message = vodozemac.AnyOlmMessage.from_parts(message_type, unb64(body))
        except (vodozemac.DecodeException, ValueError) as exc:
            raise DecryptionFailed("the ciphertext is malformed") from exc
        pickles = self.sessions.get(peer_curve25519, [])
        pre_key = message.to_pre_key() if message_type == PRE_KEY else None
        for index, pickled in enumerate(pickles):
            session = vodozemac.Session.from_pickle(pickled, self.pickle_key)
            if pre_key is not None and not session.session_matches(pre_key):
                continue
            try:
                plaintext = session.decrypt(message)
            except vodozemac.OlmDecryptionException:
                if pre_key is not None:
                    raise DecryptionFailed("the message does not decrypt") from None
                continue
            # Keep the session in its place but persist its advanced state.
            self._remember(peer_curve25519, session, newest=False, replace=index)
            return plaintext
        if pre_key is None:
            raise DecryptionFailed("no session decrypts this message")
        try:
            session, plaintext = self.account.create_inbound_session(
                vodozemac.Curve25519PublicKey.from_base64(peer_curve25519), pre_key
            )
        except (vodozemac.SessionCreationException, vodozemac.KeyException, ValueError) as exc:
            raise DecryptionFailed("the pre-key message does not start a session") from exc
        self.account_dirty = True
        self._remember(peer_curve25519, session, newest=True)
        return plaintext

    def take_changes(self) -> tuple[str | None, dict[str, list[str]]]:
        """The account pickle (if changed) and changed sessions since the last call."""
        account = self.account_pickle() if self.account_dirty else None
        sessions = {peer: list(self.sessions.get(peer, [])) for peer in self.dirty_peers}
        self.account_dirty = False
        self.dirty_peers = set()
        return account, sessions
