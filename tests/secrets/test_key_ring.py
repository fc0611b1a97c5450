"""The key ring itself: formats, key ids, settings, and instances that share a ring."""

from __future__ import annotations

import asyncio
import base64
import secrets
from pathlib import Path

import nacl.secret
import pytest

from server.clock import ManualClock
from server.config import Settings
from server.domain.events import NullEventSink
from server.domain.server_keys import IndexRootUnknown
from server.security.sealing import (
    Sealer,
    SealError,
    UnknownSealingKey,
    key_id,
    load_key_ring,
)
from server.services import open_services
from server.storage.database import Database


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def legacy_seal(key: bytes, text: str) -> bytes:
    """A value as the server sealed it before key ids existed."""
    return b"\x01" + bytes(nacl.secret.SecretBox(key).encrypt(text.encode()))


def test_a_value_sealed_before_key_ids_opens_under_the_ring_and_reseals_to_the_current_key() -> (
    None
):
    old, new = secrets.token_bytes(32), secrets.token_bytes(32)
    ring = Sealer(new, [old])
    value = legacy_seal(old, "+40712345678")
    assert not ring.is_current(value)
    moved = ring.reseal(value)
    assert ring.is_current(moved)
    assert moved.startswith(b"\x02" + key_id(new))
    assert ring.open(moved) == "+40712345678"
    assert ring.reseal(moved) is moved  # already current: untouched
    with pytest.raises(UnknownSealingKey):
        Sealer(new).open(value)


def test_two_instances_with_the_same_ring_open_each_others_values() -> None:
    current, a, b = (secrets.token_bytes(32) for _ in range(3))
    first, second = Sealer(current, [a, b]), Sealer(current, [b, a])
    assert first.current_prefix == second.current_prefix
    assert second.open(first.seal("note")) == "note"
    assert first.open(second.seal("note")) == "note"
    assert first.open(Sealer(b).seal("older")) == "older"


def test_an_altered_value_is_refused_as_altered_not_as_an_unknown_key() -> None:
    ring = Sealer(secrets.token_bytes(32))
    value = bytearray(ring.seal("secret"))
    value[-1] ^= 1
    with pytest.raises(SealError) as refused:
        ring.open(bytes(value))
    assert not isinstance(refused.value, UnknownSealingKey)


def test_the_key_file_stays_readable_when_an_environment_key_takes_over(tmp_path: Path) -> None:
    path = tmp_path / "server.key"
    file_key, _ = load_key_ring(path, None, ())  # first run: the file is created
    env_key = secrets.token_bytes(32)
    current, previous = load_key_ring(path, b64(env_key), ())
    assert current == env_key
    assert previous == [file_key]
    listed = secrets.token_bytes(32)
    assert load_key_ring(path, b64(env_key), [b64(listed)])[1] == [listed, file_key]


def test_a_malformed_previous_key_is_refused_without_echoing_it(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="WITNESSLINK_PREVIOUS_SECRET_KEYS") as refused:
        load_key_ring(tmp_path / "server.key", None, ["c2hvcnQ="])
    assert "c2hvcnQ=" not in str(refused.value)


def test_previous_keys_are_read_from_the_environment_as_a_comma_separated_list() -> None:
    a, b = b64(secrets.token_bytes(32)), b64(secrets.token_bytes(32))
    settings = Settings.from_env({"WITNESSLINK_PREVIOUS_SECRET_KEYS": f"{a}, {b},"})
    assert settings.previous_secret_keys_b64 == (a, b)
    assert a not in repr(settings)


async def test_instances_starting_together_record_one_blind_index_root(
    database: Database, tmp_path: Path
) -> None:
    clock = ManualClock()
    current, previous = secrets.token_bytes(32), secrets.token_bytes(32)
    settings = Settings(data_dir=tmp_path / "one", secret_key_b64=b64(current))
    one, two = await asyncio.gather(
        open_services(settings, clock, database, hub=None, events=NullEventSink()),
        open_services(
            Settings(data_dir=tmp_path / "two", secret_key_b64=b64(current)),
            clock,
            database,
            hub=None,
            events=NullEventSink(),
        ),
    )
    assert one.phones.index("+40712345678") == two.phones.index("+40712345678")
    assert two.phones.open(one.phones.seal("+40712345678")[0]) == "+40712345678"
    # After a rotation the recorded root still gives the same indexes.
    rotated = await open_services(
        Settings(
            data_dir=tmp_path / "three",
            secret_key_b64=b64(previous),
            previous_secret_keys_b64=(b64(current),),
        ),
        clock,
        database,
        hub=None,
        events=NullEventSink(),
    )
    assert rotated.phones.index("+40712345678") == one.phones.index("+40712345678")
    assert rotated.phones.word_digest("checkin", "lalea") == one.phones.word_digest(
        "checkin", "lalea"
    )


async def test_upgrading_and_rotating_at_once_is_refused_rather_than_guessing_the_root(
    database: Database, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        secret_key_b64=b64(secrets.token_bytes(32)),
        previous_secret_keys_b64=(b64(secrets.token_bytes(32)),),
    )
    with pytest.raises(IndexRootUnknown, match="start this version once"):
        await open_services(settings, ManualClock(), database, hub=None, events=NullEventSink())
