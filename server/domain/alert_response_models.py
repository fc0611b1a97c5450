"""Records of what staff need to act on an alert: an agency's playbook for one alert
kind, and a witness's response instructions (held only sealed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Playbook:
    """The steps ``agency_id`` takes for alerts of ``kind`` (an ``AlertKind`` value)."""

    agency_id: str
    kind: str
    steps: str
    updated_by: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ResponseInstructions:
    """How to respond to one witness ("never call, text only"), sealed at rest."""

    witness_id: str
    sealed: bytes = field(repr=False)
    updated_by: str
    updated_at: datetime
