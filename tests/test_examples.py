"""The README's runnable example keeps working (it starts a real server)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_sdk_tour_runs_end_to_end() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "tour.py")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "support worker received: I arrived home safely." in result.stdout
    history = "phone history: ['I arrived home safely.', 'We will visit on Thursday.']"
    assert history in result.stdout
    assert "check-in plan: Mon, Thu at 10:00 (Europe/Bucharest)" in result.stdout
