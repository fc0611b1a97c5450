"""One-time and fallback keys: upload (signature-checked), count and atomic claims.

A sender claims one key per recipient device to start an Olm session; each one-time key
is handed out at most once, even under concurrent claims. When a device has run out,
its fallback key is handed out instead (reusable, replaced by the device; only the
newest is kept). Claims are rate-limited per device and restricted to devices of a case
the claimer belongs to.

One member must not be able to drain another device's one-time keys (and so force
everyone else onto its fallback key): each claiming device may take at most
:attr:`OneTimeKeyAllowance.limit` one-time keys from each target device per window;
beyond that it gets the target's fallback key (``fallback: true`` in the answer). A
legitimate client opens a session with a device once and repairs a broken one at most
once an hour, far below the allowance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from server.clock import Clock
from server.domain.access import Principal
from server.domain.audit import AuditLog
from server.domain.denials import audit_denied
from server.domain.models import Device, SignedKey
from server.domain.registration import MAX_STORED_ONE_TIME_KEYS, check_keys
from server.errors import InvalidInput, NotFound
from server.security.ratelimit import MemoryRateLimiter
from server.storage.protocols import Store

MAX_CLAIM = 100


@dataclass(frozen=True, slots=True)
class OneTimeKeyAllowance:
    """How many one-time keys one device may claim from one other device per window."""

    limit: int = 5
    window: timedelta = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class ClaimResult:
    device: Device
    key: SignedKey | None
    fallback: bool


class KeyService:
    """Keeps each device's supply of signed one-time keys."""

    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        clock: Clock,
        claims_by_device: MemoryRateLimiter,
        allowance: OneTimeKeyAllowance | None = None,
    ) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock
        self._claims_by_device = claims_by_device
        self.allowance = allowance or OneTimeKeyAllowance()

    async def upload(
        self, principal: Principal, one_time_keys: Sequence[SignedKey], fallback: SignedKey | None
    ) -> int:
        """Add signed keys for the caller's device; returns how many keys it now holds.

        Raises:
            SignatureInvalid: a key signature does not verify.
            InvalidInput: too many keys.
        """
        device = principal.device
        check_keys(device.ed25519, device.curve25519, one_time_keys, fallback)
        async with self._store.write() as uow:
            held = await uow.keys.count_one_time_keys(device.id)
            if held + len(one_time_keys) > MAX_STORED_ONE_TIME_KEYS:
                raise InvalidInput(
                    f"a device may hold at most {MAX_STORED_ONE_TIME_KEYS} one-time keys"
                )
            await uow.keys.add_one_time_keys(device.id, one_time_keys)
            if fallback is not None:
                await uow.keys.set_fallback_key(device.id, fallback, self._clock.now())
            count = await uow.keys.count_one_time_keys(device.id)
            if fallback is not None:
                await self._audit.append(
                    uow.audit,
                    principal.actor,
                    "device.fallback_key_replaced",
                    subject=("device", device.id),
                )
        return count

    async def count(self, principal: Principal) -> int:
        async with self._store.read() as uow:
            return await uow.keys.count_one_time_keys(principal.device.id)

    async def claim(
        self, principal: Principal, case_id: str, device_ids: Sequence[str]
    ) -> list[ClaimResult]:
        """Claim one key for each listed device of a case the caller belongs to: a
        one-time key while the caller's allowance for that device lasts and the device
        has one, else its fallback key.

        Raises:
            InvalidInput: too many or repeated devices.
            RateLimited: too many claims by this device.
            NotFound: the caller is not a member of the case, or a device is not one of
                the case's active devices.
        """
        if len(device_ids) > MAX_CLAIM or len(set(device_ids)) != len(device_ids):
            raise InvalidInput(f"claim up to {MAX_CLAIM} distinct devices at a time")
        self._claims_by_device.take_now(principal.device.id, cost=max(1, len(device_ids)))
        results: list[ClaimResult] = []
        async with self._store.write() as uow:
            if principal.witness is not None:
                member = principal.witness.case_id == case_id
            else:
                assert principal.staff is not None
                member = await uow.cases.is_assigned(case_id, principal.staff.id)
            devices = {d.id: d for d in await uow.devices.list_for_case(case_id)} if member else {}
            refused = not member or any(d not in devices for d in device_ids)
            if not refused:
                now = self._clock.now()
                for device_id in device_ids:
                    device = devices[device_id]
                    allowed = await uow.keys.take_one_time_key_allowance(
                        principal.device.id,
                        device_id,
                        now,
                        now - self.allowance.window,
                        self.allowance.limit,
                    )
                    key = await uow.keys.claim_one_time_key(device_id) if allowed else None
                    if key is not None:
                        results.append(ClaimResult(device, key, fallback=False))
                    else:
                        fallback = await uow.keys.get_fallback_key(device_id)
                        results.append(ClaimResult(device, fallback, fallback=True))
        if refused:
            await audit_denied(
                self._store,
                self._audit,
                principal.actor,
                case_id,
                "claim keys" if not member else "claim keys of devices outside the case",
            )
            raise NotFound(
                "No such case" if not member else "A device is not an active device of this case"
            )
        return results

    async def forget_old_allowances(self) -> int:
        """Delete allowance windows that have ended (housekeeping); returns how many."""
        async with self._store.write() as uow:
            return await uow.keys.forget_one_time_key_allowances(
                self._clock.now() - self.allowance.window
            )
