"""The 128x64 1-bit OLED: a real luma.oled panel over I2C, or a simulated one.

Screens (`deskphone.phone.screens`) render PIL images in mode "1" at 128x64; a `Display` shows
them. The real path is luma.oled's own `ssd1306` / `sh1106` driver over luma's I2C serial
interface; tests hand the same drivers a recording serial object instead. The simulated path is
luma's `dummy` device, which keeps the last image so it can be saved as a PNG for people or drawn
in a terminal with half-block characters (`make run`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from PIL import Image

WIDTH = 128
HEIGHT = 64
DRIVERS = ("ssd1306", "sh1106")


class Display(Protocol):
    def show(self, image: Image.Image) -> None: ...

    def close(self) -> None: ...


def check_frame(image: Image.Image) -> None:
    """Refuse anything but a 128x64 mode "1" image, naming what was given."""
    if image.mode != "1" or image.size != (WIDTH, HEIGHT):
        raise ValueError(
            f"display frame: got mode {image.mode!r} {image.size[0]}x{image.size[1]}, "
            f"expected mode '1' {WIDTH}x{HEIGHT}"
        )


class LumaDisplay:
    """Any luma device (real driver or dummy) behind the `Display` interface."""

    def __init__(self, device: Any) -> None:
        if device.mode != "1" or device.size != (WIDTH, HEIGHT):
            raise ValueError(
                f"display device: got mode {device.mode!r} size {device.size}, expected mode '1' "
                f"{WIDTH}x{HEIGHT} (rotate must be 0 or 2)"
            )
        self.device = device
        self.frames_shown = 0
        self._last: Image.Image | None = None

    def show(self, image: Image.Image) -> None:
        check_frame(image)
        if self._last is not None and image.tobytes() == self._last.tobytes():
            return  # unchanged: spare the I2C bus (a full frame is ~1 KiB at 400 kHz)
        self.device.display(image)
        self._last = image.copy()
        self.frames_shown += 1

    @property
    def last_image(self) -> Image.Image | None:
        """The last frame shown, as drawn (before the panel's rotation)."""
        return None if self._last is None else self._last.copy()

    def keep_on_close(self) -> None:
        """Leave the last frame lit after close (a startup error must outlive the process)."""
        self.device.persist = True  # luma: cleanup() then skips hide() and clear()

    def close(self) -> None:
        # luma's cleanup switches the panel off and clears it (unless persist), then closes the
        # serial interface.
        self.device.cleanup()


def open_oled(driver: str, i2c_bus: int, i2c_address: int, rotate: int = 0,
              serial_interface: Any = None) -> LumaDisplay:
    """The real panel. `serial_interface` defaults to luma's I2C on /dev/i2c-<bus>."""
    # Imported here: luma.oled pulls in smbus2 and RPi-specific helpers only the real path needs.
    from luma.oled.device import sh1106, ssd1306

    classes = {"ssd1306": ssd1306, "sh1106": sh1106}
    if driver not in classes:
        raise ValueError(f"display driver: got {driver!r}, expected one of {', '.join(DRIVERS)}")
    if rotate not in (0, 2):
        raise ValueError(f"display rotate: got {rotate!r}, expected 0 or 2 (128x64 landscape)")
    if serial_interface is None:
        from luma.core.interface.serial import i2c

        serial_interface = i2c(port=i2c_bus, address=i2c_address)
    device = classes[driver](serial_interface, width=WIDTH, height=HEIGHT, rotate=rotate)
    return LumaDisplay(device)


class SimDisplay(LumaDisplay):
    """luma's dummy device: keeps the frame for PNGs and the terminal."""

    def __init__(self) -> None:
        from luma.core.device import dummy

        super().__init__(dummy(width=WIDTH, height=HEIGHT, mode="1"))

    @property
    def image(self) -> Image.Image:
        """What the panel shows now (all dark before the first frame)."""
        shown = self.device.image
        return Image.new("1", (WIDTH, HEIGHT), 0) if shown is None else shown.copy()

    def save_png(self, path: str | Path, scale: int = 4) -> None:
        """The current frame scaled up with nearest-neighbour (crisp pixels) for people."""
        if not 1 <= scale <= 16:
            raise ValueError(f"png scale: got {scale!r}, expected 1-16")
        big = self.image.resize((WIDTH * scale, HEIGHT * scale), Image.Resampling.NEAREST)
        big.save(path, format="PNG")

    def terminal_lines(self, frame: bool = False) -> list[str]:
        return render_half_blocks(self.image, frame=frame)


# Two pixel rows per character cell: (top lit, bottom lit) -> glyph. A terminal cell is about
# twice as tall as it is wide, so this keeps the panel's aspect ratio.
_HALF_BLOCKS = {(False, False): " ", (True, False): "▀", (False, True): "▄", (True, True): "█"}


def render_half_blocks(image: Image.Image, frame: bool = False) -> list[str]:
    """A mode "1" image as text lines of ' ', '▀', '▄', '█' (lit pixels are ink)."""
    width, height = image.size
    pixels = image.load()
    assert pixels is not None
    lines = []
    for y in range(0, height, 2):
        row = []
        for x in range(width):
            top = bool(pixels[x, y])
            bottom = bool(pixels[x, y + 1]) if y + 1 < height else False
            row.append(_HALF_BLOCKS[(top, bottom)])
        lines.append("".join(row))
    if frame:
        lines = ["┌" + "─" * width + "┐", *("│" + line + "│" for line in lines),
                 "└" + "─" * width + "┘"]
    return lines
