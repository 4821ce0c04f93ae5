"""The simulator's terminal: the OLED drawn with half-block characters, keys from the keyboard.

Works over ssh with no window: two pixel rows per character cell (▀ ▄ █), which keeps the panel's
2:1 aspect because a terminal cell is about twice as tall as it is wide. Keys 0-9 * # dial, space
lifts or puts down the handset, q quits.
"""

from __future__ import annotations

import contextlib
import os
import sys
import termios
import tty
from typing import TYPE_CHECKING, Any

from deskphone.devices.display import render_half_blocks as image_to_halfblocks
from deskphone.phone import events as ev

if TYPE_CHECKING:
    from deskphone.app import PhoneApp

# Braille cells are 2x4 dots: the 128x64 panel fits in 64x16 cells, for 80-column terminals.
# Dot bit for (x, y) inside a cell, Unicode "Braille Patterns" block (U+2800).
_BRAILLE_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))


def image_to_braille(image: Any) -> list[str]:
    img = image.convert("1")
    width, height = img.size
    pixels = img.load()
    rows = []
    for top in range(0, height, 4):
        row = []
        for left in range(0, width, 2):
            bits = 0
            for dy in range(4):
                for dx in range(2):
                    x, y = left + dx, top + dy
                    if x < width and y < height and pixels[x, y]:
                        bits |= _BRAILLE_BITS[dy][dx]
            row.append(chr(0x2800 + bits))
        rows.append("".join(row))
    return rows


def render_panel(image: Any, columns: int) -> list[str]:
    """Half blocks when the terminal is wide enough (130+ columns), braille otherwise."""
    if columns >= image.width + 2:
        return image_to_halfblocks(image)
    return image_to_braille(image)


HELP = "keys: 0-9 * #   space: hook off/on   h: hold   q: quit"
CLEAR = "\x1b[H\x1b[2J"
HIDE_CURSOR, SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"


class TerminalUI:
    def __init__(self, app: PhoneApp, stdin: Any = None, stdout: Any = None) -> None:
        self.app = app
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self._saved: list[Any] | None = None

    def start(self) -> None:
        fd = self.stdin.fileno()
        with contextlib.suppress(termios.error):
            self._saved = termios.tcgetattr(fd)
            tty.setcbreak(fd)
        assert self.app.loop is not None
        self.app.loop.add_reader(fd, self._on_input)
        self.app.screen_listeners.append(lambda _screen: self.draw())
        self.stdout.write(HIDE_CURSOR)
        self.draw()

    def close(self) -> None:
        fd = self.stdin.fileno()
        if self.app.loop is not None:
            self.app.loop.remove_reader(fd)
        if self._saved is not None:
            with contextlib.suppress(termios.error):
                termios.tcsetattr(fd, termios.TCSADRAIN, self._saved)
        self.stdout.write(SHOW_CURSOR + "\n")
        self.stdout.flush()

    def draw(self) -> None:
        screen = self.app.machine.screen
        try:
            columns = os.get_terminal_size(self.stdout.fileno()).columns
        except (OSError, ValueError):
            columns = 80
        rows = render_panel(screen.render(), columns)  # type: ignore[attr-defined]
        width = len(rows[0]) if rows else 128
        state = self.app.state()
        top = f"deskphone {state['extension']} — {self.app.config.identity.display_name}"
        lines = [top, "┌" + "─" * width + "┐"]
        lines += ["│" + row + "│" for row in rows]
        lines.append("└" + "─" * width + "┘")
        hook = "off hook" if state["off_hook"] else "on hook"
        lines.append(f"{hook} · call {state['call']} · security {state['security']}")
        lines.append(HELP)
        self.stdout.write(CLEAR + "\r\n".join(lines) + "\r\n")
        self.stdout.flush()

    def _on_input(self) -> None:
        try:
            data = os.read(self.stdin.fileno(), 64)
        except OSError:
            return
        if not data:  # the terminal went away
            self.app.stopped.set()
            return
        for char in data.decode("utf-8", "ignore"):
            self.key(char)

    def key(self, char: str) -> None:
        app = self.app
        if char in "0123456789*#":
            app.post(ev.KeyPressed(char))
        elif char == " ":
            off_hook = not app.machine.off_hook
            if app.devices.sim_hook is not None and app.devices.hook is not None:
                app.devices.sim_hook.set_off_hook(off_hook)
            else:
                app.post(ev.HookOff() if off_hook else ev.HookOn())
        elif char in "hH":
            app.post(ev.HoldToggled())
        elif char in "qQ\x04":
            app.stopped.set()
