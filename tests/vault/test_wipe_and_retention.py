"""Wipe and retention leave nothing readable: a byte scan of the store's folder — and of
a copy of the ``-wal`` taken just before the store closed — finds no salt, no key slot,
no plaintext, no server address or token, and after retention no trace of what was
deleted."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import timedelta
from pathlib import Path

from client_sdk import WitnessClient
from client_sdk import _vault_header as hdr
from client_sdk.vault import default_wrapper
from tests.support.kdf import DURESS_PIN, WITNESS_PIN
from tests.support.world import World
from tests.vault.helpers import folder_bytes, open_phone
from tests.welfare.helpers import open_case

SECRETS_SAID = ["I am at my aunt's house in Ploiesti", "The man from the bar came back"]


def _wal(store: Path) -> Path:
    return store.with_name(store.name + "-wal")


def _copy_wal(store: Path, to: Path) -> bytes:
    """What someone who images the flash just before the store closes gets of the WAL."""
    if not _wal(store).exists():
        return b""
    shutil.copy2(_wal(store), to)
    return to.read_bytes()


def _boxes(store: Path) -> set[bytes]:
    with sqlite3.connect(store) as db:
        found = {bytes(row[0]) for row in db.execute("SELECT box FROM records")}
    db.close()
    return found


async def _chatty_phone(world: World) -> tuple[WitnessClient, Path, str]:
    talk, store = await open_case(world, duress_pin=DURESS_PIN)
    for text in SECRETS_SAID:
        await talk.witness.send(text)
    await talk.officer.send("We will visit on Thursday", case_id=talk.case_id)
    await talk.witness.sync()
    return talk.witness, store, talk.witness.identity.token


def _needles(phone: WitnessClient, store: Path, device_token: str) -> dict[str, bytes]:
    header, _seq = hdr.read(store, default_wrapper(store))
    assert header.locator is not None
    needles = {
        "salt": header.salt,
        "server address": header.locator.server_url.encode(),
        "server host and port": header.locator.server_url.removeprefix("http://").encode(),
        "unlock credential": header.locator.unlock_token.encode(),
        "device token": device_token.encode(),
        "wrapped header": hdr.header_path(store).read_bytes()[:256],
        "wrapping key": default_wrapper(store).path.read_bytes(),
        "OPRF public key": header.locator.oprf_public_key,
    }
    needles.update({f"slot {i}": blob for i, blob in enumerate(header.slots)})
    needles.update({f"said {i}": t.encode() for i, t in enumerate(SECRETS_SAID)})
    needles["heard"] = b"We will visit on Thursday"
    return needles


async def test_after_wipe_nothing_readable_is_left(world: World) -> None:
    phone, store, token = await _chatty_phone(world)
    needles = _needles(phone, store, token)
    wal_copy = _copy_wal(store, store.parent.parent / "wal-copy")
    assert wal_copy, "the store was written through its WAL"

    await phone.wipe()

    left = folder_bytes(store)
    for name, needle in needles.items():
        assert needle not in wal_copy, name  # the header never went through SQLite
        assert needle not in left, name
    assert list(store.parent.glob(store.name + "*")) == []


async def test_retention_deletes_at_once_and_leaves_no_copy(world: World) -> None:
    phone, store, token = await _chatty_phone(world)
    needles = _needles(phone, store, token)
    before = _boxes(store)
    world.clock.advance(timedelta(days=3))
    await phone.send("written later, kept")
    assert await phone.keep_messages_for(2) == 3

    deleted = before - _boxes(store)
    assert deleted  # the three old messages' rows, among others (replay markers)
    wal_copy = _copy_wal(store, store.parent.parent / "wal-copy")
    everything = folder_bytes(store) + wal_copy
    for box in deleted:
        assert box not in everything  # neither in the main file nor in the WAL
    for name, needle in needles.items():
        if name.startswith(("said", "heard", "salt", "slot", "server", "unlock", "device")):
            assert needle not in wal_copy, name
    assert [m.text for m in await phone.messages()] == ["written later, kept"]
    await phone.close()

    reopened = await open_phone(world, store, WITNESS_PIN)
    assert [m.text for m in await reopened.messages()] == ["written later, kept"]
