"""Several calls at once (issue 15): the calls besides the current one, and who may join them.

One call is *current*: its media stream owns the handset (`CallManager.call`). The others wait
here, each an `OtherCall`:

* **waiting** — an INVITE that arrived during a call. It gets 180 Ringing (RFC 3261 §21.1.2) and
  the phone alerts with the call-waiting tone in the earpiece; no media port is opened for it
  until it is answered.
* **held** — put aside when the person answered a waiting call or swapped. The hold is
  RFC 3264 §8.4's re-offer with `sendonly`, as the hold key does; besides, the stream's audio
  port is swapped for a `NullAudio`, so a held call never plays into the earpiece nor sends what
  the microphone hears (it sends silence), whatever the far end answers. Each call keeps its own
  ZRTP session: its keys, SAS and verified flag are its own.

Who may join (RFC 3261 §21.4.7, 486 Busy Here): nobody in do-not-disturb; nobody during a call
when call waiting is off; nobody once `max_calls` calls exist — so an INVITE flood during a call
makes at most `max_calls - 1` waiting calls, and the rest hear busy at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from deskphone.calls.call import ActiveCall, LegState
from deskphone.config import Config
from deskphone.devices.audio import AudioPort, NullAudio

log = logging.getLogger(__name__)


class OtherCallsHost(Protocol):
    """What the other calls need from the call layer (deskphone.calls.manager.CallManager)."""

    config: Config

    @property
    def current(self) -> ActiveCall | None: ...
    def reoffer(self, call: ActiveCall, direction: str) -> None: ...


@dataclass
class OtherCall:
    call: ActiveCall
    role: str  # "waiting" (ringing, unanswered), "held", or "conference" (calls/conference.py)
    handset: AudioPort | None = None  # the port its stream used before the hold, given back

    def info(self) -> dict[str, Any]:
        negotiated = self.call.negotiated
        return {"call_id": self.call.call_id, "role": self.role, "leg": self.call.state.value,
                "peer": self.call.peer,
                "direction": negotiated.direction if negotiated is not None else None}


class OtherCalls:
    def __init__(self, host: OtherCallsHost) -> None:
        self.host = host
        self.calls: dict[str, OtherCall] = {}
        self.counters = {"waiting_admitted": 0, "refused_no_waiting": 0,
                         "refused_limit": 0, "held": 0, "resumed": 0}

    def refusal(self) -> str | None:
        """Why a new incoming call must hear busy now, or None when it may ring or wait."""
        phone = self.host.config.phone
        existing = len(self.calls) + (self.host.current is not None)
        # Do not disturb is not refused here: it is the phone's (ctl dnd changes it at run time),
        # which turns the caller away with [phone] dnd_code and notes the call as missed.
        if existing and not phone.call_waiting:
            reason = "no_waiting"
        elif existing >= phone.max_calls:
            reason = "limit"
        else:
            return None
        self.counters[f"refused_{reason}"] += 1
        return reason

    def add_waiting(self, call: ActiveCall) -> None:
        self.counters["waiting_admitted"] += 1
        self.calls[call.call_id] = OtherCall(call, "waiting")

    def find(self, call_id: str | None) -> ActiveCall | None:
        other = self.calls.get(call_id or "")
        return other.call if other is not None else None

    def get(self, call_id: str) -> OtherCall | None:
        return self.calls.get(call_id)

    def forget(self, call: ActiveCall) -> None:
        """The call ended (or became current): it is no longer one of the others."""
        other = self.calls.get(call.call_id)
        if other is not None and other.call is call:
            del self.calls[call.call_id]

    def substitute(self, old: ActiveCall, new: ActiveCall) -> None:
        """`new` takes `old`'s place among the others, in its role (RFC 3891 §3, incoming.py)."""
        self.calls[new.call_id] = replace(self.calls.pop(old.call_id), call=new)

    def all(self) -> list[ActiveCall]:
        return [other.call for other in self.calls.values()]

    def hold(self, call: ActiveCall) -> None:
        """The current call steps back: on hold, its stream cut off from the handset."""
        if call.media is not None and call.negotiated is not None and not call.ended:
            handset = call.media.audio
            call.media.audio = NullAudio(handset.rate)
            if call.direction != "sendonly":
                self.host.reoffer(call, "sendonly")
        else:
            handset = None
        self.counters["held"] += 1
        self.calls[call.call_id] = OtherCall(call, "held", handset)

    def resume(self, call_id: str) -> ActiveCall | None:
        """A held call comes back: its handset port again, and sendrecv (RFC 3264 §8.4)."""
        other = self.calls.pop(call_id, None)
        if other is None:
            return None
        call = other.call
        if other.role == "held":
            if call.media is not None and other.handset is not None:
                call.media.audio = other.handset
            if call.negotiated is not None and call.direction != "sendrecv":
                self.host.reoffer(call, "sendrecv")
            self.counters["resumed"] += 1
        return call

    def waiting(self, call_id: str) -> ActiveCall | None:
        other = self.calls.get(call_id)
        if other is None or other.role != "waiting" or other.call.state is not LegState.RINGING:
            return None
        return other.call

    def end_all(self, hang_up: Callable[[ActiveCall], None]) -> None:
        for call in self.all():
            hang_up(call)

    def info(self) -> list[dict[str, Any]]:
        return [other.info() for other in self.calls.values()]
