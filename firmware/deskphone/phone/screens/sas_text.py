"""The SAS drawn as large as the box allows (RFC 6189 §7: people read it to each other).

B32 ("4K7Q", §5.1.6) is one line of four characters; B256 (two PGP words, "word:word") is two
lines, one word each, so each word can be big.
"""

from __future__ import annotations

import re

from deskphone.phone.screens.canvas import WIDTH, Layout, clean, largest_size


def sas_words(sas: str) -> list[str]:
    words = [w for w in re.split(r"[:\s]+", clean(sas).strip()) if w]
    return words or ["?"]


def add_sas(layout: Layout, sas: str, top: int, bottom: int, *, ink: int = 255,
            margin: int = 2) -> None:
    """Place the SAS centred in rows top..bottom (inclusive), biggest font that fits."""
    words = sas_words(sas)
    width = WIDTH - 2 * margin
    if len(words) == 1:
        height = bottom - top + 1
        size = largest_size(words[0], width, height)
        baseline = top + (height + _cap_height(size)) // 2
        layout.text(words[0], baseline, size, align="center", x=margin, width=width, ink=ink,
                    bold=size >= 20)
        return
    half = (bottom - top + 1) // 2
    size = min(largest_size(word, width, half - 1) for word in words[:2])
    for i, word in enumerate(words[:2]):
        line_top = top + i * half
        baseline = line_top + (half + _cap_height(size)) // 2
        layout.text(word, baseline, size, align="center", x=margin, width=width, ink=ink)


def _cap_height(size: int) -> int:
    # Aileron's capitals are ~72% of the nominal size.
    return round(size * 0.72)
