"""SIP fuzz targets: the message parser, TCP framing, URIs, digest challenges, the user agent,
the message-summary body (RFC 3842).

Documented exceptions (what each parser's docstring promises): `parse_message` raises
`SipParseError`; the lazily parsed header views, `parse_uri` and `parse_name_addr` raise
`SipSyntaxError`; `StreamFramer.feed` raises `SipParseError`; `choose_challenge` returns None for
what it cannot use; `UserAgent.receive_datagram` and `handle_timer` raise nothing, and its
commands raise only `CallStateError`; `parse_message_summary` raises `MessageSummaryError`.
"""

from __future__ import annotations

from deskphone.sip import Account, CallStateError, UaConfig, UserAgent
from deskphone.sip import events as sip_events
from deskphone.sip.digest import authorization_value, choose_challenge
from deskphone.sip.message import (
    SipParseError,
    SipRequest,
    SipResponse,
    StreamFramer,
    parse_message,
)
from deskphone.sip.message_summary import MessageSummaryError, parse_message_summary
from deskphone.sip.uri import SipSyntaxError, parse_name_addr, parse_uri, split_hostport
from deskphone_tools.fuzz.harness import Reader, Target, split_messages

SIP_TOKENS = (
    b"SIP/2.0", b"INVITE", b"ACK", b"BYE", b"CANCEL", b"OPTIONS", b"REGISTER", b"REFER",
    b"NOTIFY", b"Via: ", b"SIP/2.0/UDP ", b";branch=z9hG4bK", b";rport", b";received=",
    b"From: ", b"To: ", b";tag=", b"Call-ID: ", b"CSeq: ", b"Max-Forwards: ", b"Contact: ",
    b"Content-Length: ", b"Content-Type: application/sdp", b"Record-Route: ", b"Route: ",
    b"Expires: ", b"Min-Expires: ", b"Retry-After: ", b"Require: ", b"Supported: ",
    b"WWW-Authenticate: Digest ", b"Proxy-Authenticate: ", b"realm=", b"nonce=", b"qop=auth",
    b"algorithm=SHA-256", b"sip:", b"sips:", b"tel:", b"<sip:a@127.0.0.1>", b"<tel:1>",
    b"[::1]", b"%41", b"\r\n ", b"Event: refer", b"Refer-To: ", b"Session-Expires: ",
)


def _message_views(message: SipRequest | SipResponse) -> None:
    """Touch every lazily parsed view the user agent reads (RFC 3261 §8.1.1's headers)."""
    _ = message.cseq
    _ = message.vias
    _ = message.from_
    _ = message.to
    _ = message.contacts
    for header in ("Record-Route", "Route"):
        message.name_addrs(header)
    message.serialize()


def fuzz_sip_message(data: bytes) -> None:
    message = parse_message(data)
    assert isinstance(message, SipRequest | SipResponse)
    _message_views(message)


def fuzz_sip_stream(data: bytes) -> None:
    """TCP framing: the input fed in pieces whose sizes the first bytes choose (RFC 3261 §18.3)."""
    reader = Reader(data)
    sizes = [1 + reader.byte() % 64 for _ in range(4)]
    stream = reader.rest()
    framer = StreamFramer()
    pos = 0
    turn = 0
    while pos < len(stream):
        size = sizes[turn % len(sizes)]
        for message in framer.feed(stream[pos:pos + size]):
            try:
                fuzz_sip_message(message)
            except (SipParseError, SipSyntaxError):
                pass
        pos += size
        turn += 1


def fuzz_sip_uri(data: bytes) -> None:
    text = data.decode("utf-8", "surrogateescape")   # as the message parser decodes headers
    for parse in (parse_uri, parse_name_addr):
        try:
            value = parse(text)
        except SipSyntaxError:
            continue
        str(value)
    split_hostport(text)


def fuzz_sip_digest(data: bytes) -> None:
    """A 401/407's challenges (one per line), then the Authorization we would send back."""
    text = data.decode("utf-8", "surrogateescape")
    challenge = choose_challenge(text.split("\n")[:8])
    if challenge is None:
        return
    authorization_value(challenge, username="alice", password="secret", method="REGISTER",
                        uri="sip:example.com", nc=1, cnonce="0a4f113b")


# -- a whole user agent ------------------------------------------------------------------------

PEER = ("127.0.0.1", 5070)
SEPARATOR = b"\n=====\n"
# Placeholders a seed writes where the UA's own values must go for a message to match: our
# INVITE's branch / Call-ID / From tag ($B1 $C1 $F1), our REGISTER's ($B2 $C2 $F2).
_OFFER = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
          b"m=audio 4000 RTP/AVP 0\r\n")


def _ids(datagram: bytes) -> dict[bytes, bytes]:
    message = parse_message(datagram)
    method = message.method if isinstance(message, SipRequest) else ""
    number = {"INVITE": b"1", "REGISTER": b"2"}.get(method)
    if number is None:
        return {}
    return {
        b"$B" + number: (message.top_via.branch or "").encode(),
        b"$C" + number: message.call_id.encode(),
        b"$F" + number: (message.from_.tag or "").encode(),
    }


def fuzz_sip_useragent(data: bytes) -> None:
    """A registered phone with one outgoing call fed the input's datagrams, its timers run out.

    The first byte picks how the phone reacts to an incoming INVITE (ring, answer, reject) and
    whether the transport is UDP or TCP; each further datagram arrives one second after the last.
    """
    reader = Reader(data)
    mode = reader.byte()
    transport = "tcp" if mode & 0x80 else "udp"
    account = Account(registrar=f"{PEER[0]}:{PEER[1]}", user="alice", password="secret",
                      transport=transport)
    ua = UserAgent(UaConfig(user="alice", display_name="Alice", local_host="127.0.0.1",
                            local_port=5060, transport=transport, accounts=(account,), seed=1))
    now = 1000.0
    ua.register(now)
    ua.invite(f"sip:bob@{PEER[0]}:{PEER[1]}", _OFFER, now)
    ids: dict[bytes, bytes] = {}
    for datagram, _addr in ua.datagrams_to_send(now):
        ids.update(_ids(datagram))
    for raw in split_messages(reader.rest(), SEPARATOR):
        for name, value in ids.items():
            raw = raw.replace(name, value)
        now += 1.0
        ua.receive_datagram(raw, PEER, now)
        _react(ua, mode, now)
    # Run the transaction timers out (B/F/H/J/K all end within 64*T1 = 32 s, RFC 3261 §17);
    # registration refreshes go on for ever and are not the point here.
    end = now + 64 * 0.5 + 5.0
    for _ in range(64):
        deadline = ua.get_timer()
        if deadline is None or deadline > end:
            break
        now = max(now, deadline)
        ua.handle_timer(now)
        _react(ua, mode, now)
        ua.datagrams_to_send(now)


SUMMARY_TOKENS = (b"Messages-Waiting: ", b"yes", b"no", b"Message-Account: ", b"sip:a@b",
                  b"Voice-Message: ", b"Fax-Message: ", b"none: ", b"2/8", b" (0/2)", b"\r\n",
                  b"\r\n\r\n", b"/", b"(", b")", b"999999", b"1000000")


def fuzz_message_summary(data: bytes) -> None:
    """RFC 3842 §5.2 bodies: a summary whose counts are within the bounds, or the error."""
    summary = parse_message_summary(data)
    assert summary.voice_new >= 0 and summary.voice_old >= 0
    for counts in summary.counts.values():
        assert max(counts.new, counts.old, counts.new_urgent, counts.old_urgent) <= 999_999


def _react(ua: UserAgent, mode: int, now: float) -> None:
    while (event := ua.next_event()) is not None:
        try:
            if isinstance(event, sip_events.IncomingCall):
                choice = mode % 3
                if choice == 0:
                    ua.ringing(event.call_id, now)
                elif choice == 1:
                    ua.answer(event.call_id, _OFFER, now)
                else:
                    ua.reject(event.call_id, 486, now)
            elif isinstance(event, sip_events.Reoffer) and mode & 0x40:
                ua.answer_reoffer(event.call_id, _OFFER, now)
            elif isinstance(event, sip_events.CallAnswered) and mode & 0x20:
                ua.hangup(event.call_id, now)
        except CallStateError:
            pass
    ua.datagrams_to_send(now)


TARGETS = [
    Target("sip_message", fuzz_sip_message, (SipParseError, SipSyntaxError), max_len=8192,
           tokens=SIP_TOKENS),
    Target("sip_stream", fuzz_sip_stream, (SipParseError,), max_len=8192, tokens=SIP_TOKENS),
    Target("sip_uri", fuzz_sip_uri, (SipSyntaxError,), max_len=512, tokens=SIP_TOKENS),
    Target("sip_digest", fuzz_sip_digest, (), max_len=1024, tokens=SIP_TOKENS),
    Target("message_summary", fuzz_message_summary, (MessageSummaryError,), max_len=9000,
           tokens=SUMMARY_TOKENS),
    Target("sip_useragent", fuzz_sip_useragent, (), max_len=16384,
           tokens=SIP_TOKENS + (SEPARATOR, b"$B1", b"$C1", b"$F1", b"$B2", b"$C2", b"$F2")),
]
