"""Risk levels and factors of a witness's risk and needs assessment, and what each level
sets by default.

One vocabulary for the assessment (which records a level and factors), the welfare
visit plan (whose interval follows the level) and the check-in plan defaults, so the
three never disagree. The factors are a fixed list (EU Directive 2011/36 art. 11-12,
Council of Europe trafficking Convention art. 16 and 28, IOM's pre-departure risk
assessment): staff tick them, and free text goes only into the sealed notes.

The defaults are starting points the case team may change per witness; a higher level
means more frequent contact and a sooner review.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class RiskLevel(enum.StrEnum):
    """How much danger the witness is judged to be in, from lowest to highest."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    SEVERE = "severe"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {RiskLevel.LOW: 1, RiskLevel.MEDIUM: 2, RiskLevel.HIGH: 3, RiskLevel.SEVERE: 4}


class RiskFactor(enum.StrEnum):
    """A circumstance the assessment may record (fixed list; notes carry the detail)."""

    RE_TRAFFICKING = "re_trafficking"
    NETWORK_THREATS = "network_threats"
    FAMILY_INVOLVEMENT = "family_involvement"
    HEALTH = "health"
    MENTAL_HEALTH = "mental_health"
    HOUSING = "housing"
    DEBT = "debt"
    INCOME = "income"
    DEPENDANTS = "dependants"
    STIGMA = "stigma"
    SUBSTANCE_USE = "substance_use"
    LEGAL_STATUS = "legal_status"


@dataclass(frozen=True, slots=True)
class RiskDefaults:
    """What a level sets unless the team chooses otherwise."""

    checkin_every_hours: int  # interval of the welfare check-in plan
    visit_every_days: int  # interval of the home-country team's welfare visits
    review_every_days: int  # when the assessment must be reviewed again


RISK_DEFAULTS: dict[RiskLevel, RiskDefaults] = {
    RiskLevel.LOW: RiskDefaults(checkin_every_hours=168, visit_every_days=60, review_every_days=90),
    RiskLevel.MEDIUM: RiskDefaults(
        checkin_every_hours=72, visit_every_days=30, review_every_days=60
    ),
    RiskLevel.HIGH: RiskDefaults(checkin_every_hours=24, visit_every_days=14, review_every_days=30),
    RiskLevel.SEVERE: RiskDefaults(
        checkin_every_hours=12, visit_every_days=7, review_every_days=14
    ),
}


def defaults_for(level: RiskLevel) -> RiskDefaults:
    """The check-in, visit and review intervals a level sets by default."""
    return RISK_DEFAULTS[level]
