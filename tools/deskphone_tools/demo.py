"""`make demo`: two simulated phones make a secure call, as a person would make it.

A lifts the handset and keys B's extension; B rings and is answered by lifting its handset; ZRTP
agrees keys on the two phones alone; both screens show the same SAS; A confirms it with `#`; A
hangs up. Every step waits on the phones' own state with a timeout, and the demo exits 0 only if
every step happened and the two SAS matched.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from deskphone_tools.harness import PhoneError, PhonePair, PhoneProcess


def _panel(phone: PhoneProcess) -> list[str]:
    """The phone's OLED as terminal text (braille: fits two panels side by side in 80 columns)."""
    from PIL import Image

    from deskphone.sim.terminal import image_to_braille

    with tempfile.TemporaryDirectory() as tmp:
        shot = Path(tmp) / "screen.png"
        phone.ctl("screenshot", str(shot))
        with Image.open(shot) as image:
            small = image.convert("1").resize((128, 64), Image.Resampling.NEAREST)
    return image_to_braille(small)


def show_side_by_side(a: PhoneProcess, b: PhoneProcess, caption: str,
                      png_dir: Path | None, step: int, out: Any = sys.stdout) -> None:
    left, right = _panel(a), _panel(b)
    width = max(len(line) for line in left)
    print(f"\n── {step}. {caption}", file=out)
    print(f"  {f'A ({a.extension}) Alice':<{width + 2}}   B ({b.extension}) Bob", file=out)
    top = "─" * width
    print(f"  ┌{top}┐   ┌{top}┐", file=out)
    for la, lb in zip(left, right, strict=True):
        print(f"  │{la}│   │{lb}│", file=out)
    print(f"  └{top}┘   └{top}┘", file=out)
    if png_dir is not None:
        png_dir.mkdir(parents=True, exist_ok=True)
        slug = "-".join(re.findall(r"[a-z0-9]+", caption.lower()))[:40]
        a.ctl("screenshot", str(png_dir / f"{step:02d}-A-{slug}.png"))
        b.ctl("screenshot", str(png_dir / f"{step:02d}-B-{slug}.png"))


def run_demo(png_dir: Path | None = None, out: Any = sys.stdout,
             extensions: tuple[str, str] = ("201", "202")) -> int:
    started = time.monotonic()
    png_dir = png_dir.resolve() if png_dir is not None else None
    try:
        with PhonePair(extensions=extensions) as pair:
            a, b = pair.a, pair.b
            step = 0

            def show(caption: str) -> None:
                nonlocal step
                step += 1
                show_side_by_side(a, b, caption, png_dir, step, out)

            a.wait(lan_peers=f"~{b.extension}")
            b.wait(lan_peers=f"~{a.extension}")
            show("Two phones on the LAN, no server: they found each other")
            a.ctl("hook", "off")
            a.ctl("press", b.extension)
            show(f"A lifts the handset and keys {b.extension}")
            a.ctl("press", "#")
            b.wait(call="ringing")
            a.wait(screen="~Ringing")
            show("B rings; A hears ringback")
            b.ctl("hook", "off")
            sa = a.wait(call="in_call", security="secure|verified")
            sb = b.wait(call="in_call", security="secure|verified")
            show("B lifts the handset: ZRTP agrees keys on the two phones alone")
            if not sa["sas"] or sa["sas"] != sb["sas"]:
                print(f"\nFAIL: the SAS differ (A {sa['sas']!r}, B {sb['sas']!r})", file=out)
                return 1
            print(f"\n  Both screens read the same SAS: {sa['sas']!r}. Each person reads it aloud.",
                  file=out)
            a.ctl("press", "#")
            a.wait(security="verified")
            show("A heard B read the same words and pressed # : verified")
            a.ctl("hook", "on")
            b.wait(call="ended")
            a.wait(call="idle")
            show("A hangs up")
            b.ctl("hook", "on")
            b.wait(call="idle")
    except PhoneError as exc:
        print(f"\nFAIL: {exc}", file=out)
        return 1
    print(f"\nOK: secure call with matching SAS, verified, ended cleanly "
          f"({time.monotonic() - started:.1f} s).", file=out)
    if png_dir is not None:
        print(f"Screens saved in {png_dir}", file=out)
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="deskphone-demo",
                                     description="two simulated phones make a secure call")
    parser.add_argument("--png", type=Path, default=None,
                        help="save each screen into this folder")
    parser.add_argument("--extensions", nargs=2, default=["201", "202"], metavar=("A", "B"),
                        help="the two phones' extensions (default 201 202)")
    args = parser.parse_args(argv)
    return run_demo(png_dir=args.png, extensions=tuple(args.extensions))


if __name__ == "__main__":
    sys.exit(main())
