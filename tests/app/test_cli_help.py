"""Every command answers without a phone where it can: the control command list, each
subcommand's --help with examples."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from deskphone.control import COMMANDS, help_text
from deskphone.control_commands import CONTROL_COMMANDS


def deskphone(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "deskphone.cli", *args], capture_output=True,
                          text=True, timeout=60, env=env)


def test_ctl_help_lists_the_commands_with_no_phone_running(tmp_path: Path) -> None:
    proc = deskphone("ctl", "--control", str(tmp_path / "nobody-here.sock"), "help")
    assert proc.returncode == 0, proc.stderr
    assert "cannot reach" not in proc.stderr
    for name, args, _what in COMMANDS:
        assert f"{name} {args}".strip() in proc.stdout


def test_ctl_with_no_command_prints_the_list_and_fails() -> None:
    proc = deskphone("ctl")
    assert proc.returncode == 2
    assert "confirm-sas" in proc.stderr and "wait KEY=VALUE" in proc.stderr


def test_the_help_table_names_exactly_the_commands_the_phone_dispatches() -> None:
    assert [name for name, _, _ in COMMANDS] == list(dict.fromkeys(n for n, _, _ in COMMANDS))
    assert {name for name, _, _ in COMMANDS} == set(CONTROL_COMMANDS)


def test_help_fits_an_80_column_terminal() -> None:
    assert max(len(line) for line in help_text().splitlines()) <= 79


@pytest.mark.parametrize(("command", "example"), [
    ("run", "deskphone run --sim"),
    ("ctl", "deskphone ctl --control /tmp/p/ctl.sock press 202#"),
    ("check-config", "deskphone check-config deskphone.toml"),
])
def test_each_subcommand_help_has_examples(command: str, example: str) -> None:
    proc = deskphone(command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "examples:" in proc.stdout and example in proc.stdout


def test_ctl_help_option_also_shows_the_command_list() -> None:
    proc = deskphone("ctl", "--help")
    assert "screenshot FILE.png" in proc.stdout


def test_top_level_help_points_at_each_command() -> None:
    proc = deskphone("--help")
    assert proc.returncode == 0
    for command in ("run", "ctl", "check-config"):
        assert command in proc.stdout
    assert "deskphone COMMAND --help" in proc.stdout


def test_ctl_wait_waits_for_a_phone_that_is_still_starting(tmp_path: Path) -> None:
    sock_dir = tmp_path / "ctl"
    sock_dir.mkdir(mode=0o700)
    socket_path = sock_dir / "control.sock"
    config = tmp_path / "phone.toml"
    config.write_text('[sip]\nlisten = "udp:127.0.0.1:0"\n[discovery]\nenabled = false\n')
    # ctl first, the phone second: wait must not fail with "cannot reach".
    waiter = subprocess.Popen([sys.executable, "-m", "deskphone.cli", "ctl", "--control",
                               str(socket_path), "wait", "call=idle", "timeout=60"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    phone = subprocess.Popen([sys.executable, "-m", "deskphone.cli", "run", "--sim", "--config",
                              str(config), "--data-dir", str(tmp_path / "data"), "--control",
                              str(socket_path)], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        out, err = waiter.communicate(timeout=90)
        assert waiter.returncode == 0, err
        assert '"call": "idle"' in out
    finally:
        subprocess.run([sys.executable, "-m", "deskphone.cli", "ctl", "--control",
                        str(socket_path), "shutdown"], capture_output=True, timeout=30)
        phone.wait(timeout=30)


def test_ctl_state_without_a_phone_fails_at_once(tmp_path: Path) -> None:
    proc = deskphone("ctl", "--control", str(tmp_path / "none.sock"), "state")
    assert proc.returncode == 3 and "cannot reach the phone" in proc.stderr
