"""A store folder copied off the phone gives an offline attacker no way to test a PIN.

The attacker here has every file of the folder — the store, the header and the
software wrapper's key — and the SDK's source, and writes their own cracker with
sqlite3 and PyNaCl. Even with the right PIN in the list of guesses, nothing they can
compute without the server opens anything, and nothing in the files lets them tell a
right guess from a wrong one: the files hold no verifier. Only the server's OPRF
evaluation makes the right PIN work (shown last, with the server's own key: what a
compromised server holding the files faces is Argon2id per guess, nothing more).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import sqlite3
from pathlib import Path
from typing import Any

import msgspec
import nacl.exceptions
import nacl.hash
import nacl.pwhash.argon2id
import nacl.secret
from voprf import ristretto

from tests.support.kdf import DURESS_PIN, WITNESS_PIN
from tests.support.world import World
from tests.vault.helpers import copy_folder
from tests.welfare.helpers import open_case

GUESSES = ["000000", "482916", WITNESS_PIN, "135799", DURESS_PIN, "902117"]
# Labels as they stand in the SDK's source (the attacker reads it).
LABELS = [
    b"witnesslink/vault/v2/slot",
    b"witnesslink/vault/v2/confirm",
    b"witnesslink/vault/v2/passphrase-slot",
]


def _hkdf(ikm: bytes, info: bytes) -> bytes:
    prk = hmac.new(bytes(32), ikm, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


def _header(folder: Path, name: str) -> list[Any]:
    """Unwrap the header with the key file beside it (the software wrapper)."""
    key = (folder / f"{name}.key").read_bytes()
    data = (folder / f"{name}.header").read_bytes()
    box = nacl.secret.SecretBox(key)
    newest: tuple[int, list[Any]] | None = None
    for half in (data[:4096], data[4096:]):
        size = int.from_bytes(half[:4], "big")
        plain = box.decrypt(half[4 : 4 + size])
        seq = int.from_bytes(plain[:8], "big")
        body = plain[8:].rstrip(b"\x00")[:-1]  # ISO/IEC 7816-4 padding: 0x80 then zeros
        if newest is None or seq > newest[0]:
            newest = (seq, msgspec.msgpack.decode(body))
    assert newest is not None
    return newest[1]


def _stretch(pin: str, header: list[Any]) -> bytes:
    _version, _mode, opslimit, memlimit, salt, _slots, _outbox, _locator = header
    return bytes(
        nacl.pwhash.argon2id.kdf(32, pin.encode(), salt, opslimit=opslimit, memlimit=memlimit)
    )


def _offline_candidates(stretched: bytes) -> list[bytes]:
    """Every slot key the attacker can think of without the server."""
    keys = [stretched, hashlib.sha256(stretched).digest()]
    keys += [nacl.hash.blake2b(stretched, digest_size=32, encoder=nacl.encoding.RawEncoder)]
    for info in LABELS:
        keys += [_hkdf(stretched, info), _hkdf(stretched + bytes(64), info)]
    return keys


def _opens(key: bytes, slots: list[bytes]) -> bool:
    for blob in slots:
        try:
            nacl.secret.SecretBox(key).decrypt(blob)
        except nacl.exceptions.CryptoError:
            continue
        return True
    return False


def _test_offline(pin: str, header: list[Any]) -> bool:
    """The attacker's test of one guess: does anything computable offline open a slot?"""
    slots = header[5]
    return any(_opens(k, slots) for k in _offline_candidates(_stretch(pin, header)))


async def test_a_copied_store_gives_an_offline_attacker_no_way_to_test_a_pin(
    world: World,
) -> None:
    talk, store = await open_case(world, duress_pin=DURESS_PIN)
    await talk.witness.send("I am at my aunt's house in Ploiesti")
    await talk.witness.close()
    folder = copy_folder(store, world.tmp / "copied").parent

    header = _header(folder, store.name)
    version, mode, _ops, _mem, _salt, slots, _outbox_key, _locator = header
    assert (version, mode, len(slots)) == (2, "server", 8)
    # Everything in the files was tried, with the right PIN among the guesses: the
    # answer is the same "no" for every guess, right, duress or wrong.
    assert [_test_offline(pin, header) for pin in GUESSES] == [False] * len(GUESSES)
    # Nothing else in the files depends on the PIN: the header holds the salt and cost,
    # eight slot blobs, the outbox's public key and the locator; the store's rows are
    # sealed under a data key only the slots hold. Nothing to check a guess against.
    with sqlite3.connect(folder / store.name) as db:
        tables = sorted(row[0] for row in db.execute("SELECT name FROM sqlite_master"))
        boxes = [row[0] for row in db.execute("SELECT box FROM records")]
    db.close()
    assert tables == ["records", "records_by_kind", "sealed_outbox"]
    everything = b"".join(f.read_bytes() for f in folder.iterdir())
    for pin in (WITNESS_PIN, DURESS_PIN):
        stretched = _stretch(pin, header)
        for derived in _offline_candidates(stretched):
            assert derived not in everything
    assert boxes  # the conversation is there, sealed


async def test_with_the_servers_key_the_right_pin_opens_at_argon2id_cost(world: World) -> None:
    """The fallback when the server is the attacker: with the device's OPRF seed (from
    the database, unsealed with the server key) and the files, the right PIN opens —
    each guess costs one Argon2id derivation and one cheap evaluation."""
    talk, store = await open_case(world, duress_pin=DURESS_PIN)
    device = talk.witness.device_id
    await talk.witness.close()
    folder = copy_folder(store, world.tmp / "copied").parent
    header = _header(folder, store.name)

    async with world.services.store.read() as uow:
        state = await uow.unlock.get(device)
    assert state is not None
    assert state.seed_sealed is not None
    seed = base64.b64decode(world.services.sealer.open(state.seed_sealed))
    server = ristretto.Evaluator.from_seed(seed, b"witnesslink/vault-oprf/v1\n" + device.encode())

    def with_server(pin: str) -> bool:
        stretched = _stretch(pin, header)
        oprf = bytes(server.evaluate_known_input(stretched))
        return _opens(_hkdf(stretched + oprf, LABELS[0]), header[5])

    assert [with_server(pin) for pin in GUESSES] == [
        pin in (WITNESS_PIN, DURESS_PIN) for pin in GUESSES
    ]
