"""Shared fixtures; helpers live in tests/support.py."""

from __future__ import annotations

import pytest

from tests.support import free_udp_port


@pytest.fixture
def free_port() -> int:
    return free_udp_port()
