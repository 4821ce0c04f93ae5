"""Startup never ends in a traceback: one line naming the file, device or port and what to do.

The person at the phone has no journal: `deskphone run` prints one line, exits non-zero and (on
the Pi, when the OLED works) leaves the same line on the display. Subprocess tests run the real
`deskphone run`; the display cases run `run_phone` in-process with a luma dummy panel standing
in for the I2C one.
"""

from __future__ import annotations

import errno
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deskphone import config as config_module
from deskphone.config import ConfigError, config_from_dict, load_config
from deskphone.devices.display import SimDisplay
from deskphone.phone.screens.error import ErrorScreen
from deskphone.startup import StartupError, check_data_dir, explain
from tests.support import IN_CI, free_udp_port, require_root, require_tool

DESKPHONE = Path(sys.executable).with_name("deskphone")


def run_deskphone(*args: str, env: dict[str, str] | None = None,
                  prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
                   **(env or {})}
    return subprocess.run([*prefix, str(DESKPHONE), "run", "--no-terminal", *args],
                          capture_output=True, text=True, timeout=120, check=False,
                          env=environment, stdin=subprocess.DEVNULL)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The failure's stderr must be exactly one line, without a traceback."""
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def sim_config(tmp_path: Path, sip_port: int, extra: str = "") -> Path:
    path = tmp_path / "deskphone.toml"
    path.write_text(f'[sip]\nlisten = "udp:127.0.0.1:{sip_port}"\n\n[discovery]\n'
                    f'enabled = false\n{extra}')
    return path


@pytest.fixture
def public_dir() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="deskphone-startup-", dir="/tmp"))
    os.chmod(base, 0o755)
    try:
        yield base
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


# -- the config file ---------------------------------------------------------------------------


def test_unreadable_config_names_the_file_and_the_fix(public_dir: Path) -> None:
    config = sim_config(public_dir, free_udp_port())
    config.chmod(0o600)  # root's (or ours): not readable by the user the phone runs as below
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:
        setpriv = require_tool("setpriv")
        prefix = (setpriv, "--reuid=65534", "--regid=65534", "--clear-groups")
        probe = subprocess.run([*prefix, str(DESKPHONE), "--help"], capture_output=True,
                               timeout=60, check=False)
        if probe.returncode != 0:
            message = f"nobody cannot run {DESKPHONE}: the checkout must be readable by others"
            pytest.fail(message) if IN_CI else pytest.skip(message)
    else:
        config.chmod(0o000)
    result = run_deskphone("--sim", "--config", str(config), "--data-dir",
                           str(public_dir / "state"), prefix=prefix)
    line = one_line(result)
    assert result.returncode == 2
    assert str(config) in line and "permission denied" in line
    assert "0640" in line  # what to do: a mode the phone's user can read


def test_unreadable_default_config_is_a_config_error_not_a_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The image's bug: /etc/deskphone 0700 root made Path.exists() raise PermissionError.
    hidden = tmp_path / "etc-deskphone" / "deskphone.toml"
    monkeypatch.setattr(config_module, "DEFAULT_CONFIG_PATH", hidden)
    real_read_text = Path.read_text

    def read_text(self: Path, *args: Any, **kwargs: Any) -> str:
        if self == hidden:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)
    with pytest.raises(ConfigError, match="permission denied.*0640"):
        load_config(None)


def test_missing_default_config_still_means_lan_defaults(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config_module, "DEFAULT_CONFIG_PATH", tmp_path / "none/deskphone.toml")
    assert load_config(None).identity.extension == "100"


# -- ports, disks --------------------------------------------------------------------------------


def test_sip_port_in_use_names_the_port(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        port = squatter.getsockname()[1]
        result = run_deskphone("--sim", "--config", str(sim_config(tmp_path, port)),
                               "--data-dir", str(tmp_path / "state"))
    line = one_line(result)
    assert result.returncode == 2
    assert f"SIP port udp 127.0.0.1:{port}" in line
    assert "already in use by another program" in line


def test_full_disk_names_the_data_dir(tmp_path: Path) -> None:
    require_root()  # a tiny tmpfs of our own to fill up
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)], check=True,
                   timeout=30)
    try:
        with open(disk / "filler", "wb") as filler:
            try:
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
        result = run_deskphone("--sim", "--config", str(sim_config(tmp_path, free_udp_port())),
                               "--data-dir", str(disk))
    finally:
        subprocess.run(["umount", str(disk)], check=False, timeout=30)
    line = one_line(result)
    assert result.returncode == 2
    assert f"--data-dir {disk}" in line and "the disk is full" in line


def test_data_dir_check_refuses_a_read_only_place(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def read_only(*_args: Any) -> int:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(StartupError, match=f"--data-dir {tmp_path}: .*read-only"):
        check_data_dir(tmp_path)


# -- devices and the OLED ----------------------------------------------------------------------


def test_missing_oled_names_the_i2c_bus(tmp_path: Path) -> None:
    config = sim_config(tmp_path, free_udp_port(),
                        '\n[devices]\nmode = "pi"\n\n[pins.display]\ni2c_bus = 77\n')
    result = run_deskphone("--config", str(config), "--data-dir", str(tmp_path / "state"),
                           env={"GPIOZERO_PIN_FACTORY": "mock"})
    line = one_line(result)
    assert result.returncode == 2
    assert "OLED ssd1306 on /dev/i2c-77 at 0x3c" in line
    assert "enable I2C" in line


class Panel:
    """What open_oled returns on the Pi, with luma's dummy device instead of I2C."""

    def __init__(self) -> None:
        self.display = SimDisplay()
        self.closed = False

    def open(self, *_args: Any) -> SimDisplay:
        real_close = self.display.close

        def close() -> None:
            self.closed = True
            real_close()

        self.display.close = close  # type: ignore[method-assign]
        return self.display


def pi_config(sip_port: int) -> Any:
    return config_from_dict({"devices": {"mode": "pi"},
                             "sip": {"listen": f"udp:127.0.0.1:{sip_port}"},
                             "discovery": {"enabled": False}})


@pytest.fixture
def pi_without_hardware(monkeypatch: pytest.MonkeyPatch) -> Panel:
    """Pi mode with mock GPIO pins, a dummy OLED and no sound card."""
    from deskphone.devices import audio, build, display

    panel = Panel()
    monkeypatch.setattr(display, "open_oled", panel.open)
    monkeypatch.setattr(build, "_audio", lambda config: audio.NullAudio(rate=8000))
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    return panel


def expected_screen(line: str) -> bytes:
    return ErrorScreen("Cannot start", line).render().tobytes()


def test_busy_gpio_chip_is_named_printed_and_left_on_the_oled(
        tmp_path: Path, pi_without_hardware: Panel, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from deskphone.devices import gpiod_factory
    from deskphone.run import run_phone

    def busy(*_args: Any) -> None:
        raise OSError(errno.EBUSY, "Device or resource busy", "/dev/gpiochip0")

    monkeypatch.setattr(gpiod_factory, "default_pi_factory", busy)
    rc = run_phone(pi_config(free_udp_port()), data_dir=tmp_path, control_path=tmp_path / "c",
                   terminal=False)
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("deskphone: cannot start: GPIO /dev/gpiochip0: busy: another program")
    line = err.removeprefix("deskphone: cannot start: ")
    panel = pi_without_hardware
    assert panel.closed
    assert panel.display.image.tobytes() == expected_screen(line)  # still lit after close


def test_sip_port_in_use_is_left_on_the_oled(tmp_path: Path, pi_without_hardware: Panel,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from deskphone.run import run_phone

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        port = squatter.getsockname()[1]
        rc = run_phone(pi_config(port), data_dir=tmp_path, control_path=tmp_path / "c",
                       terminal=False)
    assert rc == 2
    line = capsys.readouterr().err.strip().removeprefix("deskphone: cannot start: ")
    assert f"SIP port udp 127.0.0.1:{port}" in line
    assert pi_without_hardware.display.image.tobytes() == expected_screen(line)


# -- the wording, errno by errno -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "kwargs", "expected"),
    [
        (PermissionError(errno.EACCES, "Permission denied", "/var/lib/deskphone/zrtp.sqlite"), {},
         "/var/lib/deskphone/zrtp.sqlite: permission denied for user"),
        (OSError(errno.ENOSPC, "No space left on device", "/var/lib/deskphone/calls.json"), {},
         "/var/lib/deskphone/calls.json: the disk is full: free some space"),
        (OSError(errno.EADDRINUSE, "Address already in use"), {"sip_listen": "udp 0.0.0.0:5060"},
         "SIP port udp 0.0.0.0:5060 ([sip] listen): already in use by another program"),
        (OSError(errno.EBUSY, "Device or resource busy"), {"subject": "keypad on GPIO 5,6"},
         "keypad on GPIO 5,6: busy: another program holds it"),
        (FileNotFoundError(errno.ENOENT, "No such file", "/dev/gpiochip0"), {},
         "/dev/gpiochip0: not found: check that the device is connected"),
        (OSError(errno.EREMOTEIO, "Remote I/O error"), {"subject": "OLED ssd1306 on /dev/i2c-1"},
         "OLED ssd1306 on /dev/i2c-1: no answer from the device: check that it is connected"),
        (sqlite3.OperationalError("database or disk is full"), {"data_dir": Path("/x")},
         "state in /x: the disk is full"),
        (OSError("ALSA capture device 'default' could not be opened: No such file"),
         {"subject": "handset audio"}, "handset audio: ALSA capture device 'default'"),
        # The phone's own errors are already worded for a person: kept as they are.
        (ConfigError("sip.listen", "udp:x", "transport:host:port"), {},
         str(ConfigError("sip.listen", "udp:x", "transport:host:port"))),
    ],
)
def test_explain_says_what_and_what_to_do(exc: BaseException, kwargs: dict[str, Any],
                                          expected: str) -> None:
    line = explain(exc, **kwargs)
    assert line.startswith(expected), line
    assert "\n" not in line
