"""``serve`` raises its open-file limit to the hard limit: one descriptor per phone."""

from __future__ import annotations

import resource
from collections.abc import Iterator

import pytest

from server.process_limits import raise_open_file_limit


@pytest.fixture
def low_soft_limit() -> Iterator[int]:
    """Lower this process's soft limit (as a default shell would have it), and put the
    original back afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))
    yield hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_the_soft_open_file_limit_is_raised_to_the_hard_limit(low_soft_limit: int) -> None:
    hard = low_soft_limit
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] < hard or hard <= 256
    in_force = raise_open_file_limit()
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
    assert in_force == hard
