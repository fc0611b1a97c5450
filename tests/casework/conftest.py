"""The console fixtures of the witness-page tests, for the casework tests."""

from __future__ import annotations

from tests.console_witness.conftest import console

__all__ = ["console"]
