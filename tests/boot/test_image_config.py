"""The files that go into the SD image: units, udev, sysusers, config.txt additions, scripts."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.boot.bootmods import BOOT, REPO, unit_entries
from tests.support import require_root, require_tool

ROOTFS = BOOT / "rootfs"


def test_systemd_analyze_verify_accepts_both_units_without_warnings(tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze")
    stub_bin = tmp_path / "bin"
    stub_bin.mkdir()
    for name in ("deskphone", "python3"):  # verify checks that ExecStart= is executable
        stub = stub_bin / name
        stub.write_text("#!/bin/sh\n")
        stub.chmod(0o755)
    units = []
    for name in ("deskphone.service", "deskphone-firstboot.service"):
        text = (BOOT / name).read_text().replace("/opt/deskphone/venv/bin/", f"{stub_bin}/")
        (tmp_path / name).write_text(text)
        units.append(str(tmp_path / name))
    result = subprocess.run([analyze, "verify", *units], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    # Unknown keys and bad values are only warnings for systemd: treat them as failures.
    complaints = [line for line in result.stderr.splitlines()
                  if "ignoring" in line or "Unknown" in line or "Invalid" in line]
    assert complaints == []


def test_service_is_notify_with_watchdog_and_unprivileged() -> None:
    unit = unit_entries(BOOT / "deskphone.service")
    assert unit["Service.Type"] == ["notify"]
    assert unit["Service.NotifyAccess"] == ["main"]
    assert int(unit["Service.WatchdogSec"][0].rstrip("s")) >= 10
    assert unit["Service.User"] == ["deskphone"]
    assert unit["Service.SupplementaryGroups"][0].split() == ["gpio", "i2c", "audio"]
    assert unit["Service.StateDirectory"] == ["deskphone"]
    assert "--data-dir /var/lib/deskphone" in unit["Service.ExecStart"][0]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("ProtectSystem", "strict"), ("ProtectHome", "yes"), ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"), ("DevicePolicy", "closed"), ("CapabilityBoundingSet", ""),
        ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6 AF_NETLINK"),
        ("RestrictNamespaces", "yes"), ("SystemCallArchitectures", "native"),
        ("ProtectKernelModules", "yes"), ("ProtectControlGroups", "yes"),
    ],
)
def test_service_hardening(key: str, value: str) -> None:
    assert unit_entries(BOOT / "deskphone.service")[f"Service.{key}"] == [value]


def test_service_may_open_exactly_gpio_i2c_and_sound_devices() -> None:
    allowed = unit_entries(BOOT / "deskphone.service")["Service.DeviceAllow"]
    assert sorted(allowed) == ["char-alsa rw", "char-gpiochip rw", "char-i2c rw"]


def test_firstboot_runs_before_the_phone_and_the_network() -> None:
    unit = unit_entries(BOOT / "deskphone-firstboot.service")
    assert unit["Unit.ConditionPathExists"] == ["/boot/firmware/deskphone.toml"]
    before = unit["Unit.Before"][0].split()
    assert {"deskphone.service", "systemd-networkd.service", "network-pre.target"} <= set(before)
    assert unit["Service.Type"] == ["oneshot"]


def test_config_txt_additions_enable_i2c_and_disable_onboard_audio() -> None:
    lines = (ROOTFS / "etc/default/raspi-firmware-custom").read_text().splitlines()
    assert "dtparam=i2c_arm=on" in lines
    assert "dtparam=audio=off" in lines


def test_udev_rules_give_gpio_and_i2c_to_their_groups() -> None:
    rules = (ROOTFS / "etc/udev/rules.d/60-deskphone.rules").read_text()
    assert re.search(r'SUBSYSTEM=="gpio", KERNEL=="gpiochip\*", GROUP="gpio", MODE="0660"', rules)
    assert re.search(r'SUBSYSTEM=="i2c-dev".*GROUP="i2c", MODE="0660"', rules)
    assert (ROOTFS / "etc/modules-load.d/deskphone.conf").read_text().count("i2c-dev") >= 1


def test_sysusers_creates_the_user_in_exactly_its_groups() -> None:
    lines = [line.split() for line in
             (ROOTFS / "usr/lib/sysusers.d/deskphone.conf").read_text().splitlines()
             if line and not line.startswith("#")]
    assert ["g", "gpio", "-"] in lines and ["g", "i2c", "-"] in lines
    assert any(f[:2] == ["u", "deskphone"] for f in lines)
    assert sorted(f[2] for f in lines if f[:2] == ["m", "deskphone"]) == ["audio", "gpio", "i2c"]


def test_boot_partition_cannot_hold_up_the_boot() -> None:
    # A missing or broken FAT partition must not keep the phone from starting.
    line = next(x for x in (ROOTFS / "etc/fstab").read_text().splitlines()
                if x.startswith("LABEL=RASPIFIRM"))
    assert "nofail" in line and "x-systemd.device-timeout=" in line


def test_fstab_labels_match_the_partitions_the_build_creates() -> None:
    fstab = (ROOTFS / "etc/fstab").read_text()
    build = (BOOT / "build-image.sh").read_text()
    assert re.search(r"^LABEL=RASPIROOT\s+/\s+ext4", fstab, re.MULTILINE)
    assert re.search(r"^LABEL=RASPIFIRM\s+/boot/firmware\s+vfat", fstab, re.MULTILINE)
    assert "-n RASPIFIRM" in build and "-L RASPIROOT" in build
    assert "partition RASPIFIRM" in build and "partition RASPIROOT" in build


def test_image_dependencies_are_all_pinned() -> None:
    project = tomllib.loads((REPO / "firmware/pyproject.toml").read_text())["project"]
    extra = [line.split("#")[0].strip() for line in
             (BOOT / "requirements-pi.txt").read_text().splitlines()]
    constraints = [line.split("#")[0].strip() for line in
                   (BOOT / "constraints-arm64.txt").read_text().splitlines()]
    for requirement in project["dependencies"] + [e for e in extra + constraints if e]:
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][0-9A-Za-z.\-+]*", requirement.split(";")[0]
                            .strip()), requirement


@pytest.mark.parametrize("script", ["build-image.sh", "image-test.sh", "flash.sh",
                                    "image/customize.sh"])
def test_scripts_are_executable_and_parse(script: str) -> None:
    path = BOOT / script
    assert path.stat().st_mode & stat.S_IXUSR
    subprocess.run(["bash", "-n", str(path)], check=True, timeout=30)


def _run_build(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cmd = ["bash", str(BOOT / "build-image.sh"), "--out", str(tmp_path / "out")]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, **env})


def test_build_refuses_to_run_without_root() -> None:
    if os.geteuid() == 0:
        require_tool("setpriv")  # drops root for the test; fails in CI if util-linux is missing
    import tempfile

    # nobody must be able to read the script: the checkout may sit in a root-only folder
    with tempfile.TemporaryDirectory() as public:
        os.chmod(public, 0o755)
        script = Path(public) / "build-image.sh"
        shutil.copy(BOOT / "build-image.sh", script)
        script.chmod(0o755)
        cmd = ["bash", str(script), "--out", f"{public}/out"]
        if os.geteuid() == 0:
            cmd = [shutil.which("setpriv") or "setpriv", "--reuid=65534", "--regid=65534",
                   "--clear-groups", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False,
                                cwd=public)
    assert result.returncode == 1, result.stderr
    assert "must run as root" in result.stderr


def test_build_explains_missing_binfmt_misc(tmp_path: Path) -> None:
    require_root()  # the script's root check comes first (CI runs as root)
    if os.uname().machine == "aarch64":
        pytest.skip("arm64 hosts need no binfmt_misc")
    result = _run_build(tmp_path, {"DESKPHONE_BINFMT_DIR": str(tmp_path / "no-binfmt")})
    assert result.returncode == 1
    assert "binfmt_misc is not mounted" in result.stderr
    assert "update-binfmts --enable qemu-aarch64" in result.stderr


def test_build_explains_missing_disk_space(tmp_path: Path) -> None:
    require_root()  # the script's root check comes first (CI runs as root)
    binfmt = tmp_path / "binfmt"
    binfmt.mkdir()
    (binfmt / "status").write_text("enabled\n")
    (binfmt / "qemu-aarch64").write_text("enabled\ninterpreter /usr/bin/qemu-aarch64-static\n")
    result = _run_build(tmp_path, {"DESKPHONE_BINFMT_DIR": str(binfmt),
                                   "DESKPHONE_MIN_FREE_GIB": "999999999"})
    assert result.returncode == 1
    assert re.search(r"only \d+ MiB free in .*the build needs 999999999 GiB", result.stderr)
