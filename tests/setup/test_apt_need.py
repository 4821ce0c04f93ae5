"""`make run` and `make test` set themselves up: tools/apt-need installs missing Debian packages
(as root, or with sudo) with one line saying what and why, or prints the apt-get line to run.

APT_NEED_DRY_RUN=1 makes it print the apt-get commands instead of running them; a fake `id` and
`sudo` on PATH stand for a user without root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
APT_NEED = REPO / "tools/apt-need"
MISSING = "deskphone-no-such-package"

pytestmark = pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="a Debian system")


def apt_need(*args: str, uid: int | None = None, sudo: str | None = None,
             tmp: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "APT_NEED_DRY_RUN": "1"}
    if tmp is not None:
        fake = tmp / "bin"
        fake.mkdir(exist_ok=True)
        if uid is not None:
            (fake / "id").write_text(f"#!/bin/sh\necho {uid}\n")
        # Only our sudo: a real one elsewhere on PATH is hidden by a directory of links.
        clean = tmp / "clean"
        clean.mkdir(exist_ok=True)
        for name in ("dpkg-query", "find", "head", "sh", "grep", "cat"):
            found = shutil.which(name)
            if found and not (clean / name).exists():
                (clean / name).symlink_to(found)
        if sudo is not None:
            (fake / "sudo").write_text(sudo)
        for script in fake.iterdir():
            script.chmod(0o755)
        env["PATH"] = f"{fake}:{clean}"
    return subprocess.run(["sh", str(APT_NEED), *args], capture_output=True, text=True,
                          timeout=60, env=env, stdin=subprocess.DEVNULL)


def test_installed_packages_need_nothing_and_say_nothing() -> None:
    proc = apt_need("why", "dpkg")
    assert proc.returncode == 0 and proc.stderr == ""


def test_as_root_one_line_says_what_and_why_then_apt_get_installs(tmp_path: Path) -> None:
    proc = apt_need("the reason", MISSING, "dpkg", uid=0, tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0] == f"deskphone: installing {MISSING} with apt-get (the reason)"
    assert any(f"would run: apt-get install -y -qq {MISSING}" == line for line in lines)
    assert not any("sudo" in line for line in lines)


def test_with_a_sudo_that_needs_no_password_it_uses_sudo(tmp_path: Path) -> None:
    proc = apt_need("why", MISSING, uid=1000, sudo="#!/bin/sh\nexit 0\n", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"would run: sudo apt-get install -y -qq {MISSING}" in proc.stderr


def test_without_root_or_sudo_it_prints_the_apt_line_and_fails(tmp_path: Path) -> None:
    proc = apt_need("Debian's python3 makes no venv without it", MISSING, uid=1000,
                    sudo="#!/bin/sh\nexit 1\n", tmp=tmp_path)  # asks for a password: no tty
    assert proc.returncode == 1
    assert proc.stderr.strip() == (f"deskphone: needs {MISSING} (Debian's python3 makes no venv "
                                   f"without it); run: sudo apt-get install {MISSING}")


def test_optional_packages_only_say_what_will_be_missing(tmp_path: Path) -> None:
    proc = apt_need("--optional", "the interop tests", MISSING, uid=1000, tmp=tmp_path)
    assert proc.returncode == 0
    assert f"{MISSING} not installed (the interop tests)" in proc.stderr


def test_make_installs_python3_venv_when_python_has_no_ensurepip(tmp_path: Path) -> None:
    """Debian's python3 without python3-venv: make says so and installs it (dry run here)."""
    python = tmp_path / "python3"
    python.write_text("#!/bin/sh\n"
                      "case \"$*\" in *ensurepip*) exit 1 ;; esac\n"
                      "echo 'venv: fake python stops here' >&2; exit 7\n")
    python.chmod(0o755)
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "dpkg-query").write_text("#!/bin/sh\nexit 1\n")  # python3-venv not installed
    (fake / "id").write_text("#!/bin/sh\necho 0\n")
    for script in fake.iterdir():
        script.chmod(0o755)
    env = {**os.environ, "APT_NEED_DRY_RUN": "1", "PATH": f"{fake}:{os.environ['PATH']}"}
    proc = subprocess.run(["make", "-C", str(REPO), f"PYTHON={python}", f"VENV={tmp_path}/venv",
                           f"{tmp_path}/venv/bin/python"], capture_output=True, text=True,
                          timeout=60, env=env)
    assert ("deskphone: installing python3-venv with apt-get (Debian's python3 makes no venv "
            "without it)") in proc.stderr
    assert "would run: apt-get install -y -qq python3-venv" in proc.stderr
    assert "venv: fake python stops here" in proc.stderr  # then it makes the venv
