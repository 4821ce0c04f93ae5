"""`make run`'s simulator as a person sees it: a real terminal (tmux), keys in, the OLED drawn."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import require_tool

HALF_BLOCKS = set("▀▄█")
BRAILLE = {chr(c) for c in range(0x2801, 0x2900)}


class Tmux:
    def __init__(self, name: str, width: int, command: str) -> None:
        self.tmux = require_tool("tmux")
        self.name = name
        self._run("new-session", "-d", "-s", name, "-x", str(width), "-y", "50", command)
        self._run("set-option", "-t", name, "remain-on-exit", "on")

    def _run(self, *args: str) -> str:
        return subprocess.run([self.tmux, *args], capture_output=True, text=True, check=True,
                              timeout=10).stdout

    def screen(self) -> str:
        return self._run("capture-pane", "-p", "-t", self.name)

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
        subprocess.run([self.tmux, "kill-session", "-t", self.name], capture_output=True,
                       timeout=10)


@pytest.mark.parametrize(("width", "glyphs"), [(140, HALF_BLOCKS), (80, BRAILLE)])
def test_simulator_draws_the_oled_and_reacts_to_hook_and_keys(tmp_path: Path, width: int,
                                                              glyphs: set[str]) -> None:
    config = tmp_path / "phone.toml"
    config.write_text('[identity]\nextension = "201"\n[sip]\nlisten = "udp:127.0.0.1:0"\n'
                      '[discovery]\nenabled = false\n')
    os.chmod(tmp_path, 0o700)
    command = (f"{sys.executable} -m deskphone.cli run --sim --config {config} "
               f"--data-dir {tmp_path / 'data'} --control {tmp_path / 'ctl' / 'control.sock'}")
    term = Tmux(f"deskphone-test-{os.getpid()}-{width}", width, command)
    try:
        idle = term.wait_for("q: quit")
        assert "on hook · call idle" in idle
        assert glyphs & set(idle), "the panel is drawn with block or braille characters"
        assert max(len(line) for line in idle.splitlines()) <= width
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
