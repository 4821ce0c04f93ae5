"""A 3-way conference mixed on this phone (issue 15 item 4): the call layer's side.

The person talks to C with B on hold and presses the conference key: B comes back (RFC 3264
§8.4 re-offer `sendrecv`, as a resume) and both calls' media streams are handed to one
`ConferenceBridge` (media/conference.py), which mixes them on the handset from one 20 ms tick.
Each call stays what it was: its own SIP dialog, its own ZRTP session with its own SAS and
verified flag, its own SRTP keys. Nothing is renegotiated end to end, so B and C are each
secured to this phone and not to each other (the phone mixes their cleartext); the screen says
so.

The call the earpiece carried stays the manager's current call; the other is one of the
others (other_calls.py) in the role "conference". Then:

* a leg that drops (BYE, ZRTP failure, lost media) leaves a two-party call with the one left:
  the bridge gives that stream the handset back and its own ticker, and it becomes current;
* hanging up (`hang_up_all`) ends both legs;
* `split` undoes the mixing without ending anything (the held leg silent again), which the
  attended transfer of `[phone] conference_hangup = "join"` uses before its REFER (RFC 5589 §7).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from deskphone.calls.call import ActiveCall
from deskphone.calls.other_calls import OtherCalls
from deskphone.devices.audio import NullAudio
from deskphone.media.conference import ConferenceBridge

log = logging.getLogger(__name__)

CONFERENCE = "conference"  # the role of the leg that is not current, in OtherCalls


class ConferenceHost(Protocol):
    """What the conference needs of the call layer (deskphone.calls.manager.CallManager)."""

    others: OtherCalls

    @property
    def current(self) -> ActiveCall | None: ...
    def set_current(self, call: ActiveCall | None) -> None: ...
    def reoffer(self, call: ActiveCall, direction: str) -> None: ...


class CallConference:
    def __init__(self, host: ConferenceHost) -> None:
        self.host = host
        self.bridge: ConferenceBridge | None = None
        self.legs: tuple[ActiveCall, ActiveCall] | None = None  # (current, the other)
        self.counters = {"started": 0, "legs_dropped": 0, "refused": 0}

    @property
    def active(self) -> bool:
        return self.bridge is not None

    def join(self) -> bool:
        """Mix the current call with the held one; False (nothing changed) when there are not
        two answered calls with media, or a conference already runs."""
        current = self.host.current
        held = next((o for o in self.host.others.calls.values() if o.role == "held"), None)
        if (self.bridge is not None or current is None or held is None
                or not _has_media(current) or not _has_media(held.call)):
            self.counters["refused"] += 1
            return False
        other = held.call
        assert current.media is not None and other.media is not None
        handset = current.media.audio  # the handset with the phone's tones mixed in
        held.role = CONFERENCE
        if other.direction != "sendrecv":
            self.host.reoffer(other, "sendrecv")  # RFC 3264 §8.4: back from hold
        self.bridge = ConferenceBridge(handset, {current.call_id: current.media,
                                                 other.call_id: other.media})
        self.bridge.start()
        self.legs = (current, other)
        self.counters["started"] += 1
        log.info("conference: mixing two calls on this phone")
        return True

    def leg_ended(self, call: ActiveCall) -> None:
        """`call` is over (before its media is torn down): the one left becomes a plain call."""
        if self.legs is None or call not in self.legs or self.bridge is None:
            return
        left = self.legs[1] if call is self.legs[0] else self.legs[0]
        handset = self.bridge.handset
        self.bridge.legs.pop(call.call_id, None)
        self.bridge.stop(give_back={left.call_id: handset})
        self.bridge, self.legs = None, None
        self.counters["legs_dropped"] += 1
        if self.host.current is not left:  # the call in the earpiece left: the other takes over
            self.host.others.forget(left)
            self.host.set_current(left)

    def split(self) -> ActiveCall | None:
        """Stop mixing, end nothing: the other leg goes back to held, silent (its stream plays
        and sends nothing of the handset). Returns that leg."""
        if self.legs is None or self.bridge is None:
            return None
        other = self.legs[1]
        handset = self.bridge.handset
        self.bridge.stop(give_back={other.call_id: NullAudio(handset.rate)})
        self.bridge, self.legs = None, None
        record = self.host.others.get(other.call_id)
        if record is not None:  # held again: a resume gives it the handset back
            record.role, record.handset = "held", handset
        return other

    def hang_up_all(self, hang_up: Callable[[ActiveCall], None]) -> None:
        """Both legs end (the person put the handset down in a conference)."""
        if self.legs is None:
            return
        for call in self.legs:
            if not call.ended:
                hang_up(call)

    def info(self) -> dict[str, Any] | None:
        if self.legs is None or self.bridge is None:
            return None
        wakeups, ticks = self.bridge.loop_wakeups
        return {"legs": [c.call_id for c in self.legs], "mixer_ticks": self.bridge.mixer.ticks,
                "rates": dict(self.bridge.mixer.legs), "loop_wakeups": wakeups,
                "ticks": ticks}


def _has_media(call: ActiveCall) -> bool:
    return call.media is not None and call.negotiated is not None and not call.ended
