"""The phone machine's configuration: one frozen dataclass, filled in by the app from config."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class MachineSettings:
    extension: str
    display_name: str
    status: str = "LAN"
    interdigit_timeout: float = 4.0
    ended_screen_seconds: float = 3.0
    # Nobody answers: the caller gives up (CANCEL) after no_answer_seconds, and a ringing phone
    # stops after ring_seconds with 480 (RFC 3261 §21.4.18) so a call never rings forever.
    no_answer_seconds: float = 90.0
    ring_seconds: float = 120.0
    # True when a dialled string is complete by the dial plan (fixed-length extensions), so the
    # call goes out without waiting for '#' or the timeout.
    is_complete: Callable[[str], bool] | None = None
    # Do not disturb turns callers away with this response (RFC 3261 §21.4.7 486 Busy Here by
    # default; 480 or 603 are the other usual choices).
    dnd_code: int = 486
    dnd: bool = False  # do not disturb at start ([phone] dnd); ctl dnd on|off changes it
    # Call forwarding at start ([phone] forward, forward_to, forward_after; phone/forwarding.py).
    forward: str = "off"
    forward_to: str = ""
    forward_after: float = 20.0
    voicemail: str = ""  # the voicemail number ([[accounts]] voicemail): '*' on the idle screen
    # Hanging up a conference (issue 15): "end" ends both legs, "join" hands one leg to the
    # other by attended transfer (REFER with Replaces, RFC 5589 §7) before leaving.
    conference_hangup: str = "end"
    # The keypad has A-D (4x4); without them (4x3) the screens name the hook flash's R codes.
    letter_keys: bool = True
