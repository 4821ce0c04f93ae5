"""SDP offer/answer for a call once it is on its way (RFC 3264): answering a caller's offer,
taking the far end's answer to ours, and re-offers in both directions (hold and resume, §8.4).

`CallNegotiation` is owned by the call layer and keeps no state of its own beyond it: each
call's `OfferAnswer` lives on the `ActiveCall`; the host (deskphone.calls.manager.CallManager)
gives SIP commands, events, media and the calls' life cycle through its public methods. A
failure here ends the call with the status that says why (488 Not Acceptable Here, §21.4.26).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from deskphone.calls import call_ice
from deskphone.calls.call import ActiveCall, LegInput
from deskphone.calls.call_media import local_media, start_media
from deskphone.config import Config
from deskphone.media.ice import IceError
from deskphone.phone import events as pev
from deskphone.sdp import Negotiated, SdpError
from deskphone.sip.useragent import UserAgent

log = logging.getLogger(__name__)


class NegotiationHost(Protocol):
    """What offer/answer needs from the call layer — never its private state."""

    config: Config
    ua: UserAgent

    @property
    def current(self) -> ActiveCall | None: ...
    def sip(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any: ...
    def emit(self, event: pev.Event) -> None: ...
    def hangup(self) -> None: ...
    def finish(self, call: ActiveCall, event: pev.CallFinished) -> None: ...
    def spawn(self, call: ActiveCall | None, coro: Coroutine[Any, Any, None]) -> None: ...
    async def open_media(self, call: ActiveCall) -> None: ...
    async def teardown(self, call: ActiveCall) -> None: ...


class CallNegotiation:
    def __init__(self, host: NegotiationHost) -> None:
        self.host = host

    async def answer(self, call: ActiveCall) -> None:
        """Answer the caller's offer (ringing, the person picked up): media, ICE, 200 OK."""
        host = self.host
        try:
            await host.open_media(call)
            assert call.remote_offer is not None
            components = call_ice.offer_ice_components(call.remote_offer)
            if components and not call.ended:  # RFC 8839 §4.2.2: answer ICE with ICE
                await call_ice.gather(call, host.config, components)
        except (OSError, IceError) as exc:
            host.sip(host.ua.reject, call.call_id, 500)
            host.finish(call, pev.CallFinished("failed", 500, f"no media port: {exc}"))
            return
        if call.ended:
            await host.teardown(call)
            return
        assert call.remote_offer is not None
        answer = self._create_answer(call, call.remote_offer)
        if answer is None:
            return
        sdp, negotiated = answer
        host.sip(host.ua.answer, call.call_id, sdp)
        call.move(LegInput.ANSWER_SENT)
        start_media(call, negotiated)
        assert call.zrtp is not None
        call.zrtp.start_on_first_packet()  # or on the ACK, whichever comes first
        if call.ice is not None:
            host.spawn(call, call_ice.run(call, negotiated, self.ice_failed))

    def answered(self, call: ActiveCall, sdp: bytes) -> None:
        """The far end's answer: to our INVITE (the call is up) or to a re-INVITE (hold)."""
        host = self.host
        if call.negotiated is not None:  # the answer to our re-INVITE (hold/resume)
            try:
                negotiated = call.offer_answer.receive_answer(sdp)
            except SdpError:
                return
            call.negotiated = negotiated
            assert call.media is not None
            call.media.set_direction(negotiated.direction)
            return
        if not call.accepts(LegInput.ANSWER_RECEIVED):
            return
        try:
            negotiated = call.offer_answer.receive_answer(sdp)
        except SdpError as exc:
            log.warning("call %s: bad SDP answer: %s", call.call_id, exc)
            host.hangup()
            host.emit(pev.CallFinished("failed", 488, "bad SDP answer"))
            return
        if negotiated.rejected:
            host.hangup()
            host.emit(pev.CallFinished("failed", 488, "no common codec"))
            return
        call.move(LegInput.ANSWER_RECEIVED)
        start_media(call, negotiated)
        assert call.zrtp is not None
        if call.ice is not None:  # ZRTP starts once the checks have nominated a pair
            call.zrtp_after_ice = True
            host.spawn(call, call_ice.run(call, negotiated, self.ice_failed))
        else:
            call.zrtp.start()  # the caller starts ZRTP on the 200 OK (RFC 6189 §4.1)
        host.emit(pev.CallConnected(call_id=call.call_id))

    def ice_failed(self, call: ActiveCall) -> None:
        if call is self.host.current and not call.ended:
            self.host.hangup()
            self.host.emit(pev.CallFinished("failed", None, "no media path (ICE failed)"))

    def _create_answer(self, call: ActiveCall, offer: bytes) -> tuple[bytes, Negotiated] | None:
        """Our SDP answer to the caller's offer, or None after rejecting the call (488)."""
        host = self.host
        try:
            answer, negotiated = call.offer_answer.create_answer(
                offer, local_media(host.config, call, answer=True))
        except SdpError as exc:
            log.warning("call %s: unusable offer: %s", call.call_id, exc)
            host.sip(host.ua.reject, call.call_id, 488)
            host.finish(call, pev.CallFinished("failed", 488, "Not Acceptable Here"))
            return None
        if negotiated.rejected:
            host.sip(host.ua.reject, call.call_id, 488)
            host.finish(call, pev.CallFinished("failed", 488, "no common codec"))
            return None
        return answer, negotiated

    def reoffer(self, call: ActiveCall, direction: str) -> None:
        # RFC 3264 §8.4: hold is a re-offer with sendonly (or inactive if they hold us too).
        call.direction = direction
        sdp = call.offer_answer.create_offer(local_media(self.host.config, call))
        self.host.sip(self.host.ua.reinvite, call.call_id, sdp)

    def reoffered(self, call: ActiveCall, sdp: bytes) -> None:
        """The far end's re-INVITE (it holds or resumes us): answered, the stream follows."""
        host = self.host
        try:
            answer, negotiated = call.offer_answer.create_answer(
                sdp, local_media(host.config, call, answer=True))
        except SdpError:
            # ua.reject_reoffer arrives with the sip/ rework; until then this fails as before
            # (logged by drain), and the re-INVITE's transaction times out.
            host.sip(host.ua.reject_reoffer, call.call_id, 488)
            return
        host.sip(host.ua.answer_reoffer, call.call_id, answer)
        call.negotiated = negotiated
        call_ice.reoffered(call, negotiated)
        assert call.media is not None
        call.media.set_direction(negotiated.direction)
