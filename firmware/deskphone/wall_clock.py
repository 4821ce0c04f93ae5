"""The wall clock as the idle screen shows it, and whether it can be believed.

A Pi has no battery-backed clock: it boots at the last time fake-hwclock saved (or in 1970) and
jumps when systemd-timesyncd first hears an NTP server, which then creates
`/run/systemd/timesync/synchronized` (timesyncd(8)). So the clock is *known* when that file
exists, or when it reads no earlier than this firmware's release (no correct clock can be
earlier than the code it runs). Otherwise it is known to be unset and the idle screen shows no
time and no date rather than a wrong one. The phone machine reads no clock: the app asks here
and tells it (`ClockChanged`).
"""

from __future__ import annotations

import time
from pathlib import Path

TIMESYNC_SYNCHRONIZED = Path("/run/systemd/timesync/synchronized")
RELEASE_DATE = 1_764_547_200.0  # 2025-12-01 00:00 UTC: this firmware's release, a floor


def clock_known(now: float, synchronized: Path = TIMESYNC_SYNCHRONIZED,
                release: float = RELEASE_DATE) -> bool:
    """True unless the clock is known to be unset: timesyncd has not synchronised it AND it
    reads earlier than the release date."""
    return now >= release or synchronized.exists()


def clock_text(now: float, known: bool | None = None) -> str | None:
    """"14:05" local time, or None when the clock is known to be unset."""
    if not (clock_known(now) if known is None else known):
        return None
    return time.strftime("%H:%M", time.localtime(now))


def date_text(now: float, known: bool | None = None) -> str | None:
    """"Thu 3 Dec" local date (day, month: no year, it fits beside the extension), or None."""
    if not (clock_known(now) if known is None else known):
        return None
    local = time.localtime(now)
    return f"{time.strftime('%a', local)} {local.tm_mday} {time.strftime('%b', local)}"


def seconds_to_next_minute(now: float) -> float:
    """How long to sleep to wake just after the minute turns (the idle screen's time)."""
    return 60.5 - now % 60
