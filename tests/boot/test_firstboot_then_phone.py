"""First boot, then the phone as its own unprivileged user, against what first boot wrote.

The image's first boot once left /etc/deskphone 0700 root (the firstboot unit's UMask=0077 on a
plain mkdir) and the config root:root, so deskphone.service died with a PermissionError on its
very first start; only booting the image showed it. This test does what the two units do, in a
temporary root and without an image:

  1. deskphone-firstboot.service: boot/firstboot.py as root with the unit's UMask applies a
     provisioned deskphone.toml (an account with its SIP password, [network], [network.wifi]);
  2. systemd for deskphone.service: checks the ConfigurationDirectory mode it declares and
     creates its StateDirectory owned by the service user with StateDirectoryMode;
  3. deskphone.service: `deskphone run` with setpriv as an unprivileged uid/gid (the group
     first boot found in ROOT/etc/group), the unit's UMask and a NOTIFY_SOCKET; it must send
     READY=1 with the provisioned extension in STATUS.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.boot.bootmods import BOOT, unit_value
from tests.support import IN_CI, free_udp_port, require_root, require_tool

PHONE_UNIT = BOOT / "deskphone.service"
FIRSTBOOT_UNIT = BOOT / "deskphone-firstboot.service"
DESKPHONE = Path(sys.executable).with_name("deskphone")


def unused_id() -> int:
    """A uid that is also a free gid: nobody else's files, no supplementary groups."""
    for candidate in range(61000, 65000):
        try:
            pwd.getpwuid(candidate)
            continue
        except KeyError:
            pass
        try:
            grp.getgrgid(candidate)
        except KeyError:
            return candidate
    raise AssertionError("no free uid/gid in 61000-64999")


@pytest.fixture
def public_dir() -> Iterator[Path]:
    """A temporary directory the unprivileged phone can reach (pytest's tmp_path is 0700)."""
    base = Path(tempfile.mkdtemp(prefix="deskphone-firstboot-", dir="/tmp"))
    os.chmod(base, 0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def as_user(uid: int, gid: int) -> list[str]:
    setpriv = require_tool("setpriv")
    return [setpriv, f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--no-new-privs"]


def require_readable_checkout(uid: int, gid: int) -> None:
    """The phone runs from this checkout's venv: an unprivileged user must be able to read it."""
    probe = subprocess.run([*as_user(uid, gid), str(DESKPHONE), "--help"], capture_output=True,
                           text=True, timeout=60, check=False)
    if probe.returncode != 0:
        message = (f"uid {uid} cannot run {DESKPHONE} ({probe.stderr.strip()[-200:]}): the "
                   "checkout and its .venv must be readable by others (chmod -R o+rX)")
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def test_phone_reaches_ready_as_its_own_user_on_what_first_boot_wrote(public_dir: Path) -> None:
    require_root()  # first boot runs as root and chowns; the phone then drops to its own user
    phone_id = unused_id()
    require_readable_checkout(phone_id, phone_id)
    root = public_dir / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/group").write_text(f"root:x:0:\ndeskphone:x:{phone_id}:\n")
    card = public_dir / "boot-firmware"
    card.mkdir()
    sip_port, registrar_port = free_udp_port(), free_udp_port()
    (card / "deskphone.toml").write_text(f"""\
[identity]
user = "alice"
extension = "4242"

[sip]
listen = "udp:127.0.0.1:{sip_port}"

[discovery]
enabled = false

[[accounts]]
name = "office"
registrar = "127.0.0.1:{registrar_port}"
user = "4242"
password = "first-boot-secret"

[network]
hostname = "deskphone-test"

[network.wifi]
ssid = "office"
psk = "correct horse battery"
country = "DE"
""")

    # 1. deskphone-firstboot.service (as root, with its UMask)
    firstboot_umask = int(unit_value(FIRSTBOOT_UNIT, "Service.UMask", "0022"), 8)
    applied = subprocess.run(
        [sys.executable, str(BOOT / "firstboot.py"), str(card / "deskphone.toml"), str(root)],
        capture_output=True, text=True, timeout=60, check=False,
        preexec_fn=lambda: os.umask(firstboot_umask))
    assert applied.returncode == 0, applied.stderr
    assert not (card / "deskphone.toml").exists()

    # 2. what systemd does for deskphone.service before ExecStart
    config_dir = root / "etc" / unit_value(PHONE_UNIT, "Service.ConfigurationDirectory")
    config_dir_mode = int(unit_value(PHONE_UNIT, "Service.ConfigurationDirectoryMode", "0755"), 8)
    assert stat.S_IMODE(config_dir.stat().st_mode) == config_dir_mode, (
        "systemd: ConfigurationDirectory already exists but the mode is different")
    state_dir = root / "var/lib" / unit_value(PHONE_UNIT, "Service.StateDirectory")
    state_dir.mkdir(parents=True)
    os.chown(state_dir, phone_id, phone_id)
    os.chmod(state_dir, int(unit_value(PHONE_UNIT, "Service.StateDirectoryMode", "0755"), 8))
    config = config_dir / "deskphone.toml"
    # Nobody but the phone's user reads the SIP password.
    assert config.stat().st_mode & 0o007 == 0 and config.stat().st_gid == phone_id

    # 3. deskphone.service as its user, with --sim (no GPIO, I2C or sound card here)
    phone_umask = int(unit_value(PHONE_UNIT, "Service.UMask", "0022"), 8)
    notify_name = f"deskphone-firstboot-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(b"\0" + notify_name.encode())
        notify.settimeout(90)
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
               "NOTIFY_SOCKET": "@" + notify_name, "HOME": str(state_dir),
               "PYTHONDONTWRITEBYTECODE": "1", "DESKPHONE_LOG": "INFO"}
        phone = subprocess.Popen(
            [*as_user(phone_id, phone_id), str(DESKPHONE), "run", "--sim", "--no-terminal",
             "--config", str(config), "--data-dir", str(state_dir)],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, preexec_fn=lambda: os.umask(phone_umask))
        try:
            messages: list[str] = []
            while not any("READY=1" in m for m in messages):
                try:
                    messages.append(notify.recv(4096).decode())
                except TimeoutError:
                    phone.kill()
                    _out, err = phone.communicate(timeout=30)
                    pytest.fail(f"no READY=1 within 90 s; phone exit {phone.returncode}: {err}")
            ready = next(m for m in messages if "READY=1" in m)
            assert "STATUS=extension 4242" in ready
            assert phone.poll() is None
            assert os.stat(f"/proc/{phone.pid}").st_uid == phone_id  # not root
        finally:
            if phone.poll() is None:
                phone.send_signal(signal.SIGTERM)
            _out, err = phone.communicate(timeout=30)
    assert phone.returncode == 0, err
    assert "first-boot-secret" not in err
    # The phone's state went where systemd's StateDirectory put it, owned by the phone's user.
    assert all(p.stat().st_uid == phone_id for p in state_dir.iterdir())
