"""Escalation policies: who is told about an alert, and when.

A policy is an ordered list of levels. Each level names its targets (roles in the
case's support or police agency, or particular staff) and when it fires, in minutes
after the round started. After the last level the round starts again, after
``repeat_minutes``, until someone acknowledges. An acknowledgement lasts
``ack_timeout_minutes``; if the alert is not resolved by then, escalation resumes at
the next level. Duress skips the wait: every level is told at once.

Policies are stored per agency (the default for that agency's cases) and per case (an
override); an alert snapshots the policy in force when it fires, so a later edit never
changes how a running alert escalates.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from server.domain.models import Role
from server.errors import InvalidInput

AGENCY_SIDES = ("support", "police")
MAX_LEVELS = 6


@dataclass(frozen=True, slots=True)
class Target:
    """Who to notify: by role in one of the case's agencies, or named staff.

    Supervisors and admins are taken from the whole agency; other roles from the
    staff assigned to the case. With ``on_duty_only``, staff who are off duty are
    skipped — unless that would leave nobody, in which case everyone matching is told.
    With ``call``, the people this target names are also phoned (besides the SMS and
    the app): "press 1 to acknowledge".
    """

    agency: str | None = None
    roles: tuple[Role, ...] = ()
    staff_ids: tuple[str, ...] = ()
    on_duty_only: bool = False
    call: bool = False


@dataclass(frozen=True, slots=True)
class Level:
    after_minutes: int
    targets: tuple[Target, ...]


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    levels: tuple[Level, ...]
    ack_timeout_minutes: int = 60
    repeat_minutes: int = 30

    @property
    def last_level(self) -> int:
        return len(self.levels)

    def level_time(self, round_started_at: datetime, level: int) -> datetime:
        """When ``level`` (1-based) fires in a round that started at ``round_started_at``."""
        return round_started_at + timedelta(minutes=self.levels[level - 1].after_minutes)

    def next_round_start(self, round_started_at: datetime) -> datetime:
        return self.level_time(round_started_at, self.last_level) + timedelta(
            minutes=self.repeat_minutes
        )

    def next_escalation(self, round_started_at: datetime, level: int) -> datetime:
        """When the step after ``level`` is due: the next level, or the next round."""
        if level < self.last_level:
            return self.level_time(round_started_at, level + 1)
        return self.next_round_start(round_started_at)

    def to_json(self) -> str:
        return json.dumps(
            {
                "levels": [
                    {
                        "after_minutes": level.after_minutes,
                        "notify": [
                            {
                                "agency": t.agency,
                                "roles": [r.value for r in t.roles],
                                "staff_ids": list(t.staff_ids),
                                "on_duty_only": t.on_duty_only,
                                "call": t.call,
                            }
                            for t in level.targets
                        ],
                    }
                    for level in self.levels
                ],
                "ack_timeout_minutes": self.ack_timeout_minutes,
                "repeat_minutes": self.repeat_minutes,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> EscalationPolicy:
        return policy_from_dict(json.loads(text))


def policy_from_dict(data: Any) -> EscalationPolicy:
    """Build and validate a policy from its JSON form.

    Raises:
        InvalidInput: anything malformed or senseless (no levels, times going backwards,
            a level nobody can receive, unknown roles).
    """
    try:
        levels = []
        for raw_level in data["levels"]:
            targets = []
            for raw in raw_level["notify"]:
                agency = raw.get("agency")
                if agency is not None and agency not in AGENCY_SIDES:
                    raise InvalidInput("a target's agency must be 'support' or 'police'")
                roles = tuple(Role(r) for r in raw.get("roles", []))
                staff_ids = tuple(str(s) for s in raw.get("staff_ids", []))
                if not roles and not staff_ids:
                    raise InvalidInput("a target needs roles or staff ids")
                if roles and agency is None:
                    raise InvalidInput("a target with roles needs an agency side")
                targets.append(
                    Target(
                        agency,
                        roles,
                        staff_ids,
                        bool(raw.get("on_duty_only", False)),
                        bool(raw.get("call", False)),
                    )
                )
            if not targets:
                raise InvalidInput("every level needs at least one target")
            levels.append(Level(int(raw_level["after_minutes"]), tuple(targets)))
        policy = EscalationPolicy(
            levels=tuple(levels),
            ack_timeout_minutes=int(data.get("ack_timeout_minutes", 60)),
            repeat_minutes=int(data.get("repeat_minutes", 30)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, InvalidInput):
            raise
        raise InvalidInput("the escalation policy is malformed") from exc
    check_policy(policy)
    return policy


def check_policy(policy: EscalationPolicy) -> None:
    """Raises: InvalidInput for a policy that would not work."""
    if not 1 <= len(policy.levels) <= MAX_LEVELS:
        raise InvalidInput(f"a policy has 1 to {MAX_LEVELS} levels")
    times = [level.after_minutes for level in policy.levels]
    if times[0] != 0:
        raise InvalidInput("the first level fires when the alert fires (after_minutes 0)")
    if any(b <= a for a, b in itertools.pairwise(times)):
        raise InvalidInput("each level must fire later than the one before")
    if times[-1] > 24 * 60:
        raise InvalidInput("the last level must fire within 24 hours")
    if not 1 <= policy.repeat_minutes <= 24 * 60:
        raise InvalidInput("repeat_minutes must be 1 to 1440")
    if not 1 <= policy.ack_timeout_minutes <= 7 * 24 * 60:
        raise InvalidInput("ack_timeout_minutes must be 1 to 10080")


DEFAULT_POLICY = EscalationPolicy(
    levels=(
        Level(0, (Target("support", (Role.SUPPORT_WORKER,), on_duty_only=True),)),
        Level(15, (Target("support", (Role.SUPERVISOR,)),)),
        Level(30, (Target("police", (Role.OFFICER,)),)),
    ),
    ack_timeout_minutes=60,
    repeat_minutes=30,
)


def for_one_side(policy: EscalationPolicy, side: str) -> EscalationPolicy:
    """The policy reduced to the targets in one of the case's agencies (``"police"`` or
    ``"support"``), for alerts only that side can act on (a handover nobody accepted
    is for the police to solve). Levels left without a target go; the rest keep their
    order and spacing, the first firing at once. If no level is left, the side's
    members of the case (officers, or support workers) are told; if no level reaches
    the side's supervisors, they are told 15 minutes after the last level.
    """
    kept: list[Level] = []
    for level in policy.levels:
        targets = tuple(t for t in level.targets if t.agency == side)
        if targets:
            kept.append(Level(level.after_minutes, targets))
    if not kept:
        member = Role.OFFICER if side == "police" else Role.SUPPORT_WORKER
        kept = [Level(0, (Target(side, (member,)),))]
    if not any(Role.SUPERVISOR in t.roles for level in kept for t in level.targets):
        # Someone who can reassign the work is reached if the first people do not act.
        supervisors = Level(kept[-1].after_minutes + 15, (Target(side, (Role.SUPERVISOR,)),))
        kept = [*kept, supervisors][-MAX_LEVELS:]
    first = kept[0].after_minutes
    return EscalationPolicy(
        levels=tuple(Level(level.after_minutes - first, level.targets) for level in kept),
        ack_timeout_minutes=policy.ack_timeout_minutes,
        repeat_minutes=policy.repeat_minutes,
    )
