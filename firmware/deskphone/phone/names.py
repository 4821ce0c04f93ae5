"""Text from the network (SIP display names, URIs, names in files) made safe to show and to log.

A display name is whatever the far end put in its From header (RFC 3261 §20.20): it may hold
control characters that move a terminal's cursor, bidirectional overrides (U+202E) that reverse
what follows so "gro.knab" reads as "bank.org", zero-width characters that hide text, emoji the
panel's font cannot draw, or ten kilobytes of anything. Both functions are total: any string in,
one bounded, printable line out.
"""

from __future__ import annotations

import unicodedata

MAX_SHOWN = 256  # far more than 128 px can show; fitting never measures a 10 KB string
MAX_LOGGED = 80
REPLACEMENT = "?"


def display_text(text: str, limit: int = MAX_SHOWN) -> str:
    """One line for the panel: control characters become spaces, format characters (bidi
    overrides and isolates, zero-width joiners; Unicode category Cf) are dropped, and symbols
    the built-in font has no glyph for (emoji, private use, unassigned, astral) become '?'."""
    out: list[str] = []
    for ch in text[: limit * 4]:  # format characters dropped below still cost a bounded scan
        code = ord(ch)
        if code < 0x20 or 0x7F <= code < 0xA0:
            out.append(" ")
            continue
        category = unicodedata.category(ch)
        if category == "Cf":
            continue
        if category == "Zs":  # no-break and other wide spaces: a plain one
            out.append(" ")
        elif category in ("So", "Co", "Cn", "Cs", "Zl", "Zp") or code > 0xFFFF:
            out.append(REPLACEMENT)
        else:
            out.append(ch)
        if len(out) >= limit:
            break
    return "".join(out)


def log_text(text: str, limit: int = MAX_LOGGED) -> str:
    """For a log line: printable ASCII only (a journal viewer is a terminal too), bounded, with
    the length said when cut."""
    shown = "".join(ch if 0x20 <= ord(ch) < 0x7F else REPLACEMENT for ch in text[:limit])
    return shown if len(text) <= limit else f"{shown}...({len(text)} chars)"
