"""README.md cannot drift: every block in it is marked with how a test runs it, and is run.

Each fenced block is preceded by `<!-- doctest: KIND -->`:
- quickstart: `make run` reaches the idle screen in a terminal (tmux) and `q` quits; `make test`
  runs (on one test: the whole suite would run itself).
- first-call: the two-simulator walk-through, keys as written, in two terminals.
- script: the block is run as is by bash (`set -e`), and must end with every phone stopped.
- config: a TOML block; `deskphone check-config` (and first boot's [network] check) pass.
- make-dry-run: targets too long or destructive to run here (an image build, writing an SD
  card, the benchmarks); `make -n` proves each target and its arguments exist. Their own tests
  run them (tests/boot, make bench in CI).
- phone: commands for the real phone; bash parses them and each program is in the image.

As root (CI) the phones run in a network and mount namespace of the test's own: private
loopback, a private /var/lib/deskphone for the `make run` slots and private /tmp folders for
the paths the block names, so fixed ports and paths meet nothing else on the machine.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
import tomllib
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path

import pytest
from PIL import Image

from tests.support import require_tool

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
SCREENS_PICTURE = REPO / "docs/img/screens.png"
KINDS = {"quickstart", "first-call", "script", "config", "make-dry-run", "phone"}
BLOCK = re.compile(r"<!-- doctest: ([\w-]+) -->\n```(\w*)\n(.*?)```", re.DOTALL)


def blocks(kind: str | None = None) -> list[tuple[str, str, str]]:
    found = BLOCK.findall(README.read_text())
    return [b for b in found if kind is None or b[0] == kind]


def commands(body: str) -> list[str]:
    """The block's command lines, comments and blank lines dropped."""
    lines = (line.split("  #")[0].strip() for line in body.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def test_every_block_in_the_readme_says_how_it_is_tested() -> None:
    text = README.read_text()
    fences = re.findall(r"^```", text, re.MULTILINE)
    assert len(fences) == 2 * len(blocks()), "a ``` block without <!-- doctest: KIND --> before it"
    assert {kind for kind, _, _ in blocks()} <= KINDS
    assert {kind for kind, _, _ in blocks()} == KINDS, "every kind of test has a block to run"


# -- the namespace every phone of these tests runs in ------------------------------------------


def private_prefix(tmp_dirs: list[str]) -> list[str]:
    """The command prefix that gives a command its own loopback, slots and /tmp folders."""
    if os.geteuid() != 0:
        return []
    require_tool("unshare")
    ip = require_tool("ip")
    mounts = "".join(f" && mkdir -p {shlex.quote(d)} && mount -t tmpfs -o mode=0700 tmpfs "
                     f"{shlex.quote(d)}" for d in ["/var/lib/deskphone", *tmp_dirs])
    # Private propagation by hand: unshare's own fails where / is no mount point (a chroot,
    # which .ci/fresh-debian already runs in a mount namespace of its own).
    setup = (f"{{ mount --make-rprivate / 2>/dev/null || true; }} && {ip} link set lo up"
             f"{mounts} && exec \"$@\"")
    return ["unshare", "--net", "--mount", "--propagation", "unchanged", "--fork", "sh", "-c",
            setup, "private"]


def environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")  # the make-run slots when not root
    env.pop("NO_COLOR", None)
    env["TERM"] = "xterm-256color"
    return env


class Terminals:
    """A tmux server of our own, started inside the private namespace."""

    def __init__(self, tmp_path: Path, size: tuple[int, int] = (80, 24)) -> None:
        self.tmux = require_tool("tmux")
        self.server = f"deskphone-doc-{os.getpid()}-{time.monotonic_ns()}"
        self.size = size
        self.env = environment(tmp_path)
        self.windows = 0
        self.status_dir = tmp_path / "exit-status"
        self.status_dir.mkdir()

    def _tmux(self, *args: str) -> str:
        return subprocess.run([self.tmux, "-L", self.server, *args], capture_output=True,
                              text=True, check=True, timeout=20, env=self.env).stdout

    def open(self, command: str) -> str:
        """A terminal running `command` in the repository; returns its target name."""
        name = f"t{self.windows}"
        self.windows += 1
        # The exit status goes to a file: tmux's pane_dead_status is not always filled in.
        status = shlex.quote(str(self.status_dir / name))
        shell = f"cd {shlex.quote(str(REPO))} && {command}; echo $? > {status}.tmp && " \
                f"mv {status}.tmp {status}"
        if name == "t0":
            # The server forks from inside the namespace, so every terminal is in it.
            subprocess.run([*private_prefix([]), self.tmux, "-L", self.server, "new-session",
                            "-d", "-s", "doc", "-n", name, "-x", str(self.size[0]), "-y",
                            str(self.size[1]), shell], check=True, timeout=20, env=self.env)
            self._tmux("set-option", "-g", "remain-on-exit", "on")
        else:
            self._tmux("new-window", "-d", "-t", "doc", "-n", name, shell)
        return f"doc:{name}"

    def screen(self, target: str) -> str:
        return self._tmux("capture-pane", "-p", "-t", target)

    def keys(self, target: str, *keys: str) -> None:
        self._tmux("send-keys", "-t", target, *keys)

    def wait_for(self, target: str, needle: str, timeout: float = 120.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen(target)
            if needle in text:
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} never appeared in {target}:\n{text}")
            time.sleep(0.1)  # polling a terminal for a condition, with a deadline

    def wait_exit(self, target: str, timeout: float = 30.0) -> int:
        status = self.status_dir / target.split(":")[1]
        deadline = time.monotonic() + timeout
        while not status.exists():
            assert time.monotonic() < deadline, f"{target} did not exit:\n{self.screen(target)}"
            time.sleep(0.1)  # polling for the command's end, with a deadline
        return int(status.read_text())

    def close(self) -> None:
        subprocess.run([self.tmux, "-L", self.server, "kill-server"], capture_output=True,
                       timeout=20)


# -- quickstart --------------------------------------------------------------------------------


def test_quickstart_make_run_reaches_the_idle_screen_and_quits(tmp_path: Path) -> None:
    (block,) = blocks("quickstart")
    assert commands(block[2]) == ["make run", "make test"]
    terms = Terminals(tmp_path)
    try:
        phone = terms.open("make run")
        idle = terms.wait_for(phone, "q: quit")
        # (the system clock's time sits between the status and the name)
        assert re.search(r"screen: LAN · (\d\d:\d\d · )?Desk phone · Ext 201", idle), idle
        assert "call idle" in idle
        terms.keys(phone, "q")
        assert terms.wait_exit(phone) == 0
    finally:
        terms.close()


def test_quickstart_make_test_runs(tmp_path: Path) -> None:
    one_test = "tests/app/test_cli_help.py::test_top_level_help_points_at_each_command"
    proc = subprocess.run(["make", "test", f"PYTEST_ARGS=-q -p no:cacheprovider {one_test}",
                           "TEST_PACKAGES="], cwd=REPO, capture_output=True, text=True,
                          timeout=600, env=environment(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout


# -- first-call --------------------------------------------------------------------------------


def _sas(screen: str) -> str:
    line = next(ln for ln in screen.splitlines() if ln.startswith("screen: "))
    words = [w for w in line.removeprefix("screen: ").split(" · ")
             if re.fullmatch(r"[0-9A-Za-z]{4}|[A-Za-z]+ [A-Za-z]+", w)]
    assert words, line
    return words[-1]


def test_first_secure_call_with_two_simulators_as_written(tmp_path: Path) -> None:
    (block,) = blocks("first-call")
    assert commands(block[2]) == ["make run", "make run"]
    text = README.read_text()
    # The steps the test follows below are the ones the README gives.
    for step in ("press space (handset\n   lifted) and key `202#`", "press space to answer",
                 "press `#` on both", "**verified**"):
        assert step in text
    terms = Terminals(tmp_path)
    try:
        first = terms.open("make run")
        terms.wait_for(first, "Ext 201")
        second = terms.open("make run")
        terms.wait_for(second, "Ext 202")
        # A person takes the README's "a few seconds"; the test asks the first phone.
        heard = terms.open(".venv/bin/deskphone ctl wait lan_peers=~202 timeout=30")
        assert terms.wait_exit(heard, timeout=40) == 0, terms.screen(heard)
        terms.keys(first, "Space")
        terms.wait_for(first, "call offhook")
        terms.keys(first, "2", "0", "2", "#")
        terms.wait_for(second, "call ringing", timeout=30)
        terms.keys(second, "Space")
        a = terms.wait_for(first, "security secure", timeout=30)
        b = terms.wait_for(second, "security secure", timeout=30)
        assert _sas(a) == _sas(b), "both screens show the same SAS"
        terms.keys(first, "#")
        terms.keys(second, "#")
        terms.wait_for(first, "security verified", timeout=30)
        terms.wait_for(second, "security verified", timeout=30)
        terms.keys(first, "q")
        terms.keys(second, "q")
        assert terms.wait_exit(first) == 0 and terms.wait_exit(second) == 0
    finally:
        terms.close()


# -- script ------------------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(len(blocks("script"))))
def test_script_blocks_run_as_written(tmp_path: Path, index: int) -> None:
    _kind, language, body = blocks("script")[index]
    assert language == "sh"
    tmp_dirs = sorted(set(re.findall(r"/tmp/\w+", body)))
    proc = subprocess.run([*private_prefix(tmp_dirs), "bash", "-e", "-c", body], cwd=REPO,
                          capture_output=True, text=True, timeout=240, env=environment(tmp_path),
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    if "confirm-sas" in body:
        assert '"security": "verified"' in proc.stdout


# -- config ------------------------------------------------------------------------------------


def _firstboot():  # type: ignore[no-untyped-def]
    spec = spec_from_file_location("deskphone_boot_firstboot_doc", REPO / "boot/firstboot.py")
    assert spec is not None and spec.loader is not None
    module = module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("index", range(len(blocks("config"))))
def test_config_blocks_check_clean(tmp_path: Path, index: int) -> None:
    _kind, language, body = blocks("config")[index]
    assert language == "toml"
    path = tmp_path / "deskphone.toml"
    path.write_text(body)
    proc = subprocess.run([sys.executable, "-m", "deskphone.cli", "check-config", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    if "network" in tomllib.loads(body):
        firstboot = _firstboot()
        _phone_text, _phone, network = firstboot.split_network(body)
        firstboot.parse_network(network)  # raises FirstBootError naming the key


# -- make-dry-run ------------------------------------------------------------------------------


def test_make_targets_in_the_readme_exist() -> None:
    lines = [c for _, _, body in blocks("make-dry-run") for c in commands(body)]
    assert lines and all(line.startswith("make ") for line in lines)
    for line in lines:
        proc = subprocess.run(["make", "-n", *shlex.split(line)[1:]], cwd=REPO,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"{line}: {proc.stderr}"
        for script in re.findall(r"(?:boot|tools)/[\w./-]+\.sh", proc.stdout):
            assert (REPO / script).is_file(), f"{line} runs {script}, which does not exist"


# -- phone -------------------------------------------------------------------------------------

# Which image package gives each program the phone blocks use (boot/build-image.sh installs).
PHONE_PROGRAMS = {"aplay": "alsa-utils", "arecord": "alsa-utils", "journalctl": "systemd"}


def test_phone_blocks_parse_and_use_programs_the_image_has() -> None:
    build = (REPO / "boot/build-image.sh").read_text()
    for _, language, body in blocks("phone"):
        assert language == "sh"
        subprocess.run(["bash", "-n", "-c", body], check=True, timeout=30)
        for line in commands(body):
            program = shlex.split(line)[0]
            assert program in PHONE_PROGRAMS, f"{program}: which image package has it?"
            assert re.search(rf"\b{PHONE_PROGRAMS[program]}\b", build), program


# -- the screens picture -----------------------------------------------------------------------

PICTURE_SCREENS = ("idle", "ringing", "sas_b32", "in_call_verified", "not_secure", "mitm")


def screens_picture() -> Image.Image:
    """Six screens from tests/screens/cases.py at 3x, lit pixels light on a dark panel."""
    from tests.screens.cases import CASES

    scale, gap, columns = 3, 12, 3
    tiles = [CASES[name].render().convert("L").resize((128 * scale, 64 * scale), 0)
             for name in PICTURE_SCREENS]
    rows = -(-len(tiles) // columns)
    picture = Image.new("L", (columns * (128 * scale + gap) + gap, rows * (64 * scale + gap) + gap),
                        255)
    for i, tile in enumerate(tiles):
        x, y = gap + (i % columns) * (128 * scale + gap), gap + (i // columns) * (64 * scale + gap)
        picture.paste(tile.point(lambda v: 235 if v else 20), (x, y))
    return picture


def test_the_readme_picture_shows_the_firmware_screens() -> None:
    """DESKPHONE_REGENERATE_DOCS=1 writes it again after a screen changed."""
    expected = screens_picture()
    if os.environ.get("DESKPHONE_REGENERATE_DOCS") == "1":
        expected.save(SCREENS_PICTURE, optimize=True)
    assert "docs/img/screens.png" in README.read_text()
    with Image.open(SCREENS_PICTURE) as actual:
        assert actual.convert("L").tobytes() == expected.tobytes(), (
            "docs/img/screens.png is not the current screens: DESKPHONE_REGENERATE_DOCS=1 "
            "make test PYTEST_ARGS=tests/docs")
