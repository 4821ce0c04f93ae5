"""deskphone.systemd against a datagram socket bound by the test, as systemd would bind it."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest

from deskphone.systemd import SystemdNotifier, notify_socket_address, watchdog_interval


def _receiver(address: str | bytes) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(5)
    return sock


def test_ready_and_status_reach_a_path_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    with _receiver(path) as rx:
        notifier = SystemdNotifier.from_environment({"NOTIFY_SOCKET": path})
        assert notifier.ready("idle, 1 account registered")
        assert rx.recv(4096) == b"READY=1\nSTATUS=idle, 1 account registered"
        assert notifier.watchdog()
        assert rx.recv(4096) == b"WATCHDOG=1"
        assert notifier.status("in call\nsecure")  # a newline would start a new assignment
        assert rx.recv(4096) == b"STATUS=in call secure"
        assert notifier.stopping()
        assert rx.recv(4096) == b"STOPPING=1"
        notifier.close()
    assert notifier.stats.sent == 4 and notifier.stats.failed == 0


def test_abstract_namespace_socket() -> None:
    name = f"deskphone-test-{uuid.uuid4().hex}"
    with _receiver(b"\0" + name.encode()) as rx:
        notifier = SystemdNotifier.from_environment({"NOTIFY_SOCKET": "@" + name})
        assert notifier.ready()
        assert rx.recv(4096) == b"READY=1"
        notifier.close()


def test_without_notify_socket_everything_is_a_no_op() -> None:
    notifier = SystemdNotifier.from_environment({})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.watchdog_ping_interval() is None
    assert notifier.stats.sent == 0


def test_vanished_socket_is_counted_not_raised(tmp_path: Path) -> None:
    notifier = SystemdNotifier.from_environment({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    assert notifier.watchdog() is False
    assert notifier.stats.failed == 1


def test_relative_notify_socket_is_rejected_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="NOTIFY_SOCKET='vsock:2:1'.*absolute path"):
        notify_socket_address("vsock:2:1")


def test_variable_names_are_checked(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    with _receiver(path):
        notifier = SystemdNotifier(path)
        with pytest.raises(ValueError, match="upper-case"):
            notifier.notify(ready="1")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # another process's
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_from_environment(env: dict[str, str], expected: float | None) -> None:
    assert watchdog_interval(env) == expected


def test_ping_interval_is_half_of_watchdogsec(tmp_path: Path) -> None:
    notifier = SystemdNotifier.from_environment(
        {"NOTIFY_SOCKET": str(tmp_path / "n"), "WATCHDOG_USEC": "30000000"})
    assert notifier.watchdog_ping_interval() == 15.0


def test_module_level_ready_arms_the_event_loop_watchdog(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from deskphone import systemd

    path = str(tmp_path / "notify")
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setenv("WATCHDOG_USEC", "20000")  # 20 ms: pings every 10 ms of loop time
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    monkeypatch.setattr(systemd, "_default", None)
    with _receiver(path) as rx:
        rx.setblocking(False)

        async def phone() -> list[bytes]:
            assert systemd.notify_ready("extension 201")
            got: list[bytes] = []
            while sum(m == b"WATCHDOG=1" for m in got) < 3:
                await asyncio.sleep(0.005)   # yields to the loop; waits on pings, not a clock
                try:
                    got.append(rx.recv(4096))
                except BlockingIOError:
                    pass
            return got

        got = asyncio.run(asyncio.wait_for(phone(), timeout=10))
    assert got[0] == b"READY=1\nSTATUS=extension 201"
    assert got[1:4] == [b"WATCHDOG=1"] * 3


def test_module_level_calls_outside_systemd_do_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    from deskphone import systemd

    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.setattr(systemd, "_default", None)
    assert systemd.notify_ready() is False
    assert systemd.notify_status("x") is False and systemd.notify_stopping() is False
