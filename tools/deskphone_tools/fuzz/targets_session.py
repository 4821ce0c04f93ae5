"""Session-level fuzz targets: SDP offer/answer, ZRTP packets and sessions, the control socket.

Documented exceptions: `SessionDescription.parse` and `OfferAnswer` raise `SdpError`;
`decode_packet` / `parse_message` raise `MalformedPacket`; `ZrtpSession.receive_datagram` and
`handle_timer` raise nothing; the control server answers every line with one JSON reply.
"""

from __future__ import annotations

import json

from deskphone.control import ControlError, ControlServer
from deskphone.media.codecs import create_codec
from deskphone.sdp import LocalMedia, OfferAnswer, SdpError, SessionDescription
from deskphone.zrtp import CacheMismatch, Secure, ZrtpCache, ZrtpConfig, ZrtpSession, packets
from deskphone_tools.fuzz.harness import Reader, Target

SDP_TOKENS = (
    b"v=0\r\n", b"o=- 1 1 IN IP4 127.0.0.1\r\n", b"s=-\r\n", b"c=IN IP4 ", b"c=IN IP6 ",
    b"t=0 0\r\n", b"m=audio ", b" RTP/AVP ", b" RTP/SAVP ", b"m=video ", b"a=rtpmap:",
    b"a=fmtp:", b" opus/48000/2", b" telephone-event/8000", b" PCMU/8000", b" G722/8000",
    b"a=ptime:", b"a=sendonly", b"a=recvonly", b"a=inactive", b"a=rtcp-mux", b"a=zrtp-hash:",
    b"maxaveragebitrate=", b"useinbandfec=1", b"cbr=", b"0.0.0.0", b"/127/3", b"\r\n",
)


def fuzz_sdp(data: bytes) -> None:
    """The body of an INVITE: parsed, written back, answered, and the agreed codec built."""
    try:
        parsed = SessionDescription.parse(data)
    except SdpError:
        parsed = None
    if parsed is not None:
        # RFC 4566 §5: what we accept we can write back, and it reads the same
        assert SessionDescription.parse(parsed.to_bytes()) == parsed
    _, negotiated = OfferAnswer(session_id=1).create_answer(
        data, LocalMedia(address="127.0.0.1", port=4000))
    codec = negotiated.codec
    assert negotiated.rejected or codec is not None
    if codec is not None and codec.name != "opus":
        # the media stream builds what was agreed (Opus needs PyAV: too slow per input; its
        # fmtp is checked at negotiation, tests/sdp/test_numbers.py)
        create_codec(codec)


def fuzz_zrtp_packet(data: bytes) -> None:
    """A datagram as received, and the same bytes as a message in a packet with a good CRC
    (so that the message parsers are reached past the CRC check, RFC 6189 §5)."""
    try:
        packets.parse_message(packets.decode_packet(data).message)
    except packets.MalformedPacket:
        pass
    if len(data) < 12:
        return
    message = packets.PREAMBLE + (len(data) // 4 + 1).to_bytes(2, "big") + data[:len(data) // 4 * 4]
    parsed = packets.parse_message(packets.decode_packet(packets.encode_packet(1, 2, message))
                                   .message)
    # §5: whatever parses re-encodes to a message that parses to the same thing
    assert packets.parse_message(parsed.encode()) == parsed


def _session(name: bytes) -> ZrtpSession:
    cache = ZrtpCache(":memory:")
    config = ZrtpConfig(zid=cache.local_zid(), key_agreements=("X255",), t1=0.05, t2=0.2)
    return ZrtpSession(config, int.from_bytes(name * 4, "big"),
                       lookup_secrets=cache.lookup, store_secrets=cache.store)


def fuzz_zrtp_session(data: bytes) -> None:
    """Two sessions on a wire an attacker controls, one step per input byte: deliver, drop,
    replay, corrupt (with a fixed CRC) or inject a packet, or let a timer fire (RFC 6189 §4-§6).
    Nothing may escape either session; two 'secure' ends agree on SAS and keys."""
    reader = Reader(data)
    a, b = _session(b"a"), _session(b"b")
    now = 100.0
    a.start(now)
    b.start(now)
    queues: dict[int, list[bytes]] = {0: [], 1: []}
    seen: list[bytes] = []
    ends = (a, b)
    events: dict[int, list[object]] = {0: [], 1: []}
    for _ in range(400):
        for index, session in enumerate(ends):
            out = session.datagrams_to_send(now)
            queues[1 - index].extend(out)
            seen.extend(out[:4])
            while (event := session.next_event()) is not None:
                events[index].append(event)
        if not reader.remaining:
            if not queues[0] and not queues[1]:
                break
            op = 0   # out of input: deliver everything still on the wire, in order
        else:
            op = reader.byte()
        side = op & 1
        receiver, queue = ends[side], queues[side]
        action = (op >> 1) % 8
        if action in (0, 1, 2) and queue:                  # deliver (the common case)
            receiver.receive_datagram(queue.pop(0), now)
        elif action == 3 and queue:                        # drop
            queue.pop(0)
        elif action == 4 and seen:                         # replay something seen earlier
            receiver.receive_datagram(seen[reader.byte() % len(seen)], now)
        elif action == 5 and queue:                        # corrupt one byte, fix the CRC
            packet = packets.decode_packet(queue.pop(0))
            message = bytearray(packet.message)
            message[reader.uint(2) % len(message)] ^= reader.byte() or 1
            receiver.receive_datagram(packets.encode_packet(packet.sequence_number, packet.ssrc,
                                                            bytes(message)), now)
        elif action == 6:                                  # inject a message of the input
            body = reader.chunk(200)
            type_block, rest = body[:8].ljust(8, b" "), body[8:]
            rest = rest[: len(rest) // 4 * 4]
            message = (packets.PREAMBLE + ((12 + len(rest)) // 4).to_bytes(2, "big")
                       + type_block + rest)
            receiver.receive_datagram(packets.encode_packet(reader.uint(2), 7, message), now)
        else:                                              # time passes: timers fire
            deadline = min((t for t in (a.get_timer(), b.get_timer()) if t is not None),
                           default=now + 1.0)
            now = max(now, deadline)
            a.handle_timer(now)
            b.handle_timer(now)
            if op & 0x80:
                (a.confirm_sas if op & 0x40 else a.reject_sas)()
    done = [[e for e in events[i] if isinstance(e, Secure | CacheMismatch)] for i in (0, 1)]
    assert len(done[0]) <= 1 and len(done[1]) <= 1
    if done[0] and done[1]:
        first, second = done[0][0], done[1][0]
        assert isinstance(first, Secure | CacheMismatch)
        assert isinstance(second, Secure | CacheMismatch)
        assert first.sas == second.sas
        assert first.srtp.local_key == second.srtp.remote_key


async def _handler(name: str, args: list[str]) -> object:
    if name == "fail":
        raise ControlError(f"fail: {args!r}")
    if name == "crash":
        raise RuntimeError("a command that breaks")
    return {"name": name, "args": args}


_CONTROL = ControlServer.__new__(ControlServer)
_CONTROL.handler = _handler


def fuzz_control_line(data: bytes) -> None:
    """One request line of the control socket: the reply is always one JSON object line with
    "ok" (the socket itself caps a line at MAX_REQUEST bytes before this)."""
    for line in data.split(b"\n")[:8]:
        coroutine = _CONTROL._dispatch(line + b"\n")
        try:
            coroutine.send(None)
        except StopIteration as done:
            reply = done.value
        else:  # pragma: no cover - the stub handler never suspends
            coroutine.close()
            raise AssertionError("control dispatch suspended")
        assert reply.endswith(b"\n") and reply.count(b"\n") == 1
        body = json.loads(reply)
        assert isinstance(body["ok"], bool)


TARGETS = [
    Target("sdp", fuzz_sdp, (SdpError,), max_len=8192, tokens=SDP_TOKENS),
    Target("zrtp_packet", fuzz_zrtp_packet, (packets.MalformedPacket,), max_len=1500,
           tokens=(b"Hello   ", b"HelloACK", b"Commit  ", b"DHPart1 ", b"DHPart2 ", b"Confirm1",
                   b"Confirm2", b"Conf2ACK", b"Error   ", b"GoClear ", b"SASrelay", b"Ping    ",
                   b"PingACK ", b"1.10", b"S256", b"AES1", b"HS80", b"X255", b"DH3k", b"B32 ",
                   b"\x50\x5a", b"ZRTP")),
    Target("zrtp_session", fuzz_zrtp_session, (), max_len=2048),
    Target("control_line", fuzz_control_line, (), max_len=4096,
           tokens=(b"dial ", b"key ", b"hook off", b"wait ", b"'", b'"', b"\\", b"fail ",
                   b"crash", b"\xff")),
]
