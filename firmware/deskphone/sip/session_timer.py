"""Session timers (RFC 4028): a dialog whose far end vanished ends instead of lingering.

Both ends agree on a session interval and on which of them refreshes it: the refresher sends a
re-INVITE (we do not implement UPDATE, so it is the only refresh we offer, §9) at half the
interval (§10), the other side expects one and, when none came, sends BYE shortly before the
interval runs out (§10: at interval - min(32, interval / 3)). A crashed peer thus costs at most
one session interval, whichever side it was.

What each message carries:

- every INVITE and re-INVITE we send: `Supported: timer`, `Session-Expires` (our interval,
  with no refresher: §7.1 RECOMMENDS leaving the choice to the UAS; once a session is agreed,
  its interval and refresher, `uac` when it is us, the sender, §7.4), `Min-SE` (§7.1, §7.4:
  the largest a 422 asked for);
- a 422 to our INVITE or refresh: the same request again, once per larger `Min-SE` (§7.4);
- an INVITE or re-INVITE we receive: 422 with our `Min-SE` when its `Session-Expires` is below
  our minimum (§9); otherwise our 2xx carries `Session-Expires` with the interval (the asked
  one, lowered to ours, never under the request's `Min-SE`) and the refresher (the one asked
  for; else the UAC if it supports timers, else us, §9), and `Require: timer` when the UAC
  supports timers (§9);
- the 2xx to our request: its `Session-Expires` and refresher settle the session; none means
  no session timer (§7.2).

The session is refreshed when the 2xx of a refresh is sent or received (§10). `SessionTimers`
is one object of the user agent; it keeps each call's `SessionState` on the `Call` and owns
the two deadlines (refresh, expiry) the user agent's timer loop asks it for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from deskphone.sip import events as ev
from deskphone.sip.builder import MessageBuilder
from deskphone.sip.call import Call, CallTable, SessionState, SipCallState
from deskphone.sip.headers import parse_delta_seconds
from deskphone.sip.message import SipMessage, SipRequest, SipResponse
from deskphone.sip.transaction import ServerTransaction
from deskphone.sip.uri import SipSyntaxError

TIMER = "timer"  # the option tag (§4)
MIN_SE_FLOOR = 90  # §4, §5: no Min-SE below 90 s
MAX_422_RETRIES = 3  # each must raise Min-SE (§7.4); a proxy chain has a few at most


@dataclass(frozen=True)
class Offered:
    """What a request asked for (§4, §5): None when it carried no Session-Expires."""

    interval: int | None
    refresher: str | None  # "uac" | "uas" | None
    min_se: int
    supports_timer: bool


def supports(message: SipMessage, tag: str = TIMER) -> bool:
    return any(t.lower() == tag for t in message.headers.get_all("Supported"))


def requires(message: SipMessage, tag: str = TIMER) -> bool:
    return any(t.lower() == tag for t in message.headers.get_all("Require"))


def session_expires(message: SipMessage) -> tuple[int | None, str | None]:
    """§4: `Session-Expires: delta-seconds *(;se-params)`, refresher=uac|uas; a value of 0 or
    a refresher that is neither is a syntax error of the peer (SipSyntaxError)."""
    value = message.headers.get("Session-Expires")
    if value is None:
        return None, None
    interval = parse_delta_seconds(value, "Session-Expires")
    if interval == 0:
        raise SipSyntaxError("Session-Expires 0 is not a session interval")
    refresher = None
    for param in value.split(";")[1:]:
        name, _, given = param.partition("=")
        if name.strip().lower() == "refresher":
            refresher = given.strip().lower()
            if refresher not in ("uac", "uas"):
                raise SipSyntaxError(f"Session-Expires refresher {given.strip()[:8]!r}")
    return interval, refresher


def min_se(message: SipMessage) -> int:
    value = message.headers.get("Min-SE")
    return MIN_SE_FLOOR if value is None else max(
        MIN_SE_FLOOR, parse_delta_seconds(value, "Min-SE"))


def offered(request: SipRequest) -> Offered:
    interval, refresher = session_expires(request)
    return Offered(interval, refresher, min_se(request), supports(request))


def negotiate(offer: Offered, our_interval: int, our_min_se: int) -> tuple[int, str] | int:
    """The UAS's choice (§9): (interval, refresher) for the 2xx, or the Min-SE of a 422."""
    if offer.interval is not None and offer.interval < our_min_se:
        return our_min_se  # §9: too small for us, say how small we go
    floor = max(offer.min_se, our_min_se)
    interval = max(floor, min(our_interval, offer.interval or our_interval))
    if offer.refresher is not None:
        refresher = offer.refresher  # §9: the UAC (or a proxy) chose, the UAS keeps it
    else:
        # §9: a UAC that supports timers may refresh; one that does not cannot, so we do.
        refresher = "uac" if offer.supports_timer else "uas"
    return interval, refresher


class SessionTimers:
    """Session-Expires negotiation for every call, the refreshes, and the BYE on expiry."""

    def __init__(self, builder: MessageBuilder, calls: CallTable,
                 emit: Callable[[ev.Event], None],
                 send_reinvite: Callable[[Call, bytes, float], None],
                 send_bye: Callable[[Call, float], None]):
        self.builder = builder
        self.calls = calls
        self._emit = emit
        self._send_reinvite = send_reinvite
        self._send_bye = send_bye

    @property
    def interval(self) -> int:
        return self.builder.config.session_expires

    @property
    def our_min_se(self) -> int:
        return self.builder.config.min_se

    # -- what our requests carry (§7.1, §7.4) --------------------------------------------------
    def offer(self, call: Call, request: SipRequest) -> None:
        """Headers for an INVITE or re-INVITE we send on `call`."""
        if self.interval <= 0:
            return  # session timers off: we still accept the peer's (SUPPORTED_EXTENSIONS)
        state = call.session
        interval = max(self.interval, call.min_se_asked)
        value = str(interval)
        if state is not None:
            interval = max(state.interval, call.min_se_asked)
            value = f"{interval};refresher={'uac' if state.we_refresh else 'uas'}"
        request.headers.set("Supported", _with_timer(request.headers.get_all("Supported")))
        request.headers.set("Session-Expires", value)
        request.headers.set("Min-SE", str(max(self.our_min_se, call.min_se_asked)))

    def retry_after_422(self, call: Call, response: SipResponse) -> bool:
        """§7.4: a 422 names the smallest interval the far side accepts: True when the request
        may go again with it (it raised what we asked for), False when it is time to give up."""
        try:
            wanted = min_se(response)
        except SipSyntaxError:
            return False
        if wanted <= call.min_se_asked or call.retries_422 >= MAX_422_RETRIES:
            return False
        call.min_se_asked = wanted
        call.retries_422 += 1
        return True

    def answered(self, call: Call, response: SipResponse, now: float) -> None:
        """The 2xx of our INVITE or re-INVITE (§7.2): it sets the session, or turns it off."""
        call.session_refreshing = False
        try:
            interval, refresher = session_expires(response)
        except SipSyntaxError:
            self.builder.stats.malformed_dropped += 1
            interval, refresher = None, None
        if interval is None:
            call.session = None  # §7.2: no Session-Expires, no session expiration
            return
        # §7.2: refresher=uac is us; a 2xx without one (only a UAS that ignores §9 sends it)
        # leaves the refresh to us, the side that can be sure to do it.
        call.session = SessionState(interval, refresher != "uas", now)

    # -- what our responses carry (§9) ---------------------------------------------------------
    def refuse_too_small(self, request: SipRequest, transaction: ServerTransaction,
                         now: float, to_tag: str | None = None) -> bool:
        """422 Session Interval Too Small (§6, §9) when the request's Session-Expires is under
        our Min-SE; True when refused. A malformed Session-Expires or Min-SE raises
        SipSyntaxError (the user agent answers 400)."""
        offer = offered(request)
        if offer.interval is None or offer.interval >= self.our_min_se:
            return False
        response = self.builder.response(request, 422, to_tag=to_tag or
                                         self.builder.privacy.new_tag())
        response.headers.add("Min-SE", str(self.our_min_se))
        transaction.send_response(response, now)
        return True

    def accept(self, call: Call, request: SipRequest, response: SipResponse, now: float) -> None:
        """Our 2xx to `request` (an INVITE or re-INVITE on `call`): headers, and the session
        counts as refreshed now (§10)."""
        call.session_refreshing = False
        offer = offered(request)
        if self.interval <= 0 and offer.interval is None:
            call.session = None
            return
        chosen = negotiate(offer, self.interval if self.interval > 0 else offer.interval or 0,
                           self.our_min_se)
        if isinstance(chosen, int):  # refuse_too_small ran before: cannot happen, stay safe
            call.session = None
            return
        interval, refresher = chosen
        response.headers.set("Session-Expires", f"{interval};refresher={refresher}")
        response.headers.set("Supported", _with_timer(response.headers.get_all("Supported")))
        if offer.supports_timer:
            response.headers.set("Require", TIMER)  # §9: the UAC must know the session is timed
        call.session = SessionState(interval, refresher == "uas", now)

    # -- the deadlines (§10) -------------------------------------------------------------------
    def get_timer(self) -> float | None:
        deadlines = []
        for call in self.calls.calls.values():
            state = call.session
            if state is None or call.ended or call.state != SipCallState.CONFIRMED:
                continue
            deadlines.append(state.expires_at)
            if state.refresh_at is not None and not call.session_refreshing:
                deadlines.append(state.refresh_at)
        return min(deadlines, default=None)

    def handle_timer(self, now: float) -> None:
        for call in list(self.calls.calls.values()):
            state = call.session
            if state is None or call.ended or call.state != SipCallState.CONFIRMED:
                continue
            if state.expires_at <= now:
                # §10: no refresh came (or ours got no 2xx) in time: the session is over.
                call.session = None
                self.builder.stats.sessions_expired += 1
                self._send_bye(call, now)
                self.calls.end(call, "connection_lost", None)
                continue
            refresh_at = state.refresh_at
            if refresh_at is not None and refresh_at <= now and not call.session_refreshing:
                self._refresh(call, now)

    def _refresh(self, call: Call, now: float) -> None:
        """§10: a re-INVITE with the session as it is: the last SDP we sent, unchanged (same
        o= version: RFC 3264 §8 allows an offer that changes nothing). A re-INVITE of the
        person's already in flight is the refresh; one of the peer's pending, we wait for."""
        call.session_refreshing = True
        if call.reinvite_tx is not None or call.reoffer_tx is not None or call.local_sdp is None:
            return  # that transaction's 2xx refreshes (accept/answered clear the flag)
        call.reinvite_sdp = call.local_sdp  # what a 491's retry sends again (RFC 3261 §14.1)
        self._send_reinvite(call, call.local_sdp, now)
        call.refresh_pending = True
        self.builder.stats.session_refreshes_sent += 1


def _with_timer(tags: list[str]) -> str:
    return ", ".join([*tags, TIMER] if TIMER not in (t.lower() for t in tags) else tags)


__all__ = ["MIN_SE_FLOOR", "TIMER", "Offered", "SessionState", "SessionTimers", "negotiate",
           "offered", "session_expires"]
