"""A record-routing SIP relay that puts itself in the media path: the network a hostile test needs.

Theory of operation
-------------------
The relay is a stateless proxy (RFC 3261 §16.11) on one loopback UDP port, with one twist: every
SDP body it forwards is rewritten so that media flows through a per-call media relay it owns
(`CallMedia`). What the media relay does with the packets is the test's choice: forward them with
loss and jitter (lossy.py) or terminate ZRTP on each leg and re-encrypt (mitm.py).

* A phone calls the relay by URI (`sip:ext202@127.0.0.1:<relay port>`, e.g. a speed dial). A
  request whose Request-URI names the relay itself is an initial request for the configured
  target: the Request-URI's host and port are replaced by the target's (§16.5 "request targets"
  chosen by local policy) and the relay adds `Record-Route: <sip:relay;lr>` (§16.6 step 4), so
  BYE, ACK and re-INVITEs in the dialog come back through it too (loose routing, RFC 3261 §16.12).
* A request whose top Route names the relay has that Route removed (§16.4) and goes to the next
  Route or the Request-URI (§16.6 step 7).
* The relay adds its own Via (§16.6 step 8) with a branch derived from the incoming branch, so a
  retransmission, the CANCEL and the ACK for a non-2xx response of the same INVITE all get the
  same branch (§16.11). The branch also records which side sent the request, so the SDP of the
  response can be attributed to the other side.
* Responses must carry the relay's Via on top (§16.7 step 3); it is removed and the response goes
  to the next Via's received/rport address (§18.2.2, RFC 3581 §4).
* Which side sent an in-dialog request is known from the From tag: the caller's tag is remembered
  from the initial INVITE.

Per call, `media_factory(call_id)` makes the `CallMedia`; `sdp_from(sender, sdp)` returns what the
other side should see. Calls are forgotten `linger` seconds after they end (BYE answered, or a
final error response to the initial INVITE), which lets retransmissions still find them.

Signalling can be impaired like the media: each datagram the relay forwards crosses an
`ImpairedPath` for its direction. The relay itself never retransmits (stateless): the phones'
own transaction timers (RFC 3261 §17) must recover what the network loses.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from deskphone.sdp import Connection, SdpError, SessionDescription
from deskphone.sip.message import (
    MAGIC_COOKIE,
    SipParseError,
    SipRequest,
    SipResponse,
    Via,
    parse_message,
    parse_via,
)
from deskphone.sip.uri import SipSyntaxError, SipUri, parse_name_addr

from .impairment import CLEAN, ImpairedPath, Impairment
from .udp import LOOPBACK, Addr, UdpPort

log = logging.getLogger(__name__)

BRANCH_PREFIX = MAGIC_COOKIE + "-dprelay-"  # RFC 3261 §8.1.1.7: our branches start with the cookie
DEFAULT_MAX_FORWARDS = 70  # RFC 3261 §8.1.1.6
MAX_CALLS = 32


class Side(enum.Enum):
    CALLER = "caller"
    CALLEE = "callee"

    @property
    def other(self) -> Side:
        return Side.CALLEE if self is Side.CALLER else Side.CALLER


_SIDE_CODE = {Side.CALLER: "c", Side.CALLEE: "e", None: "x"}
_CODE_SIDE = {v: k for k, v in _SIDE_CODE.items()}


class CallMedia(Protocol):
    """The media half of a relayed call."""

    def sdp_from(self, sender: Side, sdp: SessionDescription) -> SessionDescription:
        """`sender`'s SDP, rewritten for the other side (media pointed at the relay)."""

    def close(self) -> None: ...


@dataclass
class SipRelayStats:
    received: int = 0
    forwarded_requests: int = 0
    forwarded_responses: int = 0
    dropped_malformed: int = 0
    dropped_not_ours: int = 0       # a response whose top Via is not the relay's (§16.7 step 3)
    dropped_unroutable: int = 0
    answered_locally: int = 0       # 483 Too Many Hops, 503 when the call table is full
    sdp_rewritten: int = 0
    sdp_unparsed: int = 0
    keepalives: int = 0


@dataclass
class RelayedCall:
    call_id: str
    caller_tag: str
    media: CallMedia
    answered: bool = False
    ended: bool = False
    forget: asyncio.TimerHandle | None = field(default=None, repr=False)


class SipRelay:
    """A stateless, record-routing SIP proxy on loopback that sends each call's media through
    `media_factory(call_id)`; initial requests addressed to the relay go to `target`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, target: Addr,
                 media_factory: Callable[[str], CallMedia], *,
                 impairment: Impairment = CLEAN, port: int = 0, linger: float = 2.0,
                 max_calls: int = MAX_CALLS) -> None:
        self.loop = loop
        self.target = target
        self.media_factory = media_factory
        self.impairment = impairment
        self.linger = linger
        self.max_calls = max_calls
        self.stats = SipRelayStats()
        self.calls: dict[str, RelayedCall] = {}
        self.ended_calls: list[RelayedCall] = []  # most recent last, for inspection by tests
        self._paths: dict[str, ImpairedPath] = {}
        self._port = UdpPort(loop, self._datagram, LOOPBACK, port)
        self.address: Addr = self._port.address

    @property
    def uri_host(self) -> str:
        return f"{self.address[0]}:{self.address[1]}"

    def uri_for(self, user: str) -> str:
        """The URI a phone dials to reach `target` through the relay."""
        return f"sip:{user}@{self.uri_host}"

    def close(self) -> None:
        for call in list(self.calls.values()):
            self._forget(call)
        self._port.close()

    # -- receive --------------------------------------------------------------------------------

    def _datagram(self, data: bytes, addr: Addr) -> None:
        self.stats.received += 1
        if not data.strip(b"\r\n"):
            self.stats.keepalives += 1  # RFC 5626 §3.5.1 CRLF keep-alive: nothing to relay
            return
        try:
            message = parse_message(data)
            if isinstance(message, SipRequest):
                self._request(message, addr)
            elif isinstance(message, SipResponse):
                self._response(message)
        except (SipParseError, SipSyntaxError, ValueError, IndexError) as exc:
            self.stats.dropped_malformed += 1
            log.debug("relay %s: dropped a malformed message from %s: %s", self.uri_host, addr,
                      exc)

    def _request(self, request: SipRequest, addr: Addr) -> None:
        _stamp_received(request, addr)
        max_forwards = request.headers.get("Max-Forwards")
        hops = int(max_forwards) if max_forwards and max_forwards.isdigit() else \
            DEFAULT_MAX_FORWARDS
        if hops <= 0:  # §16.3 step 3
            if request.method != "ACK":
                self._answer(request, 483, "Too Many Hops")
            return
        request.headers.set("Max-Forwards", str(min(hops, 255) - 1))  # §16.6 step 3

        routes = request.headers.get_all("Route")
        if routes and self._is_us(parse_name_addr(routes[0]).uri):
            routes = routes[1:]  # §16.4: a Route naming us is consumed here
            request.headers.remove("Route")
            for value in routes:
                request.headers.add("Route", value)
        initial = not routes and self._is_us(request.uri)
        if initial:
            assert isinstance(request.uri, SipUri)
            request.uri = replace(request.uri, host=self.target[0], port=self.target[1])

        call, side = self._call_for(request)
        if call is None and request.method == "INVITE" and not request.to.tag:
            if len(self.calls) >= self.max_calls:
                self._answer(request, 503, "Service Unavailable")
                return
            call = RelayedCall(request.call_id, request.from_.tag or "",
                               self.media_factory(request.call_id))
            self.calls[call.call_id] = call
            side = Side.CALLER
        if request.method == "INVITE" and not request.to.tag:
            # §16.6 step 4: stay on the path of the dialog (before the body: it is the same).
            rr = f"<sip:{self.uri_host};lr>"
            if rr not in request.headers.get_all("Record-Route"):
                request.headers.add_first("Record-Route", rr)
        if call is not None and side is not None:
            self._rewrite_sdp(request, call, side)

        destination = _next_hop(routes, request)
        if destination is None:
            self.stats.dropped_unroutable += 1
            return
        request.headers.add_first("Via", str(Via(
            "UDP", self.address[0], self.address[1],
            (("branch", self._branch(request, side)), ("rport", None)))))
        self.stats.forwarded_requests += 1
        self._send(request.serialize(), destination, side)

    def _response(self, response: SipResponse) -> None:
        vias = response.headers.get_all("Via")
        top = parse_via(vias[0]) if vias else None
        branch = top.branch if top is not None else None
        if top is None or not self._is_us_hostport(top.host, top.port) or branch is None or \
                not branch.startswith(BRANCH_PREFIX) or len(vias) < 2:
            self.stats.dropped_not_ours += 1  # §16.7 step 3 (and §16.11: no Via left: drop)
            return
        request_side = _CODE_SIDE.get(branch[len(BRANCH_PREFIX):len(BRANCH_PREFIX) + 1])
        response.headers.remove("Via")
        for value in vias[1:]:
            response.headers.add("Via", value)
        call = self.calls.get(response.call_id)
        sender = request_side.other if request_side is not None else None
        method = response.cseq.method
        if call is not None and sender is not None:
            self._rewrite_sdp(response, call, sender)
            if method == "INVITE" and 200 <= response.status < 300:
                call.answered = True
            elif method == "INVITE" and response.status >= 300 and not call.answered:
                self._end(call)  # the call attempt failed: no dialog (§13.2.2.3)
            elif method == "BYE" and 200 <= response.status < 300:
                self._end(call)
        self.stats.forwarded_responses += 1
        self._send(response.serialize(), _reply_address(parse_via(vias[1])), sender)

    # -- helpers --------------------------------------------------------------------------------

    def _call_for(self, request: SipRequest) -> tuple[RelayedCall | None, Side | None]:
        call = self.calls.get(request.call_id)
        if call is None:
            return None, None
        side = Side.CALLER if (request.from_.tag or "") == call.caller_tag else Side.CALLEE
        return call, side

    def _rewrite_sdp(self, message: SipRequest | SipResponse, call: RelayedCall,
                     sender: Side) -> None:
        content_type = (message.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if not message.body or content_type != "application/sdp":
            return
        try:
            sdp = SessionDescription.parse(message.body)
            message.body = call.media.sdp_from(sender, sdp).to_bytes()
        except (SdpError, ValueError) as exc:
            # Forwarded as it is: the media then bypasses the relay, which the test will notice.
            self.stats.sdp_unparsed += 1
            log.warning("relay %s: could not rewrite SDP of call %s: %s", self.uri_host,
                        call.call_id, exc)
            return
        self.stats.sdp_rewritten += 1

    def _branch(self, request: SipRequest, side: Side | None) -> str:
        """§16.11: the same incoming transaction always maps to the same outgoing branch."""
        top = request.top_via
        incoming = top.branch or ""
        if incoming.startswith(MAGIC_COOKIE):
            seed = incoming
        else:  # RFC 2543 peer: derive from what identifies its transaction
            seed = f"{top.host}:{top.port}|{request.call_id}|{request.cseq.number}|{request.uri}"
        if request.method == "ACK" and not incoming.startswith(MAGIC_COOKIE):
            seed += "|ACK"
        digest = hashlib.sha256(seed.encode("utf-8", "surrogateescape")).hexdigest()[:20]
        return f"{BRANCH_PREFIX}{_SIDE_CODE[side]}{digest}"

    def _is_us(self, uri: object) -> bool:
        return isinstance(uri, SipUri) and self._is_us_hostport(uri.host, uri.port)

    def _is_us_hostport(self, host: str, port: int | None) -> bool:
        return host == self.address[0] and (port or 5060) == self.address[1]

    def _send(self, data: bytes, addr: Addr, sender: Side | None) -> None:
        name = f"sip from {sender.value if sender else 'unknown'}"
        path = self._paths.get(name)
        if path is None:
            path = self._paths[name] = self.impairment.path(name)
        self._port.send_through(path, data, addr)

    def _answer(self, request: SipRequest, status: int, reason: str) -> None:
        """A stateless final response (§16.3, §8.2.6): Via, From, To (+tag), Call-ID, CSeq."""
        response = SipResponse(status=status, reason=reason)
        for value in request.headers.raw("Via"):
            response.headers.add("Via", value)
        for name in ("From", "To", "Call-ID", "CSeq"):
            field_value = request.headers.get(name)
            if field_value is not None:
                if name == "To" and ";tag=" not in field_value:
                    tag = hashlib.sha256(request.call_id.encode()).hexdigest()[:10]
                    field_value += ";tag=" + tag  # §8.2.6.2: a final response carries a To tag
                response.headers.add(name, field_value)
        self.stats.answered_locally += 1
        self._port.send(response.serialize(), _reply_address(request.top_via))

    def _end(self, call: RelayedCall) -> None:
        if call.ended:
            return
        call.ended = True
        # Keep the call a while: retransmitted BYE/200 and the ACK still need their routing.
        call.forget = self.loop.call_later(self.linger, self._forget, call)

    def _forget(self, call: RelayedCall) -> None:
        if call.forget is not None:
            call.forget.cancel()
            call.forget = None
        if self.calls.get(call.call_id) is call:
            del self.calls[call.call_id]
            self.ended_calls = (self.ended_calls + [call])[-8:]
        with contextlib.suppress(Exception):
            call.media.close()


def _stamp_received(request: SipRequest, addr: Addr) -> None:
    """§18.2.1 received=, RFC 3581 §4 rport=: where the response must go back to."""
    values = request.headers.get_all("Via")
    top = parse_via(values[0])
    params = [(k, v) for k, v in top.params if k.lower() not in ("received", "rport")]
    if top.host != addr[0]:
        params.append(("received", addr[0]))
    if top.param("rport") is not None:
        params.append(("rport", str(addr[1])))
    request.headers.remove("Via")
    request.headers.add("Via", str(Via(top.transport, top.host, top.port, tuple(params))))
    for value in values[1:]:
        request.headers.add("Via", value)


def _reply_address(via: Via) -> Addr:
    """§18.2.2 and RFC 3581 §4: received/rport when present, else the sent-by."""
    host = via.param("received") or via.host
    rport = via.param("rport")
    if rport:
        return host, int(rport)
    return host, via.port or 5060


def _next_hop(routes: list[str], request: SipRequest) -> Addr | None:
    """§16.6 step 7 / §16.12: the next Route if any, else the Request-URI."""
    uri = parse_name_addr(routes[0]).uri if routes else request.uri
    if not isinstance(uri, SipUri):
        return None
    maddr = uri.param("maddr")
    return (maddr or uri.host).strip("[]"), uri.port or 5060


def redirect_audio(sdp: SessionDescription, relay_host: str, relay_port: int
                   ) -> tuple[SessionDescription, Addr | None]:
    """Point the first audio stream at the relay; returns the rewritten SDP and where the sender
    really receives its audio. Other streams are disabled (port 0, RFC 3264 §8.2) so nothing can
    bypass the relay; an `a=rtcp` port would too, so it is removed (RFC 3605)."""
    remote: Addr | None = None
    media = []
    for m in sdp.media:
        if remote is None and m.media == "audio" and m.port != 0:
            connection = sdp.media_connection(m)
            if connection is not None and not connection.is_unspecified:
                remote = (connection.address, m.port)
            attributes = tuple(a for a in m.attributes if a.name.lower() != "rtcp")
            media.append(replace(
                m, port=relay_port, attributes=attributes,
                connection=Connection("IP4", relay_host) if m.connection is not None else None))
        else:
            media.append(replace(m, port=0))
    session_connection = sdp.connection
    if session_connection is not None:
        session_connection = Connection("IP4", relay_host)
    return replace(sdp, connection=session_connection, media=tuple(media)), remote
