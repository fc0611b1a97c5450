"""Helpers for the vault specifications: what the server holds for a phone, copies of a
store folder, a spy on Argon2id, and opening a phone as the tests' witness does."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nacl.pwhash.argon2id
import pytest

from client_sdk import WitnessClient
from server.domain.unlock.models import ConfirmKey, UnlockState
from tests.support.world import World

RATE_WINDOW_S = 30  # the server refills one evaluation per 30 s and device


async def unlock_state(world: World, device_id: str) -> UnlockState:
    async with world.services.store.read() as uow:
        state = await uow.unlock.get(device_id)
    assert state is not None
    return state


async def confirm_keys(world: World, device_id: str) -> list[ConfirmKey]:
    async with world.services.store.read() as uow:
        return await uow.unlock.keys(device_id)


async def open_phone(world: World, store: Path, pin: str) -> WitnessClient:
    phone = await WitnessClient.open(store, pin, clock=world.clock)
    world.clients.append(phone)
    return phone


def copy_folder(store: Path, to: Path) -> Path:
    """Everything beside the store, as a thief would copy it; returns the copied store."""
    to.mkdir(parents=True, exist_ok=True)
    for file in store.parent.glob(store.name + "*"):
        shutil.copy2(file, to / file.name)
    return to / store.name


def folder_bytes(store: Path) -> bytes:
    """Every file of the store's folder, concatenated."""
    return b"".join(f.read_bytes() for f in sorted(store.parent.iterdir()) if f.is_file())


class Argon2Spy:
    """Counts Argon2id derivations (the real ones: it calls through) in this process."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []
        self.events: list[str] | None = None
        self._lock = threading.Lock()

    def wrap(self, real: Any) -> Any:
        def kdf(size: int, secret: bytes, salt: bytes, **cost: int) -> bytes:
            with self._lock:
                self.calls.append((cost["opslimit"], cost["memlimit"]))
                if self.events is not None:
                    self.events.append("argon2id")
            return bytes(real(size, secret, salt, **cost))

        return kdf


@contextmanager
def argon2_spy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Argon2Spy]:
    spy = Argon2Spy()
    monkeypatch.setattr(nacl.pwhash.argon2id, "kdf", spy.wrap(nacl.pwhash.argon2id.kdf))
    yield spy
