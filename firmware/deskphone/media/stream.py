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

SRTP keying (RFC 3711 §9.1: a key and a packet index are never used twice). The stream builds
one SRTP context per set of keys and keeps it: `set_srtp` with the keys it already has (a
repeated Secure, a hold/resume re-INVITE, anything else) changes nothing, so the rollover
counter and the SRTCP index (which a new context would restart at 1) go on from where they were.
`accept_srtp` builds the context before we may send with it (a ZRTP initiator between Confirm1
and Conf2ACK, RFC 6189 §4.6): incoming SRTP is decrypted, nothing is sent, and the first packet
that authenticates is reported (an implicit Conf2ACK, §5.8); the later `set_srtp` with the same
keys turns sending on in that same context.

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

Parts. This module is the stream's lifecycle, its commands, its receive modes and the tick (send
one frame, play one frame, RTCP). What arrives is handled by the receive side (receive.py: demux,
SRTP, RTP/RTCP/ZRTP/STUN handlers and their counters), which the stream hands its current codec,
jitter buffer, RTCP session, SRTP context and addresses; the played frame comes from playout.py
(decode/PLC, residue, resampling to the handset); the encryption plug-in's seam is encryption.py;
the statistics snapshot is stats.py; binding the port pair is udp_socket.py's.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
from collections.abc import Callable

from deskphone.devices.audio import AudioPort
from deskphone.media.codecs import Codec, NegotiatedCodec, codec_key, create_codec
from deskphone.media.dtmf import DtmfSender
from deskphone.media.encryption import EncryptableStream, MediaEncryption
from deskphone.media.jitterbuffer import JitterBuffer
from deskphone.media.playout import Playout
from deskphone.media.receive import MediaReceiver
from deskphone.media.resample import Resampler
from deskphone.media.rtcp import RtcpSession
from deskphone.media.rtp import FIXED_HEADER, PLAIN_V2
from deskphone.media.srtp import SrtpContext, SrtpKeysLike
from deskphone.media.stats import MediaStats, media_stats
from deskphone.media.ticker import PeriodicTicker
from deskphone.media.udp_socket import Datagram, MediaUdpSocket, arrival_time, bind_rtp_rtcp_pair

log = logging.getLogger(__name__)

TICK = 0.020
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")  # RFC 3264 §5.1 / RFC 4566 §6
_CATCH_UP = 0.2  # missed ticks up to this are run back to back; after a longer stall, the latest

# What other modules import from here: the stream's statistics and encryption seam, the port pair.
__all__ = ["DIRECTIONS", "TICK", "EncryptableStream", "MediaEncryption", "MediaStats",
           "MediaStream", "bind_rtp_rtcp_pair"]


class MediaStream:
    def __init__(self, audio: AudioPort, loop: asyncio.AbstractEventLoop,
                 clock: Callable[[], float] | None) -> None:
        self.audio = audio
        self._loop = loop
        self._auto_tick = clock is None
        self._own_clock = clock is None  # with an injected clock the owner always ticks
        # time.monotonic(): the ticker's CLOCK_MONOTONIC, read to the nanosecond (uvloop's
        # loop.time() is the same clock in whole milliseconds)
        self._clock = clock or time.monotonic
        self._realtime = time.time  # what kernel receive stamps are (udp_socket.py)
        self._rtp_socket: MediaUdpSocket | None = None
        self._rtcp_socket: MediaUdpSocket | None = None
        self._drained = False  # receive mode, see the module docstring
        # loop wake-ups for readable media sockets ("reader" mode): with the ticker's wake-ups,
        # what the one-wake-up-per-frame property counts (tests/media/test_stream_drained.py)
        self.reader_wakeups = 0
        self.local_port = 0
        self.local_rtcp_port: int | None = None
        self.remote: tuple[str, int] | None = None
        self.remote_rtcp: tuple[str, int] | None = None  # where RTCP goes: RTP port or port + 1
        self.rtcp_mux = True
        self.codec_spec: NegotiatedCodec | None = None
        self._codec: Codec | None = None
        self._jitter: JitterBuffer | None = None
        self._rtcp: RtcpSession | None = None
        self._to_codec: Resampler | None = None  # None: device and codec share the rate
        self._playout: Playout | None = None  # with the codec (playout.py)
        self._dtmf_pt: int | None = None
        self._dtmf_sender: DtmfSender | None = None
        self._srtp: SrtpContext | None = None
        self._srtp_keys: tuple[str, bytes, bytes, bytes, bytes] | None = None  # what _srtp has
        self._srtp_sending = False  # False while the context only receives (accept_srtp)
        self._srtp_contexts = 0  # contexts built: more than one only for really new keys
        self._cleartext_allowed = False
        self._audio_on = False
        self._direction = "sendrecv"
        self._ssrc = random.SystemRandom().getrandbits(32)
        self._sequence = random.SystemRandom().getrandbits(16)  # RFC 3550 §5.1: random start
        self._timestamp = random.SystemRandom().getrandbits(32)
        self._marker_pending = True
        self._ticker: PeriodicTicker | None = None
        self._closed = False
        self._receiver = MediaReceiver(self._clock)  # what arrives (receive.py)
        # ICE (media/ice, driven by the call layer): until the nominated pair is known nothing
        # is sent (await_path); a relay pair sends through this callable (the TURN client)
        # instead of a socket of ours.
        self._path_pending = False
        self._relay_send: Callable[[bytes, tuple[str, int] | None], object] | None = None
        self._rtcp_send: Callable[[bytes], object] | None = None  # an ICE component 2 pair

    def _hand_receiver(self) -> None:
        """The receive side gets what it reads (receive.py) each time one of them changes."""
        receiver = self._receiver
        receiver.rtp_socket, receiver.rtcp_socket = self._rtp_socket, self._rtcp_socket
        receiver.remote, receiver.remote_rtcp = self.remote, self.remote_rtcp
        receiver.srtp, receiver.cleartext_allowed = self._srtp, self._cleartext_allowed
        receiver.codec, receiver.jitter, receiver.rtcp = self._codec, self._jitter, self._rtcp
        receiver.payload_type = self.codec_spec.payload_type if self.codec_spec else None
        receiver.dtmf_pt = self._dtmf_pt

    @property
    def on_zrtp(self) -> Callable[[bytes, tuple[str, int]], None]:
        """Called with each ZRTP packet for us and its source (`set_encryption` plugs one in);
        before the peer's address is signalled that source may be anyone."""
        return self._receiver.on_zrtp

    @on_zrtp.setter
    def on_zrtp(self, handler: Callable[[bytes, tuple[str, int]], None]) -> None:
        self._receiver.on_zrtp = handler

    @property
    def on_dtmf(self) -> Callable[[str], None]:
        """Called with each key the peer sent as a telephone-event (RFC 4733)."""
        return self._receiver.on_dtmf

    @on_dtmf.setter
    def on_dtmf(self, handler: Callable[[str], None]) -> None:
        self._receiver.on_dtmf = handler

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
                        stream._receiver.datagram_received)
        if rtcp_sock is not None:
            stream._rtcp_socket = MediaUdpSocket(rtcp_sock)
            stream.local_rtcp_port = stream._rtcp_socket.port
            loop.add_reader(rtcp_sock.fileno(), stream._on_readable, stream._rtcp_socket,
                            stream._receiver.rtcp_port_received)
        stream._hand_receiver()
        return stream

    def start(self, remote: tuple[str, int], codec: NegotiatedCodec, *, dtmf_pt: int | None,
              send_audio: bool = False, rtcp_mux: bool = True) -> None:
        """Begin media towards `remote` with the negotiated codec (may be called again to
        change either, e.g. after a re-INVITE). `rtcp_mux`: the offer/answer agreed a=rtcp-mux
        (RFC 5761); when False RTCP goes to the peer's RTP port + 1 (RFC 3550 §11)."""
        self.remote = (remote[0], remote[1])
        self.rtcp_mux = rtcp_mux
        if self._rtcp_send is None:  # an ICE component-2 pair stays where it is
            self.remote_rtcp = self.remote if rtcp_mux else (remote[0], remote[1] + 1)
        if (self.codec_spec is None or codec_key(codec) != codec_key(self.codec_spec)
                or self._codec is None):
            self.codec_spec = codec
            self._codec = create_codec(codec, secure=not self._cleartext_allowed,
                                       capture_rate=self.audio.rate)
            self._jitter = JitterBuffer(codec.clock_rate, self._codec.timestamp_increment)
            rate, device_rate = self._codec.encode_rate, self.audio.rate
            self._to_codec = Resampler(device_rate, rate) if device_rate != rate else None
            self._playout = Playout(self._codec, self._jitter, codec.clock_rate, device_rate)
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
        self._hand_receiver()
        self._update_receive_mode()

    # ---- another owner of the tick and the handset (a conference, media/conference.py) ------
    @property
    def leg_rate(self) -> int:
        """The rate the codec decodes at (the device's before a codec is agreed): what a
        conference mixes this stream at."""
        return self._codec.sample_rate if self._codec is not None else self.audio.rate

    def use_audio(self, audio: AudioPort) -> None:
        """Capture from and play to `audio` from the next tick on, at its rate: the resamplers
        between it and the codec are rebuilt (the jitter buffer and its timeline are kept)."""
        self.audio = audio
        codec, spec = self._codec, self.codec_spec
        if codec is None or spec is None or self._jitter is None:
            return
        rate = codec.encode_rate
        self._to_codec = Resampler(audio.rate, rate) if audio.rate != rate else None
        self._playout = Playout(codec, self._jitter, spec.clock_rate, audio.rate)

    def hand_ticks_over(self) -> None:
        """Someone else calls `tick(scheduled)` every 20 ms from now on (a conference ticks all
        its legs from one timer: one wake-up per frame for the whole conference)."""
        self._auto_tick = False
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None

    def take_ticks_back(self) -> None:
        """The stream ticks itself again, from the next 20 ms on (the conference is over)."""
        if self._auto_tick or self._closed or not self._own_clock:
            return
        self._auto_tick = True
        if self._codec is not None and self._ticker is None:
            self._ticker = PeriodicTicker(self._loop, TICK, self._on_tick, catch_up=_CATCH_UP)
            self._ticker.start(self._clock() + TICK)

    def set_encryption(self, encryption: MediaEncryption) -> None:
        """Plug in media encryption: ZRTP packets from the peer go to it from now on."""
        self.on_zrtp = encryption.receive
        self._receiver.zrtp_authentic = encryption.authenticates
        encryption.attach(self)

    def enable_latching(self, on: bool) -> None:
        """Symmetric RTP for a peer without ICE (RFC 4961 §5, issue 14 item 3): once a packet
        from another source passes SRTP authentication (or is the peer's announced ZRTP
        Hello, before keys), media goes to that source. Never on an unauthenticated packet:
        an attacker cannot steal the stream by sending from elsewhere."""
        self._receiver.on_latch = self._latch if on else None

    def _latch(self, source: tuple[str, int]) -> None:
        log.info("media: latched onto the peer's authenticated source (symmetric RTP)")
        self.remote = (source[0], source[1])
        self.remote_rtcp = self.remote if self.rtcp_mux else (source[0], source[1] + 1)
        self._hand_receiver()

    @property
    def ssrc(self) -> int:
        """Our RTP SSRC (RFC 3550 §8): ZRTP packets carry it too (RFC 6189 §5)."""
        return self._ssrc

    def set_srtp(self, keys: SrtpKeysLike) -> None:
        """Protect what we send and check what we receive with `keys` from now on (the same
        keys again keep the context, module docstring)."""
        self._key_context(keys)
        self._srtp_sending = True
        self._receiver.on_srtp_authenticated = None
        self._hand_receiver()
        self._update_receive_mode()

    def accept_srtp(self, keys: SrtpKeysLike, on_authenticated: Callable[[], None]) -> None:
        """Decrypt the peer's SRTP with `keys` but send nothing yet; `on_authenticated()` once,
        when the first packet authenticates (RFC 6189 §4.6: an implicit Conf2ACK)."""
        if self._srtp_sending:
            return  # already sending with keys of its own: never step back to receive-only
        self._key_context(keys)
        self._receiver.on_srtp_authenticated = on_authenticated
        self._hand_receiver()

    def _key_context(self, keys: SrtpKeysLike) -> None:
        material = (keys.profile, keys.local_key, keys.local_salt, keys.remote_key,
                    keys.remote_salt)
        if material == self._srtp_keys:
            return  # RFC 3711 §9.1: a rebuilt context would reuse (key, index) pairs
        self._srtp = SrtpContext(keys)
        self._srtp_keys = material
        self._srtp_contexts += 1

    def enable_audio(self, on: bool) -> None:
        self._audio_on = on
        self._marker_pending = True
        self._update_receive_mode()

    def allow_cleartext(self) -> None:
        self._cleartext_allowed = True
        self._hand_receiver()

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
        self._sendto(packet)

    # ---- an ICE pair as the path (RFC 8445 §12: media goes on the selected pair) -------------
    def await_path(self) -> None:
        """ICE is under way: send nothing (no ZRTP, no RTCP) until `adopt_socket` or
        `use_relay` names the nominated pair."""
        self._path_pending = True

    def adopt_socket(self, sock: socket.socket, remote: tuple[str, int],
                     on_stun: Callable[[bytes, tuple[str, int]], None], *,
                     rtcp_mux: bool = True) -> None:
        """Carry the stream on the nominated host/srflx pair's UDP socket, read like our own
        (one wake-up per frame once secure). The stream's own ports are closed; STUN on the
        pair (the peer's checks and consent, RFC 7675) goes to `on_stun` (the ICE agent)."""
        self._close_own_sockets()
        self._rtp_socket = MediaUdpSocket(sock)
        self.local_port = self._rtp_socket.port
        if not self._drained:
            self._loop.add_reader(sock.fileno(), self._on_readable, self._rtp_socket,
                                  self._receiver.datagram_received)
        self._receiver.on_stun = on_stun
        self._set_path(remote, rtcp_mux)

    def use_relay(self, send: Callable[[bytes, tuple[str, int] | None], object],
                  remote: tuple[str, int], *, rtcp_mux: bool = True) -> None:
        """Carry the stream on a TURN relay pair: `send(datagram, to)` is the agent's (`to`
        None: the pair's peer), what arrives comes through `relay_received` (the TURN client
        owns that socket)."""
        self._close_own_sockets()
        self._relay_send = send
        self._set_path(remote, rtcp_mux)

    def use_rtcp_pair(self, send: Callable[[bytes], object], remote: tuple[str, int]) -> None:
        """ICE with two components (no rtcp-mux, RFC 8445 §4): RTCP goes out through `send`
        (component 2's pair) and comes in through `rtcp_pair_received`."""
        self._rtcp_send = send
        self.remote_rtcp = (remote[0], remote[1])
        self._hand_receiver()

    def rtcp_pair_received(self, data: bytes) -> None:
        """A datagram of the component-2 pair (aioice reads that socket)."""
        if self.remote_rtcp is not None and not self._closed:
            self._receiver.rtcp_port_received(data, self.remote_rtcp, self._clock())

    def relay_received(self, data: bytes) -> None:
        """A datagram of the relay pair, unwrapped by the TURN client (source: the pair)."""
        if self.remote is not None and not self._closed:
            self._receiver.datagram_received(data, self.remote, self._clock())

    def _set_path(self, remote: tuple[str, int], rtcp_mux: bool) -> None:
        # With ICE one component carries RTP, RTCP and ZRTP; a peer without ICE or rtcp-mux
        # takes its RTCP on port + 1 (RFC 3550 §11), sent from the pair's one socket.
        self.remote = (remote[0], remote[1])
        self.remote_rtcp = self.remote if rtcp_mux else (remote[0], remote[1] + 1)
        self.rtcp_mux = rtcp_mux
        self._path_pending = False
        self._hand_receiver()
        self._update_receive_mode()

    def _close_own_sockets(self) -> None:
        for media_socket in self._sockets():
            if media_socket is not self._rtp_socket or not self._drained:
                self._loop.remove_reader(media_socket.fileno())
            media_socket.close()
        self._rtp_socket = self._rtcp_socket = None
        self.local_rtcp_port = None

    @property
    def secure(self) -> bool:
        return self._srtp is not None and self._srtp_sending

    @property
    def _media_allowed(self) -> bool:
        return self._audio_on and (self.secure or self._cleartext_allowed)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        if self._rtcp is not None and self._media_allowed:
            self._send_rtcp(self._rtcp.build_bye())  # RFC 3550 §6.6
        self._close_own_sockets()
        self._relay_send = None
        self._hand_receiver()
        self._drained = False
        await asyncio.sleep(0)

    # ---- receive modes -----------------------------------------------------------------------
    def _sockets(self) -> list[MediaUdpSocket]:
        return [s for s in (self._rtp_socket, self._rtcp_socket) if s is not None]

    def _update_receive_mode(self) -> None:
        """"drained" exactly while the call is secure with audio on (module docstring)."""
        rtp = self._rtp_socket
        drained = (self.secure and self._audio_on and self._codec is not None
                   and not self._closed and rtp is not None)
        if drained == self._drained or rtp is None:
            return
        self._drained = drained
        if drained:
            self._loop.remove_reader(rtp.fileno())
        else:
            self._loop.add_reader(rtp.fileno(), self._on_readable, rtp,
                                  self._receiver.datagram_received)
        log.debug("media receive mode: %s", "drained" if drained else "reader")

    def _on_readable(self, media_socket: MediaUdpSocket,
                     handler: Callable[[bytes, tuple[str, int], float], None]) -> None:
        """"reader" mode: the loop saw the socket readable; take everything queued."""
        self.reader_wakeups += 1
        self._dispatch(media_socket.receive(), handler)

    def _drain(self) -> None:
        """"drained" mode, at the start of a tick: the RTP socket until EAGAIN, in order."""
        if self._rtp_socket is not None:
            self._dispatch(self._rtp_socket.receive(), self._receiver.datagram_received)

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
        assert self._playout is not None  # built with the codec
        self.audio.play_frame(self._playout.frame(
            now, not self._media_allowed or self._direction in ("sendonly", "inactive")))
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
        data = FIXED_HEADER.pack(PLAIN_V2, second, self._sequence, timestamp, self._ssrc) + payload
        self._sequence = (self._sequence + 1) & 0xFFFF
        if self._srtp is not None:
            data = self._srtp.protect(data)  # sending only when secure: see _media_allowed
        assert self._rtcp is not None
        self._rtcp.on_rtp_sent(timestamp, len(payload), now)
        self._sendto(data)

    def _send_rtcp(self, report: bytes) -> None:
        if self._srtp is not None:
            report = self._srtp.protect_rtcp(report)
        if self.remote_rtcp is None or self._path_pending:
            return
        if self._rtcp_send is not None:
            self._rtcp_send(report)
            return
        if self._relay_send is not None:  # a peer without rtcp-mux: at its port + 1
            self._relay_send(report, None if self.rtcp_mux else self.remote_rtcp)
            return
        # symmetric: RTCP leaves from the port the peer sends its RTCP to (RFC 4961)
        media_socket = self._rtp_socket if self.rtcp_mux else self._rtcp_socket or self._rtp_socket
        if media_socket is not None:
            media_socket.send(report, self.remote_rtcp)

    def _sendto(self, data: bytes) -> None:
        if self._relay_send is not None:
            self._relay_send(data, None)
        elif (self._rtp_socket is not None and self.remote is not None
              and not self._path_pending):
            self._rtp_socket.send(data, self.remote)

    @property
    def loop_wakeups(self) -> tuple[int, int]:
        """(event-loop wake-ups this stream caused, ticks run): the first stays at most the
        second once the call is secure with audio on (one wake-up per 20 ms frame)."""
        ticker = self._ticker
        return (self.reader_wakeups + (ticker.wakeups if ticker else 0),
                ticker.ticks if ticker else 0)

    # ---- statistics --------------------------------------------------------------------------
    @property
    def stats(self) -> MediaStats:
        return media_stats(self._rtcp, self._jitter, self._srtp, self._receiver.counters,
                           [s.stats for s in self._sockets()], secure=self.secure,
                           srtp_contexts=self._srtp_contexts,
                           receive_mode="drained" if self._drained else "reader")
