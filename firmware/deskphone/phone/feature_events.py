"""Events and commands of the everyday features beside the call (call history, redial).

Kept apart from `events.py` (the call's own vocabulary) so the features can grow without
touching it; `events.py` folds these into its `Event` and `Command` unions.
"""

from __future__ import annotations

from dataclasses import dataclass

from deskphone.phone.contacts import ContactBook
from deskphone.phone.history import CallRecord

# -- events in -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryChanged:
    """The stored call history now holds `entries` (newest first), `missed` of them unseen."""

    entries: tuple[CallRecord, ...]
    missed: int
    last_dialled: str | None


@dataclass(frozen=True)
class ContactsChanged:
    """The contacts as they are now: the file's and the LAN's, with their marks. The app sends
    it at start and just before each incoming call, so the ringing screen names the caller
    from a fresh directory."""

    book: ContactBook


@dataclass(frozen=True)
class DndSet:
    """Do not disturb on or off (ctl dnd): callers are turned away with the configured code."""

    on: bool


@dataclass(frozen=True)
class MuteToggled:
    """Mute or unmute the microphone in a call (ctl mute, the D key in a call)."""


@dataclass(frozen=True)
class ClockChanged:
    """The wall-clock time and date for the idle screen ("14:05", "Thu 3 Dec"), or None when the
    clock is known to be unset (a Pi without a battery boots in 1970 until timesyncd has been
    heard; deskphone.wall_clock decides)."""

    text: str | None
    date: str | None = None


@dataclass(frozen=True)
class VolumeChanged:
    """The app changed a volume (a volume key, ctl volume): `which` is now `level` of `top`."""

    which: str  # earpiece | ringer
    level: int
    top: int = 10


@dataclass(frozen=True)
class ForwardSet:
    """Call forwarding (ctl forward, [phone] forward at start): `mode` is off, always, busy or
    no_answer (after `after` seconds of ringing); `target` is dialled by the dial plan."""

    mode: str
    target: str = ""
    after: float = 20.0


@dataclass(frozen=True)
class VoicemailChanged:
    """An account's voicemail summary (RFC 3842 NOTIFY): the idle screen's envelope and count."""

    account: str
    waiting: bool
    new: int
    old: int = 0


# -- commands out ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordCall:
    """A call is over: the app stores it. Times are the machine's `now` (monotonic seconds);
    the app turns them into wall-clock time, which the machine never reads."""

    direction: str  # incoming | outgoing | missed
    peer: str
    name: str
    started: float
    answered: float | None
    ended: float
    security: str


@dataclass(frozen=True)
class MarkHistorySeen:
    """The person opened the history: the missed calls are no longer new."""


@dataclass(frozen=True)
class SetMute:
    """Silence the microphone (the far end hears silence frames) or give it back."""

    on: bool


@dataclass(frozen=True)
class ChangeVolume:
    """A volume key: step `which` (earpiece | ringer) up or down; the app answers with
    VolumeChanged."""

    which: str
    step: str  # up | down


@dataclass(frozen=True)
class ForwardCall:
    """Send the ringing (or arriving) call `call_id` to `target`: a 302 whose Contact is the
    target routed by the dial plan."""

    call_id: str
    target: str


FeatureEvent = (HistoryChanged | ContactsChanged | DndSet | MuteToggled | ClockChanged
                | VolumeChanged | ForwardSet | VoicemailChanged)
FeatureCommand = RecordCall | MarkHistorySeen | SetMute | ChangeVolume | ForwardCall
