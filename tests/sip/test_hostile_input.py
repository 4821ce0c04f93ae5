"""Issue 21 (SIP side): what an independent fuzz run found, each kept as a regression test.

Given these bytes at this time, expect this response or this documented error; everything a
remote party creates ends and is freed by the RFC 3261 timers; nothing escapes the sans-IO
surface as an exception.
"""

from __future__ import annotations

import asyncio

import pytest

from deskphone.sip import events as ev
from deskphone.sip.message import SipParseError, SipResponse, StreamFramer, parse_message
from deskphone.sip.registration import Account
from deskphone.sip.transport import SipEndpoint
from deskphone.sip.useragent import UaConfig, UserAgent
from tests.sip.pair import Network, drain

US = ("192.0.2.1", 5060)
PEER = ("192.0.2.9", 5070)
SDP = b"v=0\r\no=p 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
PAST_ALL_TIMERS = 200.0  # Timer B/F/H/J/L/M are 64*T1 = 32 s; D 32 s; I/K T4 = 5 s


def _ua(**options: object) -> UserAgent:
    return UserAgent(UaConfig(user="u", display_name="", local_host=US[0], local_port=US[1],
                              **options))  # type: ignore[arg-type]


def _request(method: str, call_id: str, *, branch: str = "", cseq: int = 1, extra: str = "",
             body: bytes = b"", to_tag: str = "") -> bytes:
    branch = branch or f"z9hG4bK{call_id}{method}"
    to = f"<sip:u@{US[0]}>" + (f";tag={to_tag}" if to_tag else "")
    head = (f"{method} sip:u@{US[0]}:{US[1]} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {PEER[0]}:{PEER[1]};branch={branch}\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:p@{PEER[0]}>;tag=pt\r\nTo: {to}\r\n"
            f"Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n"
            f"Contact: <sip:p@{PEER[0]}:{PEER[1]}>\r\n{extra}")
    if body:
        head += "Content-Type: application/sdp\r\n"
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def _invite(call_id: str, extra: str = "") -> bytes:
    return _request("INVITE", call_id, extra=extra, body=SDP)


def _responses(ua: UserAgent, now: float) -> list[SipResponse]:
    out = []
    for data, _addr in ua.datagrams_to_send(now):
        message = parse_message(data)
        if isinstance(message, SipResponse):
            out.append(message)
    return out


def _run_out_timers(ua: UserAgent, now: float, until: float) -> float:
    while (deadline := ua.get_timer()) is not None and deadline <= until:
        now = max(now, deadline)
        ua.handle_timer(now)
        ua.datagrams_to_send(now)
    return until


# -- item 2: what a remote party creates ends and is freed -----------------------------------

def test_busy_reject_frees_the_call_after_timer_h():
    ua = _ua()
    ua.receive_datagram(_invite("busy-1"), PEER, 0.0)
    assert isinstance(ua.next_event(), ev.IncomingCall)
    ua.reject("busy-1", 486, 0.0)
    assert [r.status for r in _responses(ua, 0.0)] == [100, 486]
    _run_out_timers(ua, 0.0, PAST_ALL_TIMERS)  # the ACK never comes: Timer H (§17.2.1)
    assert ua.calls == {} and ua.transactions == {} and ua.get_timer() is None


def test_cancel_and_487_free_the_call_once_acked():
    ua = _ua()
    ua.receive_datagram(_invite("cancel-1"), PEER, 0.0)
    ua.receive_datagram(_request("CANCEL", "cancel-1", branch="z9hG4bKcancel-1INVITE"), PEER, 0.1)
    assert [r.status for r in _responses(ua, 0.1)] == [100, 200, 487]
    ua.receive_datagram(_request("ACK", "cancel-1", branch="z9hG4bKcancel-1INVITE",
                                 to_tag=ua.calls["cancel-1"].local_tag), PEER, 0.2)
    _run_out_timers(ua, 0.2, PAST_ALL_TIMERS)
    assert [type(e) for e in drain(ua)] == [ev.IncomingCall, ev.CallEnded]
    assert ua.calls == {} and ua.transactions == {}


@pytest.mark.parametrize(("method", "header"), [("OPTIONS", 'Require: "x'),
                                                ("INVITE", 'Accept: "x')])
def test_header_broken_after_the_transaction_was_stored_gets_400_and_is_freed(method, header):
    ua = _ua()
    body = SDP if method == "INVITE" else b""
    ua.receive_datagram(_request(method, "q-1", extra=header + "\r\n", body=body), PEER, 0.0)
    responses = _responses(ua, 0.0)
    assert [r.status for r in responses] == [400]
    assert "unterminated quoted string" in responses[0].reason
    assert drain(ua) == []  # no IncomingCall for a request we refused
    _run_out_timers(ua, 0.0, PAST_ALL_TIMERS)
    assert ua.calls == {} and ua.transactions == {}


def test_soak_5000_invites_with_fresh_call_ids_leave_nothing_behind():
    """The flood of issue 16 in miniature: fresh Call-IDs, rejected busy (with and without
    the ACK), cancelled, broken after storage, and OPTIONS, 50 per simulated second; once every
    timer ran out, no call and no transaction is left. The stateless caps (test_flood_caps.py,
    the strangers' share and its per-source limit) are lifted: this is about the stateful paths
    freeing what they hold."""
    ua = _ua(max_server_transactions=100_000, max_server_transactions_per_source=100_000)
    now = 0.0
    finals: dict[int, int] = {}
    for i in range(5000):
        call_id = f"soak-{i}"
        kind = i % 5
        if kind == 3:
            ua.receive_datagram(_request("OPTIONS", call_id, extra='Require: "x\r\n'), PEER, now)
        elif kind == 4:
            ua.receive_datagram(_request("OPTIONS", call_id), PEER, now)
        else:
            ua.receive_datagram(_invite(call_id), PEER, now)
            if kind == 2:
                ua.receive_datagram(
                    _request("CANCEL", call_id, branch=f"z9hG4bK{call_id}INVITE"), PEER, now)
            else:
                ua.reject(call_id, 486, now)
            if kind in (0, 2):  # the ACK for the non-2xx final (§17.1.1.3)
                ua.receive_datagram(_request("ACK", call_id, branch=f"z9hG4bK{call_id}INVITE",
                                             to_tag=ua.calls[call_id].local_tag), PEER, now)
        for data, _addr in ua.datagrams_to_send(now):  # start line and CSeq, unparsed
            status = int(data[8:11])
            if status >= 200 and b" CANCEL\r\n" not in data:
                finals[status] = finals.get(status, 0) + 1
        while ua.next_event() is not None:
            pass
        if i % 50 == 49:
            now = _run_out_timers(ua, now, now + 1.0)
    _run_out_timers(ua, now, now + PAST_ALL_TIMERS)
    assert finals == {486: 2000, 487: 1000, 400: 1000, 200: 1000}
    assert ua.calls == {} and ua.transactions == {} and ua.get_timer() is None


# -- item 3: no exception escapes receive_datagram / handle_timer ----------------------------

def _call_answered_with(extra: str) -> tuple[UserAgent, str, list[object]]:
    ua = _ua()
    call_id = ua.invite(f"sip:p@{PEER[0]}:{PEER[1]}", SDP, 0.0)
    invite = parse_message(ua.datagrams_to_send(0.0)[0][0])
    via = invite.headers.get("Via")
    ok = (f"SIP/2.0 200 OK\r\nVia: {via}\r\nFrom: {invite.headers.get('From')}\r\n"
          f"To: {invite.headers.get('To')};tag=pt\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n"
          f"{extra}Content-Type: application/sdp\r\nContent-Length: {len(SDP)}\r\n\r\n")
    ua.receive_datagram(ok.encode() + SDP, PEER, 0.1)
    return ua, call_id, drain(ua)


@pytest.mark.parametrize("extra", ["Contact: <tel:1>\r\n",
                                   "Contact: <sip:p@192.0.2.9>\r\nRecord-Route: <tel:1>\r\n"])
def test_2xx_with_a_non_sip_contact_or_record_route_fails_the_call(extra):
    ua, call_id, events = _call_answered_with(extra)
    assert events == [ev.CallEnded(call_id, "failed", 502)]
    ua.hangup(call_id, 0.2)  # used to raise "cannot send to non-SIP URI"
    _run_out_timers(ua, 0.2, PAST_ALL_TIMERS)  # and Timer M's / L's ends with it
    assert ua.calls == {} and ua.transactions == {}


@pytest.mark.parametrize("extra", ["Record-Route: <tel:1>\r\n", "Contact: <tel:1>\r\n"])
def test_invite_whose_dialog_could_not_be_reached_gets_400(extra):
    ua = _ua()
    data = _invite("tel-1").replace(f"Contact: <sip:p@{PEER[0]}:{PEER[1]}>\r\n".encode(),
                                    extra.encode())
    ua.receive_datagram(data, PEER, 0.0)
    responses = _responses(ua, 0.0)
    assert [r.status for r in responses] == [400] and "SIP or SIPS URI" in responses[0].reason
    assert drain(ua) == []


def _registering(expires: int = 3600) -> tuple[UserAgent, object]:
    ua = _ua(accounts=(Account(registrar=f"{PEER[0]}:{PEER[1]}", user="u", password="pw",
                               expires=expires),))
    ua.register(0.0)
    return ua, parse_message(ua.datagrams_to_send(0.0)[-1][0])


def _answer(request: object, status: str, extra: str) -> bytes:
    headers = request.headers  # type: ignore[attr-defined]
    return (f"SIP/2.0 {status}\r\nVia: {headers.get('Via')}\r\nFrom: {headers.get('From')}\r\n"
            f"To: {headers.get('To')};tag=r\r\nCall-ID: {headers.get('Call-ID')}\r\n"
            f"CSeq: {headers.get('CSeq')}\r\n{extra}Content-Length: 0\r\n\r\n").encode("latin-1")


def test_challenge_with_a_non_utf8_realm_is_answered_with_those_bytes():
    ua, register = _registering()
    challenge = 'WWW-Authenticate: Digest realm="\xff", nonce="n1"\r\n'
    ua.receive_datagram(_answer(register, "401 Unauthorized", challenge), PEER, 0.1)
    retry = ua.datagrams_to_send(0.1)[-1][0]
    assert b'realm="\xff"' in retry and b"Authorization: Digest" in retry


@pytest.mark.parametrize(("status", "extra", "reason"), [
    ("503 Service Unavailable", "Retry-After: \u00b2\r\n", "503 Service Unavailable"),
    ("423 Interval Too Brief", "Min-Expires: \u00b2\r\n", "423 without a usable Min-Expires"),
])
def test_unicode_digits_in_retry_after_and_min_expires_are_not_numbers(status, extra, reason):
    ua, register = _registering()
    ua.receive_datagram(_answer(register, status, extra).replace(
        b"\xb2", "\u00b2".encode()), PEER, 0.1)
    (state,) = [e for e in drain(ua) if isinstance(e, ev.RegistrationState)]
    assert (state.state, state.reason, state.retry_after) == ("failed", reason, None)


class _FailingOnce(UserAgent):
    def __init__(self, config: UaConfig) -> None:
        super().__init__(config)
        self.failures = 1

    def handle_timer(self, now: float) -> None:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("a bug in the core")
        super().handle_timer(now)


def test_an_exception_in_handle_timer_does_not_stop_the_sip_timer():
    async def main() -> None:
        ua = _FailingOnce(UaConfig(user="u", display_name="", local_host="127.0.0.1",
                                   local_port=0))
        endpoint = SipEndpoint(ua)
        await endpoint.start()
        try:
            call_id = endpoint.command(ua.probe, "127.0.0.1:9", timeout=0.05)
            async with asyncio.timeout(10):
                result = await endpoint.events.get()
            assert result == ev.ProbeResult(call_id, "127.0.0.1:9", None)
            assert endpoint.stats.core_errors == 1
        finally:
            await endpoint.close()

    asyncio.run(main())


# -- item 4: numbers are ASCII digits of bounded length --------------------------------------

def _options(**replace: str) -> bytes:
    data = _request("OPTIONS", "n-1").decode()
    for old, new in replace.items():
        data = data.replace(old, new)
    return data.encode()


@pytest.mark.parametrize("data", [
    _options(**{"CSeq: 1 ": "CSeq: \u00b2 "}),
    _options(**{"CSeq: 1 ": "CSeq: " + "1" * 4301 + " "}),
    _options(**{"Max-Forwards: 70": "Max-Forwards: \u00b2"}),
    _options(**{"Max-Forwards: 70": "Max-Forwards: " + "7" * 4301}),
    _options(**{"Content-Length: 0": "Content-Length: \u00b2"}),
    _options(**{"Content-Length: 0": "Content-Length: " + "0" * 4301}),
    _options(**{"Max-Forwards: 70": "Max-Forwards: 70\r\nExpires: \u00b2"}),
    _options(**{"Max-Forwards: 70": "Max-Forwards: 70\r\nExpires: " + "1" * 4301}),
    _options(**{f"{PEER[0]}:{PEER[1]};": f"{PEER[0]}:\u00b2;"}),
    _options(**{";branch": ";rport=\u00b2;branch"}),
    _options(**{f"Contact: <sip:p@{PEER[0]}:{PEER[1]}>": f"Contact: <sip:p@{PEER[0]}:\u00b2>"}),
    _options(**{f"OPTIONS sip:u@{US[0]}:{US[1]}": f"OPTIONS sip:u@{US[0]}:\u00b2"}),
], ids=["cseq-unicode", "cseq-4301", "maxfwd-unicode", "maxfwd-4301", "clen-unicode",
        "clen-4301", "expires-unicode", "expires-4301", "via-port", "via-rport", "uri-port",
        "request-uri-port"])
def test_numbers_that_are_not_ascii_digits_are_parse_errors(data):
    with pytest.raises(SipParseError) as raised:
        parse_message(data)
    assert raised.value.status == 400
    ua = _ua()
    ua.receive_datagram(data, PEER, 0.0)  # answered 400 or dropped, counted either way
    assert ua.stats.malformed_answered + ua.stats.malformed_dropped == 1


def test_status_code_in_unicode_digits_is_not_a_response():
    data = _request("OPTIONS", "s-1").replace(b"OPTIONS sip:u@192.0.2.1:5060 SIP/2.0",
                                              "SIP/2.0 \u0662\u0660\u0660 OK".encode())
    with pytest.raises(SipParseError):
        parse_message(data)


@pytest.mark.parametrize("length", ["1" * 4301, "\u00b2"])
def test_stream_framer_refuses_a_content_length_that_is_not_a_bounded_ascii_number(length):
    head = _request("OPTIONS", "f-1").replace(b"Content-Length: 0", f"l: {length}".encode())
    with pytest.raises(SipParseError, match="stream Content-Length"):
        StreamFramer().feed(head)


# -- item 5: framing and folding stay linear and bounded -------------------------------------

def test_header_folded_over_5000_lines_is_refused_as_one_long_line():
    data = _request("OPTIONS", "fold-1", extra="Subject: a\r\n" + " b\r\n" * 5000)
    with pytest.raises(SipParseError, match="header line longer than 8192"):
        parse_message(data)


def test_message_of_5000_headers_is_refused_at_the_header_limit():
    data = _request("OPTIONS", "many-1", extra="".join(f"X-{i}: v\r\n" for i in range(5000)))
    assert len(data) > 50_000
    with pytest.raises(SipParseError, match="header fields"):
        parse_message(data)


def test_stream_framer_fed_one_byte_at_a_time():
    """Byte-at-a-time feeding frames exactly the same messages (keep-alives skipped), and an
    unterminated 65 KB header is refused as soon as it passes the limit, with the buffer never
    holding more than that."""
    messages = [_request("OPTIONS", f"b-{i}") for i in range(3)]
    stream = b"\r\n\r\n".join(messages)
    framer = StreamFramer()
    out: list[bytes] = []
    for i in range(len(stream)):
        out += framer.feed(stream[i : i + 1])
    assert out == messages
    flood = b"OPTIONS sip:u@192.0.2.1 SIP/2.0\r\nX: " + b"a" * 70_000
    framer = StreamFramer()
    with pytest.raises(SipParseError, match="exceeds the message size limit"):
        for i in range(len(flood)):
            framer.feed(flood[i : i + 1])
    assert i == framer.limits.max_message_bytes  # refused at the first byte over the limit


# -- item 6: a re-INVITE we cannot accept ----------------------------------------------------

OFFER = b"v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
ANSWER = b"v=0\r\no=bob 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n"


def test_reoffer_we_cannot_accept_gets_488_and_the_session_stays():
    net = Network()
    alice, bob = net.agent("alice", 5061), net.agent("bob", 5062)
    call_id = alice.invite("sip:bob@127.0.0.1:5062", OFFER, net.now)
    net.pump()
    bob.answer(call_id, ANSWER, net.now)
    net.pump()
    drain(alice), drain(bob)
    alice.reinvite(call_id, b"v=0\r\nnot an offer\r\n", net.now)
    net.pump()
    assert drain(bob) == [ev.Reoffer(call_id, b"v=0\r\nnot an offer\r\n")]
    bob.reject_reoffer(call_id, 488, net.now)  # RFC 3261 §14.2
    net.pump()
    assert drain(alice) == [ev.ReofferFailed(call_id, 488)]
    assert alice.calls[call_id].state == bob.calls[call_id].state == "confirmed"
    bob.reinvite(call_id, ANSWER, net.now)  # no longer pending: not glare (§14.1)
    net.pump()
    assert drain(alice) == [ev.Reoffer(call_id, ANSWER)]
    alice.answer_reoffer(call_id, OFFER, net.now)
    net.advance(PAST_ALL_TIMERS)
    assert drain(bob) == [ev.CallAnswered(call_id, OFFER)] and drain(alice) == []
    assert not alice.calls[call_id].ended and not bob.calls[call_id].ended
