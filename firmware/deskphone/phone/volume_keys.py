"""Volume from the keypad, on a 4x3 keypad as on a 4x4 (no letter key is free for it).

Handset down (idle, the history list closed) and while a call rings, `2` and `8` turn the ringer
up and down, as they move up and down the history list. In a call every digit is DTMF, so the
earpiece takes a `*` prefix: `*2` louder, `*8` softer. The `*` is held back until the next key;
any other key sends the `*` and then does what it always does, and a `*` followed by nothing is
sent at the next once-a-second refresh (an IVR still gets its star). While the SAS waits to be
compared `*` keeps its meaning (it does not match).

The machine never knows the levels: it asks for a step (`ChangeVolume`), the app applies and
stores it, and answers with the level (`VolumeChanged`), which shows for a few seconds as
"Ringer 7/10" on the screen of the moment — the hint that tells which keys did it.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass, replace

from deskphone.phone import events as ev
from deskphone.phone.call_host import CallHost
from deskphone.phone.vocabulary import IN_CALL_STATES

VOLUME_UP_KEY = "2"
VOLUME_DOWN_KEY = "8"
EARPIECE_PREFIX = "*"  # in a call: *2 / *8
PREFIX_SECONDS = 1.5  # a lone '*' is sent as DTMF after this (at the next refresh)
NOTICE_SECONDS = 3.0  # how long the level stays on screen
_STEPS = {VOLUME_UP_KEY: "up", VOLUME_DOWN_KEY: "down"}
_LABELS = {"ringer": "Ringer", "earpiece": "Volume"}

Commands = list[ev.Command]


class VolumeKeys:
    """Owned by the machine (`machine.volume`); its handlers are rows `volume.NAME` of the
    table (transitions.py)."""

    def __init__(self, machine: CallHost) -> None:
        self.m = machine
        self.prefix_at: float | None = None  # a '*' held back in a call, since then
        self.notice = ""
        self.notice_until = 0.0

    def ringer_key(self, key: str) -> Commands:
        """Idle or ringing: 2/8 step the ringer; any other key is not ours (empty)."""
        step = _STEPS.get(key)
        return [ev.ChangeVolume("ringer", step)] if step else []

    def in_call_key(self, key: str, now: float) -> tuple[Commands, bool]:
        """(commands, consumed): consumed keys are the volume's; otherwise the commands (a
        held-back '*') go before whatever the key does as usual."""
        if self.prefix_at is not None:
            self.prefix_at = None
            step = _STEPS.get(key)
            if step:
                return [ev.ChangeVolume("earpiece", step)], True
            return [ev.SendDtmf(EARPIECE_PREFIX)], False
        if key == EARPIECE_PREFIX:
            self.prefix_at = now
            return [], True
        return [], False

    def tick(self, now: float) -> Commands:
        """The in-call refresh: a '*' nobody followed goes out as DTMF."""
        if self.prefix_at is not None and now - self.prefix_at >= PREFIX_SECONDS:
            self.prefix_at = None
            return [ev.SendDtmf(EARPIECE_PREFIX)]
        return []

    def ringing_key(self, event: ev.KeyPressed) -> Commands:
        """A key while a call rings: the ringer's volume, or what it did before (D answers)."""
        return self.ringer_key(event.key) or self.m.several.ringing_key(event)

    def changed(self, event: ev.VolumeChanged) -> Commands:
        """The level, shown over the screen of the moment (any screen that has a notice)."""
        self.notice = f"{_LABELS.get(event.which, event.which)} {event.level}/{event.top}"
        self.notice_until = self.m.now + NOTICE_SECONDS
        if self.m.state.value in IN_CALL_STATES:
            return self.m.refresh_call_screen()
        screen = self.m.screen
        if is_dataclass(screen) and any(f.name == "notice" for f in fields(screen)):
            return [self.m.show(replace(screen, notice=self.notice))]  # type: ignore[type-var]
        return []

    def notice_at(self, now: float) -> str:
        return self.notice if now < self.notice_until else ""

    def clear(self) -> None:
        self.prefix_at = None
        self.notice, self.notice_until = "", 0.0
