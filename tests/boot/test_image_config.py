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
    for unit in (BOOT / "deskphone.service", BOOT / "deskphone-firstboot.service",
                 *sorted((ROOTFS / "etc/systemd/system").glob("*.service"))):
        name = unit.name
        text = unit.read_text().replace("/opt/deskphone/venv/bin/", f"{stub_bin}/")
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
                                    "host-prereqs.sh", "image/customize.sh", "image/finish.sh"])
def test_scripts_are_executable_and_parse(script: str) -> None:
    path = BOOT / script
    assert path.stat().st_mode & stat.S_IXUSR
    subprocess.run(["bash", "-n", str(path)], check=True, timeout=30)


def _run_build(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cmd = ["bash", str(BOOT / "build-image.sh"), "--out", str(tmp_path / "out")]
    # DESKPHONE_NO_INSTALL: a test must not apt-get install on the machine it runs on.
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "DESKPHONE_NO_INSTALL": "1", **env})


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


@pytest.mark.parametrize("script", ["opt/deskphone/enable-ssh.sh", "opt/deskphone/growroot.sh"])
def test_first_boot_shell_scripts_parse_with_sh(script: str) -> None:
    # Run by ExecStart=/bin/sh: POSIX sh (dash in the image), not bash.
    shell = require_tool("dash") if shutil.which("dash") else "sh"
    subprocess.run([shell, "-n", str(ROOTFS / script)], check=True, timeout=30)


def test_ssh_is_keys_only() -> None:
    config = (ROOTFS / "etc/ssh/sshd_config.d/deskphone.conf").read_text()
    for setting in ("PasswordAuthentication no", "KbdInteractiveAuthentication no",
                    "PermitRootLogin prohibit-password", "AuthenticationMethods publickey"):
        assert re.search(rf"^{setting}$", config, re.MULTILINE), setting
    unit = unit_entries(ROOTFS / "etc/systemd/system/deskphone-ssh.service")
    assert unit["Unit.ConditionPathExists"] == ["/boot/firmware/authorized_keys"]
    assert "ssh.service" in unit["Unit.Before"][0].split()


def test_enable_ssh_installs_only_key_lines(tmp_path: Path) -> None:
    script = (ROOTFS / "opt/deskphone/enable-ssh.sh").read_text()
    home = tmp_path / "root"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for stub in ("ssh-keygen", "systemctl"):
        (bin_dir / stub).write_text(f"#!/bin/sh\necho {stub} \"$@\" >> {tmp_path}/calls\n")
        (bin_dir / stub).chmod(0o755)
    (tmp_path / "enable-ssh.sh").write_text(script.replace("/root/.ssh", f"{home}/.ssh"))
    card = tmp_path / "authorized_keys"
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBvaW4eHxAcBkeamplekeyforthetestonly0 me@laptop"
    card.write_text(f"# my laptop\n{key}\ncommand=\"/bin/sh\" ssh-rsa AAAA evil\n\n")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    subprocess.run(["sh", str(tmp_path / "enable-ssh.sh"), str(card)], check=True, env=env,
                   timeout=30, capture_output=True)
    installed = home / ".ssh/authorized_keys"
    assert installed.read_text() == key + "\n"
    assert stat.S_IMODE(installed.stat().st_mode) == 0o600
    assert stat.S_IMODE((home / ".ssh").stat().st_mode) == 0o700
    calls = (tmp_path / "calls").read_text()
    assert "ssh-keygen -A" in calls and "systemctl enable ssh.service" in calls


def test_enable_ssh_without_keys_leaves_ssh_off(tmp_path: Path) -> None:
    script = (ROOTFS / "opt/deskphone/enable-ssh.sh").read_text()
    (tmp_path / "enable-ssh.sh").write_text(script.replace("/root/.ssh", f"{tmp_path}/.ssh"))
    card = tmp_path / "authorized_keys"
    card.write_text("password = hunter2\n")
    result = subprocess.run(["sh", str(tmp_path / "enable-ssh.sh"), str(card)], timeout=30,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "no public key" in result.stderr
    assert not (tmp_path / ".ssh/authorized_keys").exists()


def test_host_prereqs_name_the_apt_line_for_what_is_missing(tmp_path: Path) -> None:
    # Only bash and coreutils on PATH: every image package is missing.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "sort", "uname", "id", "grep", "printf"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    result = subprocess.run([str(bin_dir / "bash"), str(BOOT / "host-prereqs.sh"), "all"],
                            capture_output=True, text=True, timeout=60, check=False,
                            env={"PATH": str(bin_dir)})
    assert result.returncode == 1
    line = result.stderr.strip()
    assert "apt-get install -y" in line
    # (tools in /usr/sbin, such as sfdisk and mkfs.vfat, are found without PATH)
    for package in ("mmdebstrap", "qemu-user-static", "genimage", "qemu-system-arm", "mtools"):
        assert package in line


def test_readme_lists_every_host_package() -> None:
    script = (BOOT / "host-prereqs.sh").read_text()
    packages = set(re.findall(r"^\s+\[([a-z0-9.+-]+)\]=", script, re.MULTILINE))
    assert {"mmdebstrap", "qemu-system-arm", "fdisk"} <= packages
    readme = (BOOT / "README.md").read_text()
    apt_line = next(line for line in readme.splitlines() if "apt-get install" in line)
    assert packages <= set(apt_line.replace("`", " ").split()), packages - set(apt_line.split())
