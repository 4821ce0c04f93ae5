"""Rewrite tests/screens/golden/*.png from tests/screens/cases.py after an intended change.

    .venv/bin/python -m tests.screens.regenerate_goldens

Then look at the PNGs (they are 1-bit 128x64, one per case) before committing them.
"""

from __future__ import annotations

from pathlib import Path

from tests.screens.cases import CASES

GOLDEN = Path(__file__).parent / "golden"


def main() -> None:
    GOLDEN.mkdir(exist_ok=True)
    for name, screen in CASES.items():
        screen.render().save(GOLDEN / f"{name}.png", format="PNG", optimize=True)
    print(f"wrote {len(CASES)} goldens to {GOLDEN}")


if __name__ == "__main__":
    main()
