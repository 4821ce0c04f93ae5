"""`make run`'s simulator as a person sees it: a real terminal (tmux), keys in, the OLED drawn."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import require_tool

HALF_BLOCKS = set("▀▄█")
BRAILLE = {chr(c) for c in range(0x2801, 0x2900)}


class Tmux:
    def __init__(self, name: str, width: int, command: str, height: int = 50) -> None:
        self.tmux = require_tool("tmux")
        self.name = name
        # A server of our own (-L): its environment is this test's, not a running server's.
        self._run("new-session", "-d", "-s", name, "-x", str(width), "-y", str(height), command)
        self._run("set-option", "-t", name, "remain-on-exit", "on")

    def _run(self, *args: str) -> str:
        return subprocess.run([self.tmux, "-L", self.name, *args], capture_output=True,
                              text=True, check=True, timeout=10).stdout

    def screen(self, escapes: bool = False) -> str:
        return self._run("capture-pane", "-p", *(["-e"] if escapes else []), "-t", self.name)

    def resize(self, width: int, height: int) -> None:
        self._run("resize-window", "-t", self.name, "-x", str(width), "-y", str(height))

    def keys(self, *keys: str) -> None:
        self._run("send-keys", "-t", self.name, *keys)

    def wait_for(self, needle: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if needle in text:
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} never appeared on the terminal:\n{text}")
            time.sleep(0.05)  # polling the terminal for a condition, with a deadline

    def pane_dead(self) -> bool:
        out = self._run("display-message", "-p", "-t", self.name, "#{pane_dead}")
        return out.strip() == "1"

    def kill(self) -> None:
        subprocess.run([self.tmux, "-L", self.name, "kill-server"], capture_output=True,
                       timeout=10)


def _phone_command(tmp_path: Path, env: str = "") -> str:
    config = tmp_path / "phone.toml"
    config.write_text('[identity]\nextension = "201"\n[sip]\nlisten = "udp:127.0.0.1:0"\n'
                      '[discovery]\nenabled = false\n')
    os.chmod(tmp_path, 0o700)
    return (f"{env} {sys.executable} -m deskphone.cli run --sim --config {config} "
            f"--data-dir {tmp_path / 'data'} --control {tmp_path / 'ctl' / 'control.sock'}")


@pytest.mark.parametrize(("width", "height", "glyphs"), [
    (140, 50, HALF_BLOCKS), (80, 24, HALF_BLOCKS), (60, 20, BRAILLE)])
def test_simulator_draws_the_oled_and_reacts_to_hook_and_keys(tmp_path: Path, width: int,
                                                              height: int,
                                                              glyphs: set[str]) -> None:
    command = _phone_command(tmp_path)
    term = Tmux(f"deskphone-test-{os.getpid()}-{width}", width, command, height)
    try:
        idle = term.wait_for("q: quit")
        assert "on hook · call idle" in idle
        # The idle screen's text, readable (the clock, from the system's, between status and name).
        assert re.search(r"screen: LAN · (\d\d:\d\d · )?Desk phone · Ext 201", idle), idle
        assert glyphs & set(idle), "the panel is drawn with block or braille characters"
        assert not (HALF_BLOCKS | BRAILLE) - glyphs & set(idle), "one drawing, not both"
        assert max(len(line) for line in idle.splitlines()) <= width
        assert idle.splitlines()[0].startswith("deskphone 201"), "nothing scrolled away"
        term.keys("Space")
        lifted = term.wait_for("call offhook")
        assert "off hook" in lifted
        panel_idle = [ln for ln in idle.splitlines() if glyphs & set(ln)]
        panel_lifted = [ln for ln in lifted.splitlines() if glyphs & set(ln)]
        assert panel_idle != panel_lifted, "the OLED shows a different screen off hook"
        term.keys("2", "0")
        term.wait_for("call dialing")
        term.keys("Space")
        term.wait_for("call idle")
        term.keys("q")
        deadline = time.monotonic() + 15
        while not term.pane_dead():
            assert time.monotonic() < deadline, "q did not quit the simulator"
            time.sleep(0.05)
    finally:
        term.kill()


def test_resize_redraws_for_the_new_size(tmp_path: Path) -> None:
    term = Tmux(f"deskphone-test-{os.getpid()}-resize", 80, _phone_command(tmp_path), 24)
    try:
        assert HALF_BLOCKS & set(term.wait_for("q: quit"))
        term.resize(50, 20)
        deadline = time.monotonic() + 10
        while not BRAILLE & set(text := term.screen()):
            assert time.monotonic() < deadline, f"no braille after shrinking to 50x20:\n{text}"
            time.sleep(0.05)  # polling the terminal for a condition, with a deadline
        assert max(len(line) for line in text.splitlines()) <= 50
        term.resize(140, 50)
        deadline = time.monotonic() + 10
        while BRAILLE & set(text := term.screen()):
            assert time.monotonic() < deadline, f"still braille after growing to 140x50:\n{text}"
            time.sleep(0.05)
        assert HALF_BLOCKS & set(text) and "q: quit" in text
    finally:
        term.kill()


@pytest.mark.parametrize("no_color", [False, True])
def test_colour_on_a_terminal_unless_no_color_is_set(tmp_path: Path, no_color: bool) -> None:
    env = "env NO_COLOR=1" if no_color else "env -u NO_COLOR"
    term = Tmux(f"deskphone-test-{os.getpid()}-colour{int(no_color)}", 80,
                _phone_command(tmp_path, env), 24)
    try:
        term.wait_for("q: quit")
        coloured = "\x1b[36m" in term.screen(escapes=True)  # the panel in the OLED's colour
        assert coloured is not no_color
    finally:
        term.kill()
