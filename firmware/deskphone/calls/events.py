"""What the call layer reports besides the phone's own events (deskphone.phone.events).

The call layer's event queue (`CallManager.next_event`) carries the phone events the state
machine consumes (`CallArrived`, `Secured`...) and these, which the app handles itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from deskphone.phone import events as pev


@dataclass(frozen=True)
class CallLayerChanged:
    """Something the control socket's `state` reports changed without a phone event (LAN peers,
    registration): the app re-checks what `wait` is waiting for."""


CallLayerEvent = pev.Event | CallLayerChanged
