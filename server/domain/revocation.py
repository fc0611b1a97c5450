"""Revoking a device, inside a caller's transaction: what every path shares.

Remote revocation by a case manager, revocation by the owner, a closed case and too
many wrong PINs all end a device the same way: its token stops working, what was queued
for it and its unused keys are dropped, and — for a witness phone — the OPRF key that
its store needs is erased, so the store can never be opened again (crypto-shredding:
also whatever copies of it linger on flash).
"""

from __future__ import annotations

from datetime import datetime

from server.domain.audit import Actor, AuditLog
from server.domain.models import Case, Device
from server.storage.protocols import UnitOfWork


async def revoke_device_in(
    uow: UnitOfWork,
    audit: AuditLog,
    actor: Actor,
    revoked_by: str,
    device: Device,
    case: Case | None,
    now: datetime,
    *,
    why: str = "revoked",
) -> bool:
    """Revoke ``device`` and forget what was held for it; False (and nothing done) if
    it was already revoked.

    ``revoked_by`` is who revokes (the owner of the caller's device, a staff member,
    or ``"system"``); ``why`` is recorded with the erasure of the store's OPRF key.
    """
    if not await uow.devices.revoke(device.id, revoked_by, now):
        return False
    await uow.messages.delete_for_device(device.id)
    await uow.keys.delete_for_device(device.id)
    for orphan in await uow.attachments.delete_recipient(device.id):
        await uow.attachments.delete(orphan)
    await uow.unlock.erase(device.id, why, now)
    await audit.append(
        uow.audit,
        actor,
        "device.revoked",
        subject=("device", device.id),
        case_id=None if case is None else case.id,
        details={"owner_kind": device.owner_kind.value, "remote": device.owner_id != revoked_by},
    )
    return True
