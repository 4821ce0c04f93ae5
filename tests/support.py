"""Shared test helpers.

Interop tests need real peers (kamailio, sipp, linphonec, tshark). Outside CI a missing tool skips
the test; in CI (CI=true) it fails, so a missing install step can never hide behind a skip.
"""

from __future__ import annotations

import os
import shutil
import socket

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_tool(name: str) -> str:
    """Return the path of an external program, or skip (fail in CI) when it is not installed."""
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.path.exists(p)), None
    )
    if path is None:
        message = f"{name} is not installed (.ci/run installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def require_module(name: str) -> None:
    """Skip (fail in CI) when an optional Python package is missing: `make test` builds
    pyalsaaudio only where a C compiler and the ALSA headers are."""
    try:
        __import__(name)
    except ImportError:
        message = f"Python module {name} is not installed (make test builds it when it can)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def require_root() -> None:
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("this test needs root (CI runs as root)")
        pytest.skip("needs root")


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago, for both UDP and TCP on host."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
            return port


