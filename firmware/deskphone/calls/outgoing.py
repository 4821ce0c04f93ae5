"""Placing a call: from a dialled target to an INVITE with our offer.

The steps, each of which can fail locally before anything is sent (the person then sees why,
`CallFailedLocally`, unless an attended transfer placed the call and falls back, transfer.py):

1. the target is resolved by the dial plan, the LAN directory or as a URI (routes.py): an
   unknown number is refused at once;
2. the new call becomes current, and what the LAN says of the peer's identity is checked before
   it rings (peer_identity.py: a warning when the number is not who it was);
3. its media stream and ZRTP session are opened (call_media.py), with ICE candidates gathered
   when NAT traversal is configured (RFC 8445 §5.1.1: we offer ICE);
4. the SDP offer (RFC 3264 §5) goes out in an INVITE (RFC 3261 §13.2.1), with `Replaces` for an
   attended transfer (RFC 3891 §3); a target the user agent cannot address fails here.

A call hung up while its media opened is torn down without any INVITE. `OutgoingCalls` keeps
no state: the call it makes is the manager's.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from deskphone.calls import call_ice
from deskphone.calls.call import ActiveCall, LegInput, LegState
from deskphone.calls.call_media import local_media, new_offer_answer
from deskphone.calls.events import CallLayerEvent
from deskphone.calls.peer_identity import expectation_for, warnings_before_call
from deskphone.calls.routes import Routes
from deskphone.calls.transfer import CallTransfers
from deskphone.config import Config
from deskphone.media.ice import IceError
from deskphone.phone import events as pev
from deskphone.sip.useragent import UserAgent


class OutgoingHost(Protocol):
    """What placing a call needs of the call layer (calls/manager.py)."""

    config: Config
    ua: UserAgent
    routes: Routes | None
    transfers: CallTransfers

    def resolve(self, target: str) -> tuple[str, str | None] | str: ...
    def set_current(self, call: ActiveCall | None) -> None: ...
    def sip(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any: ...
    def emit(self, event: CallLayerEvent) -> None: ...
    def end(self, call: ActiveCall) -> None: ...
    def spawn(self, call: ActiveCall | None, coro: Coroutine[Any, Any, None]) -> None: ...
    async def open_media(self, call: ActiveCall) -> None: ...
    async def teardown(self, call: ActiveCall) -> None: ...


class OutgoingCalls:
    def __init__(self, host: OutgoingHost) -> None:
        self.host = host

    def place(self, target: str, replaces: str | None = None) -> ActiveCall | None:
        """Call `target`; the new call, now current, or None when it cannot be placed.
        `replaces`: it takes that dialog's place at the target (attended transfer, RFC 3891)."""
        host = self.host
        resolved = host.resolve(target)
        if isinstance(resolved, str):
            host.emit(pev.CallFailedLocally("Unknown number", resolved))
            return None
        uri, account = resolved
        call = ActiveCall(call_id="", outgoing=True, peer=target,
                          offer_answer=new_offer_answer(host.config),
                          state=LegState.OPENING_MEDIA, replaces=replaces)
        assert host.routes is not None
        call.lan = expectation_for(host.routes.dialplan, host.routes.directory, target)
        host.set_current(call)
        for warning in warnings_before_call(call.lan):
            host.emit(pev.PeerWarning(warning))
        host.spawn(call, self._place(call, uri, account))
        return call

    async def _place(self, call: ActiveCall, uri: str, account: str | None) -> None:
        host = self.host
        try:
            await host.open_media(call)
            if host.config.nat.configured and not call.ended:  # RFC 8445: we offer ICE
                await call_ice.gather(call, host.config)
        except (OSError, IceError) as exc:
            self._finish_locally(call, "No media port", str(exc))
            return
        if call.ended:
            await host.teardown(call)
            return
        sdp = call.offer_answer.create_offer(
            local_media(host.config, call, host.ua.config.local_host))
        try:
            call.call_id = host.sip(host.ua.invite, uri, sdp, account=account,
                                    replaces=call.replaces)
        except (ValueError, KeyError) as exc:  # a target the UA cannot address
            self._finish_locally(call, "Cannot call", str(exc))
            return
        call.move(LegInput.INVITE_SENT)

    def _finish_locally(self, call: ActiveCall, title: str, detail: str) -> None:
        if self.host.transfers.failed_locally(call, f"{title}: {detail}"):
            return
        self.host.end(call)
        self.host.emit(pev.CallFailedLocally(title, detail))
