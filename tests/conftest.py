"""Shared fixtures; helpers live in tests/support.py."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

from tests.support import IN_CI, free_udp_port

# Property tests: no per-example deadline (a loaded CI machine is not a bug in the parser), and in
# CI a fixed sequence of examples, so a red run can be reproduced and a green one is not luck.
# Locally they explore freely.
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile("ci" if IN_CI else "dev")


@pytest.fixture
def free_port() -> int:
    return free_udp_port()
