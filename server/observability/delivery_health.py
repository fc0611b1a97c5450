"""How notification delivery is going, counted for metrics and watched for failure.

The dispatcher reports each delivery outcome here. The counts (by channel and outcome,
and Twilio errors by code) feed ``/metrics``; a run of consecutive failed SMS crosses a
threshold and logs one warning ("SMS delivery is failing"), and the next SMS that goes
out logs the recovery. Nothing here sees a number or a body: only channels, outcome
names and provider error codes (a bounded set of short strings).
"""

from __future__ import annotations

import logging
import re
from collections import Counter

log = logging.getLogger("witnesslink.delivery")

#: Outcomes that count against SMS delivery health (``skipped`` is a missing number,
#: not a failing provider; ``uncertain`` may still turn out sent).
_ERROR_CODE = re.compile(r"[A-Za-z0-9-]{1,32}")

FAILED_OUTCOMES = frozenset({"failed", "retry", "uncertain", "undelivered"})


class DeliveryMonitor:
    """Counts delivery outcomes and notices when SMS delivery keeps failing."""

    def __init__(self, failing_after: int) -> None:
        if failing_after < 1:
            raise ValueError("failing_after must be at least 1")
        self._failing_after = failing_after
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.provider_errors: Counter[tuple[str, str]] = Counter()
        self.consecutive_sms_failures = 0
        self.failing = False

    def record(self, channel: str, outcome: str, *, error_code: str | None = None) -> None:
        """One delivery (or delivery report) of ``channel`` ended in ``outcome``; a
        provider ``error_code`` is counted under the outcome it led to."""
        self.outcomes[(channel, outcome)] += 1
        if channel == "sms" and error_code:
            # A code is a label value: keep the set small and free of stray text.
            code = error_code if _ERROR_CODE.fullmatch(error_code) else "other"
            self.provider_errors[(code, outcome)] += 1
        if channel != "sms" or outcome == "skipped":
            return
        if outcome in FAILED_OUTCOMES:
            self.consecutive_sms_failures += 1
            if not self.failing and self.consecutive_sms_failures >= self._failing_after:
                self.failing = True
                log.warning(
                    "SMS delivery is failing: %d attempts in a row did not go out "
                    "(last error code %s); alerts escalate but nobody receives them by SMS",
                    self.consecutive_sms_failures,
                    error_code or "none",
                )
        else:
            if self.failing:
                log.warning(
                    "SMS delivery has recovered after %d failures", self.consecutive_sms_failures
                )
            self.failing = False
            self.consecutive_sms_failures = 0
