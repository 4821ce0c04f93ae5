"""Every command answers without a phone where it can: the control command list, each
subcommand's --help with examples."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from deskphone.app import CONTROL_COMMANDS
from deskphone.control import COMMANDS, help_text


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
