"""An INVITE that arrives: refused at once, ringing, waiting behind the current call, or taking
the place of a call it replaces.

The SIP user agent reports `IncomingCall` once it has a server transaction for the INVITE; what
the phone answers is decided here, in this order:

1. `Replaces` names a dialog (RFC 3891 §3): it must be one of our calls that is up, else 481;
2. the others (other_calls.py) say whether anybody may join now: if not, 486 Busy Here
   (RFC 3261 §21.4.7; do-not-disturb is the phone's to refuse, not ours);
3. the offer must be one we can answer (RFC 3264 §6, with the codecs we have): if not, 488 Not
   Acceptable Here (§21.4.26), before any media port is opened for it;
4. then the call rings (180, §21.1.2): as the current call when there is none, else as a
   waiting one (call-waiting tone); a replacing call is answered at once instead, since the
   person already talks to the transfer, and the call it replaces ends with a BYE.

`IncomingCalls` keeps no state: the calls it makes are the manager's (current) or the others'.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from deskphone.calls.call import ActiveCall, LegInput, LegState
from deskphone.calls.call_media import new_offer_answer, probe_media
from deskphone.calls.events import CallLayerEvent
from deskphone.calls.negotiation import CallNegotiation
from deskphone.calls.other_calls import OtherCalls
from deskphone.config import Config
from deskphone.phone import events as pev
from deskphone.sdp import OfferAnswer, SdpError
from deskphone.sip.useragent import UserAgent

log = logging.getLogger(__name__)


class IncomingHost(Protocol):
    """What an arriving call needs of the call layer (calls/manager.py)."""

    config: Config
    ua: UserAgent
    counters: dict[str, int]
    others: OtherCalls
    negotiation: CallNegotiation

    @property
    def current(self) -> ActiveCall | None: ...
    def set_current(self, call: ActiveCall | None) -> None: ...
    def find(self, call_id: str | None) -> ActiveCall | None: ...
    def sip(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any: ...
    def emit(self, event: CallLayerEvent) -> None: ...
    def hangup_call(self, call: ActiveCall) -> None: ...
    def spawn(self, call: ActiveCall | None, coro: Coroutine[Any, Any, None]) -> None: ...


class IncomingCalls:
    def __init__(self, host: IncomingHost) -> None:
        self.host = host

    def arrived(self, call_id: str, uri: str, display: str | None, sdp: bytes,
                replaces: str | None = None) -> None:
        host = self.host
        replaced = host.find(replaces)
        if replaces is not None and (replaced is None or replaced.negotiated is None):
            host.sip(host.ua.reject, call_id, 481)  # RFC 3891 §3: not a call of ours to replace
            return
        if replaced is None and host.others.refusal() is not None:
            host.counters["rejected_busy"] += 1
            host.sip(host.ua.reject, call_id, 486)  # RFC 3261 §21.4.7 Busy Here
            return
        try:
            OfferAnswer().create_answer(sdp, probe_media(host.config.audio.codecs))
        except SdpError as exc:
            host.counters["bad_sdp"] += 1
            log.warning("incoming call %s: bad SDP offer: %s", call_id, exc)
            host.sip(host.ua.reject, call_id, 488)  # §21.4.26 Not Acceptable Here
            return
        call = ActiveCall(call_id=call_id, outgoing=False, peer=display or uri,
                          offer_answer=new_offer_answer(host.config), state=LegState.RINGING,
                          remote_offer=sdp)
        if replaced is not None:
            self._replace(replaced, call)
            return
        if host.current is None and not host.others.calls:
            host.set_current(call)
        else:  # during a call: it waits (call-waiting tone) until answered or given up
            host.others.add_waiting(call)
        host.sip(host.ua.ringing, call_id)
        host.emit(pev.CallArrived(call_id, uri, display))

    def _replace(self, old: ActiveCall, new: ActiveCall) -> None:
        """RFC 3891 §3: the new call takes the old one's place, answered at once (no ringing:
        the person already talks to this transfer); the old dialog ends with a BYE."""
        host = self.host
        if host.current is old:
            host.set_current(new)
        else:
            host.others.substitute(old, new)
        host.hangup_call(old)
        host.emit(pev.CallReplaced(old.call_id, new.call_id, new.peer))
        new.move(LegInput.ANSWER_REQUESTED)
        host.spawn(new, host.negotiation.answer(new))
