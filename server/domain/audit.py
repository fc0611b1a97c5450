"""The audit log: who did what, when, and why — never what was said.

Each entry commits to its predecessor: ``entry_hash = SHA-256(prev_hash || canonical
entry)``, so altering, removing or reordering any entry breaks every later hash.
:func:`verify_chain` recomputes the chain and names the first entry that does not fit.
Details are small JSON objects of ids and counts; callers must never put message
content, phone numbers, tokens or names in them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from server.clock import Clock, iso, to_ms
from server.domain.models import AuditEntry
from server.storage.protocols import AuditRepository, Store

GENESIS_HASH = b"\x00" * 32


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acted: a staff member, a witness (by id, pseudonymous) or the system."""

    kind: str
    id: str | None

    @classmethod
    def system(cls, component: str = "server") -> Actor:
        return cls("system", component)

    @classmethod
    def staff(cls, staff_id: str) -> Actor:
        return cls("staff", staff_id)

    @classmethod
    def witness(cls, witness_id: str) -> Actor:
        return cls("witness", witness_id)

    @classmethod
    def anonymous(cls) -> Actor:
        return cls("anonymous", None)


def canonical_entry(
    seq: int,
    at: datetime,
    actor_kind: str,
    actor_id: str | None,
    action: str,
    subject_kind: str | None,
    subject_id: str | None,
    case_id: str | None,
    reason: str | None,
    details: str,
) -> bytes:
    """The bytes an entry's hash covers; key order and separators are fixed."""
    return json.dumps(
        [
            seq,
            to_ms(at),
            actor_kind,
            actor_id,
            action,
            subject_kind,
            subject_id,
            case_id,
            reason,
            details,
        ],
        separators=(",", ":"),
        ensure_ascii=True,
    ).encode("ascii")


def entry_hash(prev_hash: bytes, canonical: bytes) -> bytes:
    return hashlib.sha256(prev_hash + canonical).digest()


#: How long a refusal is remembered, so that a burst of it is audited once.
REFUSAL_WINDOW = timedelta(minutes=10)
#: Refusals remembered at most (the oldest are forgotten first); bounds memory under a
#: flood of distinct targets.
MAX_REMEMBERED_REFUSALS = 10_000


class RefusalMemory:
    """Which refusals were audited recently, so a burst is audited once."""

    def __init__(self, clock: Clock, window: timedelta = REFUSAL_WINDOW) -> None:
        self._clock = clock
        self._window = window
        self._last: dict[tuple[str, ...], datetime] = {}

    def first_in_window(self, actor: Actor, attempted: str, target: str) -> bool:
        """True (and remembered) unless this refusal was audited within the window."""
        now = self._clock.now()
        key = (actor.kind, actor.id or "", attempted, target)
        last = self._last.get(key)
        if last is not None and now - last < self._window:
            return False
        self._last.pop(key, None)
        if len(self._last) >= MAX_REMEMBERED_REFUSALS:
            self._last.pop(next(iter(self._last)))
        self._last[key] = now
        return True


class AuditLog:
    """Appends entries inside the caller's unit of work, so the audit record commits
    (or rolls back) together with the change it describes."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        #: Refusals audited recently (see :func:`server.domain.denials.audit_denied`).
        self.refusals = RefusalMemory(clock)

    async def append(
        self,
        repo: AuditRepository,
        actor: Actor,
        action: str,
        *,
        subject: tuple[str, str] | None = None,
        case_id: str | None = None,
        reason: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        head = await repo.head()
        seq, prev = (1, GENESIS_HASH) if head is None else (head[0] + 1, head[1])
        at = self._clock.now()
        details_json = json.dumps(dict(details or {}), sort_keys=True, separators=(",", ":"))
        subject_kind, subject_id = subject if subject else (None, None)
        canonical = canonical_entry(
            seq,
            at,
            actor.kind,
            actor.id,
            action,
            subject_kind,
            subject_id,
            case_id,
            reason,
            details_json,
        )
        entry = AuditEntry(
            seq=seq,
            at=at,
            actor_kind=actor.kind,
            actor_id=actor.id,
            action=action,
            subject_kind=subject_kind,
            subject_id=subject_id,
            case_id=case_id,
            reason=reason,
            details=details_json,
            prev_hash=prev,
            entry_hash=entry_hash(prev, canonical),
        )
        await repo.insert(entry)
        return entry


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The result of checking the chain: how many entries, and the first bad one."""

    entries: int
    first_broken_seq: int | None
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.first_broken_seq is None

    def describe(self) -> str:
        if self.ok:
            return f"audit chain intact: {self.entries} entries verified"
        return f"audit chain broken at entry {self.first_broken_seq}: {self.problem}"


async def verify_chain(
    store: Store, *, page: int = 1000, counted: Callable[[AuditEntry], bool] | None = None
) -> ChainReport:
    """Recompute every hash in order; report the first entry that does not fit.

    ``counted`` limits the entries the report counts (every entry is still checked):
    an agency's managers learn nothing of the volume of other agencies' entries."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    after = 0
    while True:
        async with store.read() as uow:
            batch = await uow.audit.scan(after, page)
        if not batch:
            return ChainReport(checked, None, None)
        for entry in batch:
            if entry.seq != expected_seq:
                return ChainReport(
                    checked, expected_seq, f"entry {expected_seq} is missing (next is {entry.seq})"
                )
            if entry.prev_hash != expected_prev:
                return ChainReport(checked, entry.seq, "does not link to the previous entry")
            canonical = canonical_entry(
                entry.seq,
                entry.at,
                entry.actor_kind,
                entry.actor_id,
                entry.action,
                entry.subject_kind,
                entry.subject_id,
                entry.case_id,
                entry.reason,
                entry.details,
            )
            if entry_hash(entry.prev_hash, canonical) != entry.entry_hash:
                return ChainReport(checked, entry.seq, "content does not match its hash")
            expected_prev = entry.entry_hash
            expected_seq += 1
            if counted is None or counted(entry):
                checked += 1
            after = entry.seq


def describe_entry(entry: AuditEntry) -> dict[str, Any]:
    """A JSON-ready view of an entry for the API and the console."""
    return {
        "seq": entry.seq,
        "at": iso(entry.at),
        "actor": {"kind": entry.actor_kind, "id": entry.actor_id},
        "action": entry.action,
        "subject": None
        if entry.subject_kind is None
        else {"kind": entry.subject_kind, "id": entry.subject_id},
        "case_id": entry.case_id,
        "reason": entry.reason,
        "details": json.loads(entry.details),
        "hash": entry.entry_hash.hex(),
    }
