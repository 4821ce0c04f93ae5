"""The simulator's terminal: the OLED drawn to fit the terminal, keys from the keyboard.

Works over ssh with no window. The drawing is picked by the terminal's size (`layout`): half
blocks (▀ ▄ █, two pixel rows per cell, which keeps the panel's 2:1 aspect because a cell is
about twice as tall as wide) at a whole multiple of the panel where one fits, scaled down to fit
otherwise; braille (2x4 dots per cell, sharp enough but hard to read) only when half blocks
would lose more than half the pixels. Scaled text blurs, so the screen's text is also printed
plainly on a status line, with the call state and the keys. A resize (SIGWINCH) redraws. Colour
only on a terminal and never with NO_COLOR set (https://no-color.org).
Keys 0-9 * # dial, space lifts or puts down the handset, h holds, q quits.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import termios
import tty
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PIL import Image

from deskphone.devices.display import render_half_blocks
from deskphone.phone import events as ev

if TYPE_CHECKING:
    from deskphone.app import PhoneApp

# Braille cells are 2x4 dots. Dot bit for (x, y) inside a cell, Unicode "Braille Patterns"
# block (U+2800).
_BRAILLE_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))

KEYS_HELP = "keys: 0-9 * #  space: hook  h: hold  q: quit"
# Lines around the panel: title, two borders, the screen's text, the call state, the keys.
CHROME_ROWS = 6
CHROME_COLUMNS = 2  # the border's two sides
MAX_SCALE = 3  # past this the panel is no easier to read, only bigger
MIN_HALF_BLOCK_SCALE = 0.5  # below this a half-block panel loses its letters; braille then

HOME, CLEAR_LINE, CLEAR_BELOW = "\x1b[H", "\x1b[K", "\x1b[J"
HIDE_CURSOR, SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"
RESET, BOLD = "\x1b[0m", "\x1b[1m"
# The panel in the OLED's own colour; security in the colours a person expects.
PANEL_COLOUR = "\x1b[36m"
SECURITY_COLOURS = {"secure": "\x1b[32m", "verified": "\x1b[1;32m", "securing": "\x1b[33m",
                    "not_secure": "\x1b[1;31m", "mismatch": "\x1b[1;41;97m"}


@dataclass(frozen=True)
class Layout:
    """How the panel is drawn: `kind` half_blocks, braille or text (no room for a panel)."""

    kind: str
    width: int  # in pixels, after scaling
    height: int

    @property
    def cells(self) -> tuple[int, int]:
        """(columns, rows) the panel takes, without its border."""
        if self.kind == "half_blocks":
            return self.width, math.ceil(self.height / 2)
        if self.kind == "braille":
            return math.ceil(self.width / 2), math.ceil(self.height / 4)
        return 0, 0


def layout(columns: int, rows: int, panel: tuple[int, int] = (128, 64)) -> Layout:
    """The best drawing of a `panel`-pixel OLED for a terminal of `columns` x `rows` cells."""
    pw, ph = panel
    room_w, room_h = columns - CHROME_COLUMNS, rows - CHROME_ROWS
    if room_w <= 0 or room_h <= 0:
        return Layout("text", 0, 0)
    half = min(room_w / pw, 2 * room_h / ph)  # half blocks: 1x2 pixels per cell
    if half >= 1:
        scale = min(MAX_SCALE, math.floor(half))  # whole multiples keep the pixels square
        return Layout("half_blocks", pw * scale, ph * scale)
    if half >= MIN_HALF_BLOCK_SCALE:
        return Layout("half_blocks", math.floor(pw * half), math.floor(ph * half))
    dots = min(1.0, 2 * room_w / pw, 4 * room_h / ph)  # braille: 2x4 pixels per cell
    if dots * pw < 16:
        return Layout("text", 0, 0)
    return Layout("braille", math.floor(pw * dots), math.floor(ph * dots))


def scale_panel(image: Image.Image, width: int, height: int) -> Image.Image:
    """The 1-bit panel at width x height: nearest for whole multiples (crisp), an area average
    with a low threshold when shrinking so one-pixel strokes survive."""
    image = image.convert("1")
    if (width, height) == image.size:
        return image
    if width >= image.width:
        return image.resize((width, height), Image.Resampling.NEAREST)
    grey = image.convert("L").resize((width, height), Image.Resampling.BOX)
    return grey.point(lambda v: 255 if v >= 80 else 0).convert("1")


def image_to_braille(image: Image.Image) -> list[str]:
    img = image.convert("1")
    width, height = img.size
    pixels = img.load()
    assert pixels is not None
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


def draw_panel(image: Image.Image, where: Layout) -> list[str]:
    if where.kind == "text":
        return []
    scaled = scale_panel(image, where.width, where.height)
    if where.kind == "braille":
        return image_to_braille(scaled)
    return render_half_blocks(scaled)


def colour_wanted(stream: Any, environ: Mapping[str, str] = os.environ) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set to anything non-empty."""
    if environ.get("NO_COLOR"):
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _clip(text: str, columns: int) -> str:
    return text if len(text) <= columns else text[:max(0, columns - 1)] + "…"


def frame(image: Image.Image, state: Mapping[str, Any], title: str, columns: int, rows: int,
          *, colour: bool) -> list[str]:
    """Every line of one drawing, each at most `columns` wide, at most `rows` of them."""
    where = layout(columns, rows, image.size)
    panel = draw_panel(image, where)
    width = where.cells[0]
    paint = (lambda text, code: f"{code}{text}{RESET}") if colour else (lambda text, _code: text)
    lines = [paint(_clip(title, columns), BOLD)]
    if panel:
        lines.append("┌" + "─" * width + "┐")
        lines += ["│" + paint(row, PANEL_COLOUR) + "│" for row in panel]
        lines.append("└" + "─" * width + "┘")
    screen_text = " · ".join(t for t in str(state.get("screen") or "").split("\n") if t.strip())
    lines.append(_clip(f"screen: {screen_text}", columns))
    security = str(state.get("security"))
    hook = "off hook" if state.get("off_hook") else "on hook"
    status = _clip(f"{hook} · call {state.get('call')} · security {security}", columns)
    code = SECURITY_COLOURS.get(security)
    lines.append(paint(status, code) if code else status)
    lines.append(_clip(KEYS_HELP, columns))
    return lines[:max(rows, 1)]


class TerminalUI:
    def __init__(self, app: PhoneApp, stdin: Any = None, stdout: Any = None,
                 environ: Mapping[str, str] = os.environ) -> None:
        self.app = app
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.colour = colour_wanted(self.stdout, environ)
        self._saved: list[Any] | None = None
        self._resize_handler = False

    def start(self) -> None:
        fd = self.stdin.fileno()
        with contextlib.suppress(termios.error):
            self._saved = termios.tcgetattr(fd)
            tty.setcbreak(fd)
        assert self.app.loop is not None
        self.app.loop.add_reader(fd, self._on_input)
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            self.app.loop.add_signal_handler(signal.SIGWINCH, self.draw)
            self._resize_handler = True
        self.app.screen_listeners.append(lambda _screen: self.draw())
        self.stdout.write(HIDE_CURSOR + "\x1b[2J")
        self.draw()

    def close(self) -> None:
        fd = self.stdin.fileno()
        if self.app.loop is not None:
            self.app.loop.remove_reader(fd)
            if self._resize_handler:
                self.app.loop.remove_signal_handler(signal.SIGWINCH)
        if self._saved is not None:
            with contextlib.suppress(termios.error):
                termios.tcsetattr(fd, termios.TCSADRAIN, self._saved)
        self.stdout.write(SHOW_CURSOR + "\n")
        self.stdout.flush()

    def size(self) -> tuple[int, int]:
        try:
            size = os.get_terminal_size(self.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            return 80, 24
        return size.columns, size.lines

    def draw(self) -> None:
        state = self.app.state()
        columns, rows = self.size()
        title = f"deskphone {state['extension']} — {self.app.config.identity.display_name}"
        image = self.app.machine.screen.render()  # type: ignore[attr-defined]
        lines = frame(image, state, title, columns, rows, colour=self.colour)
        # Home and overwrite, clearing each line's rest: no flicker of a full clear per frame.
        self.stdout.write(HOME + "".join(line + CLEAR_LINE + "\r\n" for line in lines[:-1])
                          + lines[-1] + CLEAR_LINE + CLEAR_BELOW)
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
