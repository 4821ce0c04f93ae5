"""The asyncio audio pipeline of one call: one UDP socket, a 20 ms tick, never blocking the loop.

    handset capture -> resample -> encode -> RTP -> SRTP -> socket        (send, every tick)
    socket -> demux -> SRTP -> RTP -> jitter buffer -> decode/PLC -> resample -> handset (tick)

Symmetric RTP (RFC 4961): we send from the port we receive on, and accept media only from the
signalled remote address. `open` binds an even RTP port and the odd RTCP port above it (RFC 3550
§11). RTCP is multiplexed on the RTP port when the offer/answer agreed a=rtcp-mux (RFC 5761;
`start(..., rtcp_mux=True)`); otherwise it goes to the peer's port + 1 from ours. RTCP arriving on
either port is accepted (RFC 5761 §5.1.1: an offerer must take RTCP on port + 1 until it knows
the answer) and protected as SRTCP. STUN Binding Requests are answered (stun.py), ZRTP packets
handed to the stream's media-encryption plug-in (`set_encryption`, demux.py, RFC 7983).

Latency: a captured frame is encoded and sent in the tick that captured it; a received packet is
played at the first tick where the jitter buffer judges it due (a fraction of a frame on a clean
path). Packets of any duration the codec allows (a=ptime 10..120 ms) are decoded whole and
played 20 ms per tick from a residue (jitterbuffer.py).

Security rule (architecture.md): no audio leaves or is played before SRTP keys are set, unless
`allow_cleartext()` was called because ZRTP failed and the user/setting allows it.

Clock: with `clock=None` the stream ticks itself every 20 ms from a kernel timer read by the
event loop (ticker.py) and keeps time on `time.monotonic()`; with an injected `clock` (a
zero-argument callable returning seconds) nothing is scheduled and the owner calls `tick()`
(tests, benchmarks with a virtual clock).

Receive modes of the RTP socket (CPU: one event-loop wake-up per 20 ms frame instead of two).
* "reader" — until the call is secure and its audio is on: the loop wakes the stream as soon as a
  datagram is readable, so ZRTP (RFC 6189 §4: every handshake message answers the previous one),
  STUN and early packets are handled at once and answer -> SAS stays fast.
* "drained" — from `set_srtp` + `enable_audio(True)` on: the RTP socket has no reader; each tick
  first reads every datagram queued on it (non-blocking, until EAGAIN) and handles them in
  arrival order before it sends and plays. ZRTP (Ping, a retransmitted Confirm2), STUN checks,
  multiplexed RTCP and DTMF wait at most one tick, which none of them minds. The jitter buffer
  and RTCP still see true arrival times: each datagram carries its kernel receive stamp
  (udp_socket.py, SO_TIMESTAMPNS), mapped to the stream's clock, so reading at ticks adds no
  20 ms quantisation to the jitter estimate. Leaving secure audio (audio off) returns to "reader".
The RTCP port (port + 1) always keeps its reader: it carries a report every few seconds and, from
some peers, a STUN check every 500 ms; reading it at every tick would cost more than those few
wake-ups. Cleartext calls (`allow_cleartext`, ZRTP failed) stay in "reader" mode.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from deskphone.devices.audio import AudioPort
from deskphone.media.codecs import Codec, NegotiatedCodec, codec_key, create_codec
from deskphone.media.demux import PacketKind, classify
from deskphone.media.dtmf import DtmfReceiver, DtmfSender
from deskphone.media.jitterbuffer import FrameKind, JitterBuffer
from deskphone.media.resample import Resampler
from deskphone.media.rtcp import RtcpSession
from deskphone.media.rtp import RtpError, parse_rtp
from deskphone.media.srtp import SrtpContext, SrtpKeysLike
from deskphone.media.stun import answer_binding_request
from deskphone.media.ticker import PeriodicTicker
from deskphone.media.udp_socket import Datagram, MediaUdpSocket, arrival_time

log = logging.getLogger(__name__)

TICK = 0.020
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")  # RFC 3264 §5.1 / RFC 4566 §6
_CATCH_UP = 0.2  # missed ticks up to this are run back to back; after a longer stall, the latest
_RTP_HEADER = struct.Struct("!BBHII")  # RFC 3550 §5.1 fixed header, V=2, no CSRC/extension
_RTP_V2 = 0x80
_PAIR_ATTEMPTS = 64


def _bind_udp(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def bind_rtp_rtcp_pair(host: str, port: int = 0) -> tuple[socket.socket, socket.socket | None]:
    """RTP socket on an even port and RTCP on the next (RFC 3550 §11). With `port` given, RTCP is
    best effort: None when port + 1 is taken (the stream then multiplexes, RFC 5761)."""
    if port:
        rtp = _bind_udp(host, port)
        try:
            return rtp, _bind_udp(host, port + 1)
        except OSError:
            return rtp, None
    for _ in range(_PAIR_ATTEMPTS):
        rtp = _bind_udp(host, 0)
        even = rtp.getsockname()[1]
        if even % 2 == 0 and even < 65535:
            try:
                return rtp, _bind_udp(host, even + 1)
            except OSError:
                pass
        rtp.close()
    return _bind_udp(host, 0), None  # a crowded host: RTP alone, RTCP multiplexed


@dataclass(frozen=True, slots=True)
class MediaStats:
    packets_sent: int
    packets_received: int
    lost: int
    jitter_ms: float
    rtt_ms: float | None
    remote_lost: int
    remote_fraction_lost: float
    srtp_auth_failures: int
    srtp_replays: int
    concealed: int
    late: int
    duplicates: int
    playout_delay_ms: float
    target_delay_ms: float
    dropped_cleartext: int
    dropped_foreign: int
    malformed: int
    stun_answered: int
    zrtp_received: int
    secure: bool
    receive_mode: str  # "reader" (woken per datagram) or "drained" (read at each tick)
    send_failed: int  # socket buffer full or a send error: the packet was dropped


class MediaEncryption(Protocol):
    """The stream's media-encryption plug-in (baresip's `menc`), e.g. the call layer's ZRTP
    driver. The stream hands it every key-management packet it demultiplexes (ZRTP, RFC 7983);
    the plug-in keys the stream it is attached to through `set_srtp`, `enable_audio`,
    `allow_cleartext` and `send_zrtp`, and tells its owner, not the stream, how that went."""

    def attach(self, stream: MediaStream) -> None: ...
    def receive(self, packet: bytes) -> None: ...


class MediaStream:
    def __init__(self, audio: AudioPort, loop: asyncio.AbstractEventLoop,
                 clock: Callable[[], float] | None) -> None:
        self.audio = audio
        self._loop = loop
        self._auto_tick = clock is None
        # time.monotonic(): the ticker's CLOCK_MONOTONIC, read to the nanosecond (uvloop's
        # loop.time() is the same clock in whole milliseconds)
        self._clock = clock or time.monotonic
        self._realtime = time.time  # what kernel receive stamps are (udp_socket.py)
        self._rtp_socket: MediaUdpSocket | None = None
        self._rtcp_socket: MediaUdpSocket | None = None
        self._drained = False  # receive mode, see the module docstring
        self.local_port = 0
        self.local_rtcp_port: int | None = None
        self.remote: tuple[str, int] | None = None
        self.remote_rtcp: tuple[str, int] | None = None  # where RTCP goes: RTP port or port + 1
        self.rtcp_mux = True
        self.codec_spec: NegotiatedCodec | None = None
        self._payload_type: int | None = None
        self._codec: Codec | None = None
        self._jitter: JitterBuffer | None = None
        self._rtcp: RtcpSession | None = None
        self._to_codec: Resampler | None = None  # None: device and codec share the rate
        self._to_device: Resampler | None = None
        self._dtmf_pt: int | None = None
        self._dtmf_sender: DtmfSender | None = None
        self._dtmf_receiver = DtmfReceiver()
        self._srtp: SrtpContext | None = None
        self._cleartext_allowed = False
        self._audio_on = False
        self._direction = "sendrecv"
        self._ssrc = random.SystemRandom().getrandbits(32)
        self._sequence = random.SystemRandom().getrandbits(16)  # RFC 3550 §5.1: random start
        self._timestamp = random.SystemRandom().getrandbits(32)
        self._marker_pending = True
        self._ticker: PeriodicTicker | None = None
        self._closed = False
        self._silence = bytes(2 * audio.rate * 20 // 1000)
        # decoded audio (codec rate) of [play_ts, covered_until) of the jitter buffer
        self._residue = b""
        self._frame_bytes = 0  # one 20 ms frame of PCM at the codec rate
        self._bytes_per_unit = 2  # PCM octets per RTP timestamp unit
        self.on_zrtp: Callable[[bytes], None] = lambda packet: None
        self.on_dtmf: Callable[[str], None] = lambda key: None
        self._counters = {"dropped_cleartext": 0, "dropped_foreign": 0, "malformed": 0,
                          "stun_answered": 0, "zrtp_received": 0, "packets_received": 0}

    # ---- lifecycle -------------------------------------------------------------------------------
    @classmethod
    async def open(cls, local_host: str, port: int = 0, *, audio: AudioPort,
                   loop: asyncio.AbstractEventLoop | None = None,
                   clock: Callable[[], float] | None = None) -> MediaStream:
        """Bind the RTP port (even, `port` or any) and the RTCP port above it."""
        loop = loop or asyncio.get_running_loop()
        stream = cls(audio, loop, clock)
        rtp_sock, rtcp_sock = bind_rtp_rtcp_pair(local_host, port)
        stream._rtp_socket = MediaUdpSocket(rtp_sock)
        stream.local_port = stream._rtp_socket.port
        loop.add_reader(rtp_sock.fileno(), stream._on_readable, stream._rtp_socket,
                        stream._datagram_received)
        if rtcp_sock is not None:
            stream._rtcp_socket = MediaUdpSocket(rtcp_sock)
            stream.local_rtcp_port = stream._rtcp_socket.port
            loop.add_reader(rtcp_sock.fileno(), stream._on_readable, stream._rtcp_socket,
                            stream._rtcp_port_received)
        return stream

    def start(self, remote: tuple[str, int], codec: NegotiatedCodec, *, dtmf_pt: int | None,
              send_audio: bool = False, rtcp_mux: bool = True) -> None:
        """Begin media towards `remote` with the negotiated codec (may be called again to
        change either, e.g. after a re-INVITE). `rtcp_mux`: the offer/answer agreed a=rtcp-mux
        (RFC 5761); when False RTCP goes to the peer's RTP port + 1 (RFC 3550 §11)."""
        self.remote = (remote[0], remote[1])
        self.rtcp_mux = rtcp_mux
        self.remote_rtcp = self.remote if rtcp_mux else (remote[0], remote[1] + 1)
        if (self.codec_spec is None or codec_key(codec) != codec_key(self.codec_spec)
                or self._codec is None):
            self.codec_spec = codec
            self._payload_type = codec.payload_type
            self._codec = create_codec(codec, secure=not self._cleartext_allowed)
            self._jitter = JitterBuffer(codec.clock_rate, self._codec.timestamp_increment)
            rate, device_rate = self._codec.sample_rate, self.audio.rate
            self._to_codec = Resampler(device_rate, rate) if device_rate != rate else None
            self._to_device = Resampler(rate, device_rate) if device_rate != rate else None
            self._frame_bytes = 2 * self._codec.frame_samples
            self._bytes_per_unit = 2 * rate // codec.clock_rate
            self._residue = b""
        self._dtmf_pt = dtmf_pt
        if dtmf_pt is not None:
            self._dtmf_sender = DtmfSender(codec.clock_rate)
        if self._rtcp is None or self._rtcp.clock_rate != codec.clock_rate:
            self._rtcp = RtcpSession(self._ssrc, codec.clock_rate, f"deskphone-{os.getpid()}",
                                     rng=random.Random(self._ssrc))
            self._rtcp.start(self._clock())
        self._audio_on = send_audio
        self._marker_pending = True
        if self._auto_tick and self._ticker is None and not self._closed:
            self._ticker = PeriodicTicker(self._loop, TICK, self._on_tick, catch_up=_CATCH_UP)
            self._ticker.start(self._clock() + TICK)
        self._update_receive_mode()

    def set_encryption(self, encryption: MediaEncryption) -> None:
        """Plug in media encryption: ZRTP packets from the peer go to it from now on."""
        self.on_zrtp = encryption.receive
        encryption.attach(self)

    @property
    def ssrc(self) -> int:
        """Our RTP SSRC (RFC 3550 §8): ZRTP packets carry it too (RFC 6189 §5)."""
        return self._ssrc

    def set_srtp(self, keys: SrtpKeysLike) -> None:
        self._srtp = SrtpContext(keys)
        self._update_receive_mode()

    def enable_audio(self, on: bool) -> None:
        self._audio_on = on
        self._marker_pending = True
        self._update_receive_mode()

    def allow_cleartext(self) -> None:
        self._cleartext_allowed = True

    def set_direction(self, direction: str) -> None:
        if direction not in DIRECTIONS:
            raise ValueError(f"media direction {direction!r} unknown, expected one of {DIRECTIONS}")
        self._direction = direction
        self._marker_pending = True

    def send_dtmf(self, key: str) -> None:
        if self._dtmf_sender is None:
            raise RuntimeError("DTMF requested but no telephone-event payload type was negotiated")
        self._dtmf_sender.press(key)

    def send_zrtp(self, packet: bytes) -> None:
        if self._rtp_socket is not None and self.remote is not None:
            self._rtp_socket.send(packet, self.remote)

    @property
    def secure(self) -> bool:
        return self._srtp is not None

    @property
    def _media_allowed(self) -> bool:
        return self._audio_on and (self._srtp is not None or self._cleartext_allowed)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        if self._rtcp is not None and self._media_allowed:
            self._send_rtcp(self._rtcp.build_bye())  # RFC 3550 §6.6
        for media_socket in self._sockets():
            if media_socket is not self._rtp_socket or not self._drained:
                self._loop.remove_reader(media_socket.fileno())
            media_socket.close()
        self._rtp_socket = self._rtcp_socket = None
        self._drained = False
        await asyncio.sleep(0)

    # ---- receive modes -----------------------------------------------------------------------
    def _sockets(self) -> list[MediaUdpSocket]:
        return [s for s in (self._rtp_socket, self._rtcp_socket) if s is not None]

    def _update_receive_mode(self) -> None:
        """"drained" exactly while the call is secure with audio on (module docstring)."""
        rtp = self._rtp_socket
        drained = (self._srtp is not None and self._audio_on and self._codec is not None
                   and not self._closed and rtp is not None)
        if drained == self._drained or rtp is None:
            return
        self._drained = drained
        if drained:
            self._loop.remove_reader(rtp.fileno())
        else:
            self._loop.add_reader(rtp.fileno(), self._on_readable, rtp, self._datagram_received)
        log.debug("media receive mode: %s", "drained" if drained else "reader")

    def _on_readable(self, media_socket: MediaUdpSocket,
                     handler: Callable[[bytes, tuple[str, int], float], None]) -> None:
        """"reader" mode: the loop saw the socket readable; take everything queued."""
        self._dispatch(media_socket.receive(), handler)

    def _drain(self) -> None:
        """"drained" mode, at the start of a tick: the RTP socket until EAGAIN, in order."""
        if self._rtp_socket is not None:
            self._dispatch(self._rtp_socket.receive(), self._datagram_received)

    def _dispatch(self, batch: list[Datagram],
                  handler: Callable[[bytes, tuple[str, int], float], None]) -> None:
        if not batch:
            return
        # both clocks read together once per batch: the offset follows any CLOCK_REALTIME slew
        reference_now, realtime_now = self._clock(), self._realtime()
        for data, source, stamp in batch:
            if self._closed:  # a handler ended the call (e.g. ZRTP failed): drop the rest
                return
            handler(data, source, arrival_time(stamp, reference_now, realtime_now))

    # ---- the 20 ms tick ----------------------------------------------------------------------
    def _on_tick(self, scheduled: float) -> None:
        if not self._closed:
            # The scheduled time, not when the loop got here: wake-up noise of this timer is not
            # network jitter, so it must not reach the jitter buffer's playout clock.
            self.tick(scheduled)

    def tick(self, now: float | None = None) -> None:
        """One 20 ms step: (drained mode) read what arrived, capture+send one frame, play one
        frame, RTCP if due."""
        now = self._clock() if now is None else now
        if self._drained:
            self._drain()
        captured = self.audio.capture_frame()  # always drain the device
        if self._codec is None or self.remote is None:
            return
        self._send_frame(captured, now)
        self.audio.play_frame(self._playout_frame(now))
        assert self._rtcp is not None
        report = self._rtcp.handle_timer(now)
        if report is not None and self._media_allowed:
            self._send_rtcp(report)

    def _send_frame(self, captured: bytes, now: float) -> None:
        codec = self._codec
        assert codec is not None and self.codec_spec is not None
        timestamp = self._timestamp
        self._timestamp = (timestamp + codec.timestamp_increment) & 0xFFFFFFFF
        if not self._media_allowed or self._direction in ("recvonly", "inactive"):
            self._marker_pending = True
            return
        sender = self._dtmf_sender
        dtmf = None
        if sender is not None and sender.busy:
            dtmf = sender.next_packet(timestamp, codec.timestamp_increment)
        if dtmf is not None and self._dtmf_pt is not None:
            second = (0x80 if dtmf.marker else 0) | self._dtmf_pt
            timestamp, payload = dtmf.timestamp, dtmf.payload
        else:
            if self._to_codec is not None:
                captured = self._to_codec.process(captured)
            payload = codec.encode(captured)
            # RFC 3551 §4.1: marker on the first packet of a talkspurt
            second = (0x80 if self._marker_pending else 0) | self.codec_spec.payload_type
            self._marker_pending = False
        data = _RTP_HEADER.pack(_RTP_V2, second, self._sequence, timestamp, self._ssrc) + payload
        self._sequence = (self._sequence + 1) & 0xFFFF
        if self._srtp is not None:
            data = self._srtp.protect(data)
        assert self._rtcp is not None
        self._rtcp.on_rtp_sent(timestamp, len(payload), now)
        self._sendto(data)

    def _playout_frame(self, now: float) -> bytes:
        jitter, codec = self._jitter, self._codec
        assert jitter is not None and codec is not None
        pieces = jitter.pop(now)
        muted = not self._media_allowed or self._direction in ("sendonly", "inactive")
        frame = self._frame_bytes
        if len(pieces) == 1 and not self._residue and not muted:
            piece = pieces[0]  # the common case: one 20 ms packet, nothing left over
            if piece.kind is FrameKind.AUDIO:
                pcm = codec.decode(piece.payload)
                if len(pcm) == frame:
                    return self._to_device.process(pcm) if self._to_device else pcm
                self._residue = self._fit(pcm, piece.duration * self._bytes_per_unit)
                pieces = []
        hold = False
        for piece in pieces:
            if piece.kind is FrameKind.AUDIO:
                self._residue += self._fit(codec.decode(piece.payload),
                                           piece.duration * self._bytes_per_unit)
            elif piece.kind is FrameKind.LOST:
                self._residue += self._concealed(piece.duration * self._bytes_per_unit)
            elif piece.kind is FrameKind.HOLD:
                hold = True
            else:  # SILENCE: playout stopped or restarted, what was left over is stale
                self._residue = b""
                return self._silence
        if hold:
            pcm = self._concealed(frame)  # played outside the timeline: the residue waits
        else:
            pcm, self._residue = self._fit(self._residue[:frame], frame), self._residue[frame:]
        if muted:
            return self._silence
        return self._to_device.process(pcm) if self._to_device else pcm

    @staticmethod
    def _fit(pcm: bytes, size: int) -> bytes:
        """Exactly `size` octets: a decoder that returned more or less must not shift the
        timeline of everything after it."""
        if len(pcm) == size:
            return pcm
        return pcm[:size] if len(pcm) > size else pcm + bytes(size - len(pcm))

    def _concealed(self, size: int) -> bytes:
        assert self._codec is not None
        pcm = self._codec.conceal()
        while len(pcm) < size:
            more = self._codec.conceal()
            if not more:
                break
            pcm += more
        return self._fit(pcm, size)

    def _send_rtcp(self, report: bytes) -> None:
        if self._srtp is not None:
            report = self._srtp.protect_rtcp(report)
        if self.remote_rtcp is None:
            return
        # symmetric: RTCP leaves from the port the peer sends its RTCP to (RFC 4961)
        media_socket = self._rtp_socket if self.rtcp_mux else self._rtcp_socket or self._rtp_socket
        if media_socket is not None:
            media_socket.send(report, self.remote_rtcp)

    def _sendto(self, data: bytes) -> None:
        if self._rtp_socket is not None and self.remote is not None:
            self._rtp_socket.send(data, self.remote)

    # ---- receive -----------------------------------------------------------------------------
    def _datagram_received(self, data: bytes, addr: tuple[str, int],
                           arrival: float | None = None) -> None:
        """One datagram from the RTP port; `arrival` on the stream's clock (None: now)."""
        if arrival is None:
            arrival = self._clock()
        kind = classify(data)
        if kind is PacketKind.STUN:
            self._answer_stun(data, addr, self._rtp_socket)
            return
        if addr != self.remote:
            if kind is PacketKind.RTCP and addr == self.remote_rtcp:
                self._receive_rtcp(data, arrival)
                return
            if self.remote is not None:
                self._counters["dropped_foreign"] += 1  # symmetric RTP: only the signalled peer
                return
        if kind is PacketKind.ZRTP:
            self._counters["zrtp_received"] += 1
            self.on_zrtp(data)
        elif kind is PacketKind.RTP:
            self._receive_rtp(data, arrival)
        elif kind is PacketKind.RTCP:
            self._receive_rtcp(data, arrival)
        else:
            self._counters["malformed"] += 1

    def _receive_rtp(self, data: bytes, now: float) -> None:
        """`now`: the packet's arrival (RFC 3550 §6.4.1 transit; the jitter buffer's too)."""
        if self._codec is None or self._jitter is None or self._rtcp is None:
            return
        if self._srtp is not None:
            plain = self._srtp.unprotect(data)
            if plain is None:
                return  # counted in the SRTP stats (auth failure / replay)
            data = plain
        elif not self._cleartext_allowed:
            self._counters["dropped_cleartext"] += 1
            return
        if len(data) > _RTP_HEADER.size and data[0] == _RTP_V2:
            # the usual packet (RFC 3550 §5.1: V=2, no padding, extension or CSRC): read the
            # fixed header in place instead of building an RtpPacket
            _first, second, sequence, timestamp, ssrc = _RTP_HEADER.unpack_from(data)
            payload_type = second & 0x7F
            payload = data[_RTP_HEADER.size:]
        else:
            try:
                packet = parse_rtp(data)
            except RtpError:
                self._counters["malformed"] += 1
                return
            payload_type, sequence, timestamp, ssrc = (
                packet.payload_type, packet.sequence, packet.timestamp, packet.ssrc)
            payload = packet.payload
        self._counters["packets_received"] += 1
        self._rtcp.on_rtp_received(ssrc, sequence, timestamp, now)
        if payload_type == self._dtmf_pt:
            key = self._dtmf_receiver.receive(parse_rtp(data))
            if key is not None:
                self.on_dtmf(key)
        elif self._codec is not None and payload_type == self._payload_type:
            self._jitter.put_payload(ssrc, timestamp, payload, now,
                                     self._codec.payload_duration(payload))
        else:
            self._counters["malformed"] += 1  # a payload type we did not negotiate

    def _receive_rtcp(self, data: bytes, arrival: float) -> None:
        if self._rtcp is None:
            return
        if self._srtp is not None:
            plain = self._srtp.unprotect_rtcp(data)
            if plain is None:
                return
            data = plain
        elif not self._cleartext_allowed:
            self._counters["dropped_cleartext"] += 1
            return
        self._rtcp.receive_rtcp(data, arrival)  # RFC 3550 §6.4.1: A, the SR's arrival

    def _answer_stun(self, data: bytes, addr: tuple[str, int],
                     media_socket: MediaUdpSocket | None) -> None:
        """A STUN Binding Request is answered from the port it reached (RFC 5389 §7.3.1)."""
        answer = answer_binding_request(data, addr)
        if answer is not None and media_socket is not None:
            self._counters["stun_answered"] += 1
            media_socket.send(answer, addr)

    def _rtcp_port_received(self, data: bytes, addr: tuple[str, int],
                            arrival: float | None = None) -> None:
        """RFC 3550 §11: the peer's RTCP from its port + 1 (or, symmetric, any port of its host
        while we multiplex: RFC 5761 §5.1.1 lets a peer fall back to port + 1)."""
        kind = classify(data)
        if kind is PacketKind.STUN:
            # linphone (mediastreamer2) sends keep-alive Binding Requests every ~500 ms to our
            # RTCP port as well as the RTP port (RFC 7983 demultiplexing applies on both).
            self._answer_stun(data, addr, self._rtcp_socket)
            return
        if self.remote is None or addr[0] != self.remote[0] or kind is not PacketKind.RTCP:
            self._counters["dropped_foreign"] += 1
            return
        self._receive_rtcp(data, self._clock() if arrival is None else arrival)

    # ---- statistics --------------------------------------------------------------------------
    @property
    def stats(self) -> MediaStats:
        snap = self._rtcp.snapshot() if self._rtcp is not None else None
        jb = self._jitter.stats if self._jitter is not None else None
        srtp = self._srtp.stats if self._srtp is not None else None
        c = self._counters
        sockets = [s.stats for s in self._sockets()]
        return MediaStats(
            packets_sent=snap.packets_sent if snap else 0,
            packets_received=c["packets_received"],
            lost=snap.packets_lost if snap else 0,
            jitter_ms=round(snap.jitter_ms, 2) if snap else 0.0,
            rtt_ms=round(snap.rtt_ms, 2) if snap and snap.rtt_ms is not None else None,
            remote_lost=snap.remote_packets_lost if snap else 0,
            remote_fraction_lost=snap.remote_fraction_lost if snap else 0.0,
            srtp_auth_failures=srtp.auth_failures if srtp else 0,
            srtp_replays=srtp.replays if srtp else 0,
            concealed=jb.concealed if jb else 0,
            late=jb.late if jb else 0,
            duplicates=jb.duplicates if jb else 0,
            playout_delay_ms=self._jitter.delay_ms if self._jitter is not None else 0.0,
            target_delay_ms=jb.target_delay_ms if jb else 0.0,
            dropped_cleartext=c["dropped_cleartext"],
            dropped_foreign=c["dropped_foreign"],
            malformed=c["malformed"] + sum(s.truncated for s in sockets),
            stun_answered=c["stun_answered"],
            zrtp_received=c["zrtp_received"],
            secure=self.secure,
            receive_mode="drained" if self._drained else "reader",
            send_failed=sum(s.send_dropped + s.send_errors for s in sockets),
        )

