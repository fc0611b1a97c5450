"""Argon2id password hashing for staff accounts (argon2-cffi, PHC string format).

Hashing and verifying are CPU- and memory-heavy by design, so they run in a worker
thread and never block the event loop (design principle 9).
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH = 12


class PasswordHashing:
    """Hashes and verifies passwords; parameters are embedded in each hash."""

    def __init__(self, *, time_cost: int = 3, memory_cost_kib: int = 65536) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost_kib)
        # A hash to verify against when the account does not exist, so that response
        # time does not reveal which usernames exist.
        self._dummy = self._hasher.hash("witnesslink-dummy-password")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches; runs a full verification even for no account."""
        target = password_hash or self._dummy

        def check() -> bool:
            try:
                return self._hasher.verify(target, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

        ok = await asyncio.to_thread(check)
        return ok and password_hash is not None
