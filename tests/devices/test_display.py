"""The real ssd1306/sh1106 drivers, run over a recording serial interface, decoded back."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw

from deskphone.devices.display import SimDisplay, open_oled, render_half_blocks


class RecordingSerial:
    """Stands in for luma's i2c interface: records command and data bytes."""

    def __init__(self) -> None:
        self.log: list[tuple[str, list[int]]] = []
        self.cleaned_up = False

    def command(self, *cmd: int) -> None:
        self.log.append(("command", list(cmd)))

    def data(self, data: list[int]) -> None:
        self.log.append(("data", list(data)))

    def cleanup(self) -> None:
        self.cleaned_up = True


def decode_ssd1306(log) -> Image.Image:
    """Horizontal addressing: COLUMNADDR a b, PAGEADDR p q, then column bytes page by page."""
    image = Image.new("1", (128, 64), 0)
    col_start = col_end = page = col = 0
    for kind, values in log:
        if kind == "command":
            i = 0
            while i < len(values):
                if values[i] == 0x21:  # SSD1306 datasheet §10.3.1: set column address
                    col_start, col_end = values[i + 1], values[i + 2]
                    col = col_start
                    i += 3
                elif values[i] == 0x22:  # §10.3.2: set page address
                    page = values[i + 1]
                    i += 3
                else:
                    i += 1
            continue
        for byte in values:
            for bit in range(8):
                if byte >> bit & 1:
                    image.putpixel((col, page * 8 + bit), 1)
            col += 1
            if col > col_end:
                col, page = col_start, page + 1
    return image


def decode_sh1106(log, column_offset: int = 2) -> Image.Image:
    """Page addressing: 0xB0+page, low nibble 0x0X, high nibble 0x1X, then 128 bytes."""
    image = Image.new("1", (128, 64), 0)
    page = column = 0
    for kind, values in log:
        if kind == "command":
            for value in values:
                if 0xB0 <= value <= 0xB7:  # SH1106 datasheet cmd 12: page address
                    page = value - 0xB0
                elif value <= 0x0F:  # cmd 1: lower column address
                    column = (column & 0xF0) | value
                elif 0x10 <= value <= 0x1F:  # cmd 2: higher column address
                    column = (column & 0x0F) | (value & 0x0F) << 4
            continue
        for byte in values:
            x = column - column_offset
            for bit in range(8):
                if byte >> bit & 1:
                    image.putpixel((x, page * 8 + bit), 1)
            column += 1
    return image


def same_pixels(a: Image.Image, b: Image.Image) -> bool:
    """Mode "1" images compared as packed bits (a lit pixel may be stored as 1 or 255)."""
    return a.mode == b.mode == "1" and a.size == b.size and a.tobytes() == b.tobytes()


def make_pattern() -> Image.Image:
    image = Image.new("1", (128, 64), 0)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 127, 63), outline=1)
    draw.line((0, 0, 127, 63), fill=1)
    draw.text((10, 20), "SAS 4K7Q", fill=1)
    draw.point((127, 0), fill=1)
    draw.point((3, 62), fill=1)
    return image


pattern = make_pattern


@pytest.mark.parametrize("driver, decode", [("ssd1306", decode_ssd1306),
                                            ("sh1106", decode_sh1106)])
@pytest.mark.parametrize("rotate", [0, 2])
def test_driver_bytes_decode_to_the_drawn_image(driver, decode, rotate):
    serial = RecordingSerial()
    display = open_oled(driver, 1, 0x3C, rotate=rotate, serial_interface=serial)
    assert serial.log, "the driver sends its init sequence"
    serial.log.clear()
    image = pattern()
    display.show(image)
    expected = image.rotate(180) if rotate == 2 else image
    decoded = decode(serial.log)
    assert same_pixels(decoded, expected)
    display.close()
    assert serial.cleaned_up


def test_unchanged_frame_is_not_resent():
    serial = RecordingSerial()
    display = open_oled("ssd1306", 1, 0x3C, serial_interface=serial)
    display.show(pattern())
    serial.log.clear()
    display.show(pattern())
    assert serial.log == []
    assert display.frames_shown == 1


def test_wrong_frames_and_settings_are_refused():
    display = SimDisplay()
    with pytest.raises(ValueError, match="got mode 'L' 128x64, expected mode '1' 128x64"):
        display.show(Image.new("L", (128, 64)))
    with pytest.raises(ValueError, match="64x128"):
        display.show(Image.new("1", (64, 128)))
    with pytest.raises(ValueError, match="'ssd1309'"):
        open_oled("ssd1309", 1, 0x3C, serial_interface=RecordingSerial())
    with pytest.raises(ValueError, match="rotate: got 1"):
        open_oled("sh1106", 1, 0x3C, rotate=1, serial_interface=RecordingSerial())


def test_sim_display_keeps_the_frame_and_saves_a_scaled_png(tmp_path):
    display = SimDisplay()
    assert display.image.getbbox() is None  # dark before the first frame
    display.show(pattern())
    assert same_pixels(display.image, pattern())
    path = tmp_path / "screen.png"
    display.save_png(path, scale=4)
    with Image.open(path) as saved:
        assert saved.size == (512, 256)
        small = saved.convert("1").resize((128, 64), Image.Resampling.NEAREST)
        assert same_pixels(small, pattern())


def test_half_block_terminal_rendering():
    image = Image.new("1", (4, 4), 0)
    for xy in [(0, 0), (1, 1), (2, 0), (2, 1), (3, 3)]:
        image.putpixel(xy, 1)
    assert render_half_blocks(image) == ["▀▄█ ", "   ▄"]
    framed = render_half_blocks(image, frame=True)
    assert framed[0] == "┌────┐" and framed[1] == "│▀▄█ │" and framed[-1] == "└────┘"


def test_sim_display_terminal_is_32_lines_of_128_cells():
    display = SimDisplay()
    display.show(pattern())
    lines = display.terminal_lines()
    assert len(lines) == 32 and all(len(line) == 128 for line in lines)
    assert lines[0][0] == "█" and lines[0][127] == "█"  # the outline
    assert lines[0][64] == "▀" and lines[31][64] == "▄"  # top row, bottom row
    assert lines[5][100] == " "
