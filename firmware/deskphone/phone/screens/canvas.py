"""Drawing kit shared by the screens: fonts, text fitting, and a tiny layout list.

A screen describes itself as a `Layout`: a list of text items and shapes placed on the 128x64
1-bit panel. The same list produces both `render()` (the image) and `lines()` (the text a person
would read off the panel, for the control socket's `state`), so the two cannot disagree.

Fonts: Pillow's built-in scalable font (`ImageFont.load_default(size=N)`, Pillow >= 10.1) needs
no font package and is pinned with Pillow, so golden images are stable. Drawing on a mode "1"
image turns anti-aliasing off. Sizes were picked on a 0.96" panel (~0.17 mm pixels): 10 px text
is the smallest comfortable read at arm's length; the SAS uses the largest size that fits.

Text never leaves the panel: every item is fitted to its box, long text is cut with an ellipsis
("…"), and text from the network (SIP display names) is made safe first (phone/names.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from PIL import Image, ImageDraw, ImageFont

from deskphone.phone.names import display_text

WIDTH = 128
HEIGHT = 64
INK = 255  # a lit pixel (stored as 255 so every screen's bytes are canonical)
PAPER = 0
ELLIPSIS = "…"

SMALL = 10  # status rows, hints
MEDIUM = 12
LARGE = 16  # names
BIG_SIZES = (34, 32, 30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10)  # largest that fits wins


@functools.lru_cache(maxsize=32)
def font(size: int) -> ImageFont.FreeTypeFont:
    loaded = ImageFont.load_default(size=size)
    assert isinstance(loaded, ImageFont.FreeTypeFont), "Pillow built without FreeType"
    return loaded


def clean(text: str) -> str:
    """One printable line: control characters (CR, LF, TAB, ESC...) become spaces, bidi
    overrides are dropped, emoji become '?', and only what could fit is kept (phone/names.py)."""
    return display_text(text)


def text_width(text: str, size: int) -> float:
    # mode "1": the hinted, non-anti-aliased rendering actually drawn on the panel; its advances
    # are wider than the unhinted ones (by ~10% at 10 px), so measuring otherwise overflows.
    return font(size).getlength(text, mode="1")


def fit(text: str, size: int, width: int, keep: str = "start") -> str:
    """`text` cut to `width` pixels with an ellipsis; keep="end" keeps the tail (digits)."""
    text = clean(text)
    if text_width(text, size) <= width:
        return text
    low, high = 0, len(text)  # longest kept part that fits beside the ellipsis
    while low < high:
        mid = (low + high + 1) // 2
        part = text[:mid].rstrip() + ELLIPSIS if keep == "start" else ELLIPSIS + text[-mid:]
        if text_width(part, size) <= width:
            low = mid
        else:
            high = mid - 1
    if keep == "start":
        return text[:low].rstrip() + ELLIPSIS if low else ELLIPSIS
    return ELLIPSIS + text[-low:] if low else ELLIPSIS


def wrap(text: str, size: int, width: int, max_lines: int) -> list[str]:
    """Word-wrap into at most `max_lines`; the last line gets an ellipsis if text remains."""
    words = clean(text).split()
    lines: list[str] = []
    current = ""
    for i, word in enumerate(words):
        candidate = f"{current} {word}".strip()
        if text_width(candidate, size) <= width or not current:
            current = candidate
            continue
        lines.append(current)
        current = word
        if len(lines) == max_lines - 1:
            current = " ".join(words[i:])
            break
    if current:
        lines.append(current)
    return [fit(line, size, width) for line in lines[:max_lines]]


def largest_size(text: str, width: int, height: int,
                 sizes: Sequence[int] = BIG_SIZES) -> int:
    """The biggest font size at which `text` fits a width x height box (ink extent)."""
    for size in sizes:
        left, top, right, bottom = font(size).getbbox(text, mode="1", anchor="ls")
        if right - left <= width and bottom - top <= height:
            return size
    return sizes[-1]


@dataclass(frozen=True)
class Text:
    """One line of text. `baseline` is the y of the baseline; the box is x..x+width."""

    text: str
    baseline: int
    size: int
    align: str = "left"  # left | center | right (within the box)
    x: int = 0
    width: int = WIDTH
    ink: int = INK
    keep: str = "start"  # which end survives truncation
    bold: bool = False

    def fitted(self) -> str:
        return fit(self.text, self.size, self.width - (1 if self.bold else 0), self.keep)


@dataclass(frozen=True)
class Box:
    """A filled (or outlined) rectangle, inclusive corners, e.g. an inverted banner."""

    x0: int
    y0: int
    x1: int
    y1: int
    fill: int | None = INK
    outline: int | None = None


Shape = Callable[[ImageDraw.ImageDraw], None]


@dataclass
class Layout:
    items: list[Text | Box | Shape] = field(default_factory=list)
    background: int = PAPER

    def text(self, text: str, baseline: int, size: int, **kwargs: object) -> None:
        self.items.append(Text(text, baseline, size, **kwargs))  # type: ignore[arg-type]

    def box(self, x0: int, y0: int, x1: int, y1: int, **kwargs: object) -> None:
        self.items.append(Box(x0, y0, x1, y1, **kwargs))  # type: ignore[arg-type]

    def shape(self, draw: Shape) -> None:
        self.items.append(draw)

    def lines(self) -> list[str]:
        return [item.fitted() for item in self.items if isinstance(item, Text) and item.text]

    def render(self) -> Image.Image:
        image = Image.new("1", (WIDTH, HEIGHT), self.background)
        draw = ImageDraw.Draw(image)
        draw.fontmode = "1"  # no anti-aliasing: crisp, deterministic pixels
        for item in self.items:
            if isinstance(item, Text):
                _draw_text(draw, item)
            elif isinstance(item, Box):
                draw.rectangle((item.x0, item.y0, item.x1, item.y1), fill=item.fill,
                               outline=item.outline)
            else:
                item(draw)
        return image


def _draw_text(draw: ImageDraw.ImageDraw, item: Text) -> None:
    text = item.fitted()
    if not text:
        return
    if item.align == "center":
        xy, anchor = (item.x + item.width // 2, item.baseline), "ms"
    elif item.align == "right":
        xy, anchor = (item.x + item.width - 1, item.baseline), "rs"
    else:
        xy, anchor = (item.x, item.baseline), "ls"
    if item.bold:
        # Bold for a pixel font: the same glyphs again one pixel to the right (a stroked outline
        # would fill the counters of small letters). Room for the extra pixel is kept in fit.
        shift = -1 if item.align == "right" else 0
        xy = (xy[0] + shift, xy[1])
        draw.text((xy[0] + 1, xy[1]), text, font=font(item.size), fill=item.ink, anchor=anchor)
    draw.text(xy, text, font=font(item.size), fill=item.ink, anchor=anchor)


# -- small icons, drawn with primitives so they need no glyphs -----------------------------


def padlock(x: int, y: int, closed: bool, ink: int = INK) -> Shape:
    """A 9x11 padlock with its top-left at (x, y); open = shackle lifted to one side."""

    def draw(d: ImageDraw.ImageDraw) -> None:
        d.rectangle((x, y + 5, x + 8, y + 10), fill=ink)  # body
        if closed:
            d.arc((x + 1, y, x + 7, y + 8), 180, 360, fill=ink)
            d.line((x + 1, y + 4, x + 1, y + 5), fill=ink)
            d.line((x + 7, y + 4, x + 7, y + 5), fill=ink)
        else:
            d.arc((x + 4, y - 2, x + 10, y + 6), 180, 360, fill=ink)
            d.line((x + 4, y + 2, x + 4, y + 5), fill=ink)
        d.point((x + 4, y + 7), fill=PAPER if ink == INK else INK)  # keyhole
        d.point((x + 4, y + 8), fill=PAPER if ink == INK else INK)

    return draw


def check_mark(x: int, y: int, ink: int = INK) -> Shape:
    """A 9x7 tick with its top-left at (x, y), two pixels thick."""

    def draw(d: ImageDraw.ImageDraw) -> None:
        for dy in (0, 1):
            d.line((x, y + 3 + dy, x + 3, y + 6 + dy - 1, x + 8, y + dy), fill=ink)

    return draw


def envelope(x: int, y: int, ink: int = INK) -> Shape:
    """An 11x8 envelope (the voicemail lamp), top-left at (x, y)."""

    def draw(d: ImageDraw.ImageDraw) -> None:
        d.rectangle((x, y, x + 10, y + 7), outline=ink)
        d.line((x, y, x + 5, y + 4, x + 10, y), fill=ink)

    return draw


def warning_sign(x: int, y: int, ink: int = INK) -> Shape:
    """An 11x10 warning triangle with '!' cut out, top-left at (x, y)."""

    def draw(d: ImageDraw.ImageDraw) -> None:
        d.polygon([(x + 5, y), (x + 10, y + 9), (x, y + 9)], fill=ink)
        cut = PAPER if ink == INK else INK
        d.line((x + 5, y + 3, x + 5, y + 6), fill=cut)
        d.point((x + 5, y + 8), fill=cut)

    return draw


def format_duration(seconds: int) -> str:
    """m:ss under an hour, h:mm:ss after."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Screen:
    """Mixin for the frozen screen dataclasses: subclasses implement `layout()`."""

    def layout(self) -> Layout:
        raise NotImplementedError

    def render(self) -> Image.Image:
        return self.layout().render()

    def lines(self) -> list[str]:
        return self.layout().lines()
