"""The asyncio audio pipeline of one call: one UDP socket, a 20 ms tick, never blocking the loop.

    handset capture -> resample -> encode -> RTP -> SRTP -> socket        (send, every tick)
    socket -> demux -> SRTP -> RTP -> jitter buffer -> decode/PLC -> resample -> handset (tick)

Latency: a captured frame is encoded and sent in the tick that captured it; a received packet is
played at the first tick where the jitter buffer judges it due (a fraction of a frame on a clean
path). Packets of any duration the codec allows (a=ptime 10..120 ms) are decoded whole and
played 20 ms per tick from a residue (jitterbuffer.py).

Security rule (architecture.md): no audio leaves or is played before SRTP keys are set, unless
`allow_cleartext()` was called because ZRTP failed and the user/setting allows it. Keys are set
with `set_srtp`, or `accept_srtp` to receive before we may send (RFC 6189 §4.6); the same keys
again keep their context (RFC 3711 §9.1, srtp_keying.py).

Clock: with `clock=None` the stream ticks itself every 20 ms from a kernel timer read by the
event loop (ticker.py) and keeps time on `time.monotonic()`; with an injected `clock` (a
zero-argument callable returning seconds) nothing is scheduled and the owner calls `tick()`
(tests, benchmarks with a virtual clock). A conference takes the ticks over (`hand_ticks_over`,
`take_ticks_back`) and the handset (`use_audio`): one timer for all its legs (conference.py).

Parts. This module is the stream's lifecycle, its commands, who ticks it and the tick (send one
frame, play one frame, RTCP); it owns the codec, the jitter buffer and the RTCP session, and
composes the parts that own the rest:
* transport.py — the sockets (own port pair, an adopted ICE pair, a TURN relay), the path
  (symmetric RTP, RFC 4961; rtcp-mux, RFC 5761; port + 1, RFC 3550 §11; ICE, RFC 8445 §12) and
  the receive modes ("reader" until secure audio, then "drained" at the tick: one loop wake-up
  per frame);
* receive.py — what arrives (demux, SRTP, RTP/RTCP/ZRTP/STUN handlers and their counters), handed
  the codec, jitter buffer, RTCP session and SRTP context in use (and by the transport its
  sockets and addresses);
* send.py — the next RTP packet from a captured frame (SSRC, sequence, timestamp, marker, DTMF);
* srtp_keying.py — the SRTP context and whether we may send with it;
* playout.py — the played frame (decode/PLC, residue, resampling to the handset);
* encryption.py — the encryption plug-in's seam; stats.py — the statistics snapshot.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import time
from collections.abc import Callable

from deskphone.devices.audio import AudioPort
from deskphone.media.codecs import Codec, NegotiatedCodec, codec_key, create_codec
from deskphone.media.encryption import EncryptableStream, MediaEncryption
from deskphone.media.jitterbuffer import JitterBuffer
from deskphone.media.playout import Playout
from deskphone.media.receive import MediaReceiver
from deskphone.media.rtcp import RtcpSession
from deskphone.media.send import RtpSender
from deskphone.media.srtp import SrtpKeysLike
from deskphone.media.srtp_keying import SrtpKeying
from deskphone.media.stats import MediaStats, media_stats
from deskphone.media.ticker import PeriodicTicker
from deskphone.media.transport import MediaTransport
from deskphone.media.udp_socket import bind_rtp_rtcp_pair

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
        self.codec_spec: NegotiatedCodec | None = None
        self._codec: Codec | None = None
        self._jitter: JitterBuffer | None = None
        self._rtcp: RtcpSession | None = None
        self._playout: Playout | None = None  # with the codec (playout.py)
        self._keying = SrtpKeying()  # srtp_keying.py
        self._cleartext_allowed = False
        self._audio_on = False
        self._direction = "sendrecv"
        self._sender = RtpSender()  # what we send (send.py)
        self._ticker: PeriodicTicker | None = None
        self._closed = False
        self._receiver = MediaReceiver(self._clock)  # what arrives (receive.py)
        self._transport = MediaTransport(loop, self._clock, self._receiver)  # transport.py

    def _hand_receiver(self) -> None:
        """The receive side gets what it reads (receive.py) each time one of them changes; the
        transport hands it the sockets and addresses itself."""
        receiver = self._receiver
        receiver.srtp, receiver.cleartext_allowed = self._keying.context, self._cleartext_allowed
        receiver.codec, receiver.jitter, receiver.rtcp = self._codec, self._jitter, self._rtcp
        receiver.payload_type = self.codec_spec.payload_type if self.codec_spec else None
        receiver.dtmf_pt = self._sender.dtmf_pt

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

    # ---- where media goes and comes from (transport.py) ------------------------------------------
    @property
    def local_port(self) -> int:
        return self._transport.local_port

    @property
    def local_rtcp_port(self) -> int | None:
        return self._transport.local_rtcp_port

    @property
    def remote(self) -> tuple[str, int] | None:
        """The peer's RTP address (signalled, latched or the ICE pair's), None before known."""
        return self._transport.remote

    @property
    def remote_rtcp(self) -> tuple[str, int] | None:
        """Where RTCP goes: the RTP address with rtcp-mux, else port + 1 or ICE component 2."""
        return self._transport.remote_rtcp

    @property
    def rtcp_mux(self) -> bool:
        return self._transport.rtcp_mux

    @property
    def reader_wakeups(self) -> int:
        """Loop wake-ups for readable media sockets ("reader" mode, transport.py)."""
        return self._transport.reader_wakeups

    # ---- lifecycle -------------------------------------------------------------------------------
    @classmethod
    async def open(cls, local_host: str, port: int = 0, *, audio: AudioPort,
                   loop: asyncio.AbstractEventLoop | None = None,
                   clock: Callable[[], float] | None = None) -> MediaStream:
        """Bind the RTP port (even, `port` or any) and the RTCP port above it."""
        loop = loop or asyncio.get_running_loop()
        stream = cls(audio, loop, clock)
        stream._transport.bind(local_host, port)
        stream._hand_receiver()
        return stream

    def start(self, remote: tuple[str, int], codec: NegotiatedCodec, *, dtmf_pt: int | None,
              send_audio: bool = False, rtcp_mux: bool = True) -> None:
        """Begin media towards `remote` with the negotiated codec (may be called again to
        change either, e.g. after a re-INVITE). `rtcp_mux`: the offer/answer agreed a=rtcp-mux
        (RFC 5761); when False RTCP goes to the peer's RTP port + 1 (RFC 3550 §11)."""
        self._transport.set_remote(remote, rtcp_mux)
        if (self.codec_spec is None or codec_key(codec) != codec_key(self.codec_spec)
                or self._codec is None):
            self.codec_spec = codec
            self._codec = create_codec(codec, secure=not self._cleartext_allowed,
                                       capture_rate=self.audio.rate)
            self._jitter = JitterBuffer(codec.clock_rate, self._codec.timestamp_increment)
            self._sender.use_codec(self._codec, codec.payload_type, self.audio.rate)
            self._playout = Playout(self._codec, self._jitter, codec.clock_rate, self.audio.rate)
        self._sender.use_dtmf(dtmf_pt, codec.clock_rate)
        if self._rtcp is None or self._rtcp.clock_rate != codec.clock_rate:
            ssrc = self._sender.ssrc
            self._rtcp = RtcpSession(ssrc, codec.clock_rate, f"deskphone-{os.getpid()}",
                                     rng=random.Random(ssrc))
            self._rtcp.start(self._clock())
        self._audio_on = send_audio
        self._sender.talkspurt()
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
        self._sender.use_device_rate(audio.rate)
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
        self._receiver.on_latch = self._transport.latch if on else None

    @property
    def ssrc(self) -> int:
        """Our RTP SSRC (RFC 3550 §8): ZRTP packets carry it too (RFC 6189 §5)."""
        return self._sender.ssrc

    def set_srtp(self, keys: SrtpKeysLike) -> None:
        """Protect what we send and check what we receive with `keys` from now on (the same
        keys again keep the context, srtp_keying.py)."""
        self._keying.send_with(keys)
        self._receiver.on_srtp_authenticated = None
        self._hand_receiver()
        self._update_receive_mode()

    def accept_srtp(self, keys: SrtpKeysLike, on_authenticated: Callable[[], None]) -> None:
        """Decrypt the peer's SRTP with `keys` but send nothing yet; `on_authenticated()` once,
        when the first packet authenticates (RFC 6189 §4.6: an implicit Conf2ACK)."""
        if not self._keying.receive_with(keys):
            return  # already sending with keys of its own: never step back to receive-only
        self._receiver.on_srtp_authenticated = on_authenticated
        self._hand_receiver()

    def enable_audio(self, on: bool) -> None:
        self._audio_on = on
        self._sender.talkspurt()
        self._update_receive_mode()

    def allow_cleartext(self) -> None:
        self._cleartext_allowed = True
        self._hand_receiver()

    def set_direction(self, direction: str) -> None:
        if direction not in DIRECTIONS:
            raise ValueError(f"media direction {direction!r} unknown, expected one of {DIRECTIONS}")
        self._direction = direction
        self._sender.talkspurt()

    def send_dtmf(self, key: str) -> None:
        self._sender.press(key)

    def send_zrtp(self, packet: bytes) -> None:
        self._sendto(packet)

    # ---- an ICE pair as the path (RFC 8445 §12, transport.py) ----------------------------------
    def await_path(self) -> None:
        """ICE is under way: send nothing (no ZRTP, no RTCP) until `adopt_socket` or
        `use_relay` names the nominated pair."""
        self._transport.await_path()

    def adopt_socket(self, sock: socket.socket, remote: tuple[str, int],
                     on_stun: Callable[[bytes, tuple[str, int]], None], *,
                     rtcp_mux: bool = True) -> None:
        """Carry the stream on the nominated host/srflx pair's UDP socket, read like our own
        (one wake-up per frame once secure). The stream's own ports are closed; STUN on the
        pair (the peer's checks and consent, RFC 7675) goes to `on_stun` (the ICE agent)."""
        self._transport.adopt_socket(sock, remote, on_stun, rtcp_mux=rtcp_mux)
        self._update_receive_mode()

    def use_relay(self, send: Callable[[bytes, tuple[str, int] | None], object],
                  remote: tuple[str, int], *, rtcp_mux: bool = True) -> None:
        """Carry the stream on a TURN relay pair: `send(datagram, to)` is the agent's (`to`
        None: the pair's peer), what arrives comes through `relay_received` (the TURN client
        owns that socket)."""
        self._transport.use_relay(send, remote, rtcp_mux=rtcp_mux)
        self._update_receive_mode()

    def use_rtcp_pair(self, send: Callable[[bytes], object], remote: tuple[str, int]) -> None:
        """ICE with two components (no rtcp-mux, RFC 8445 §4): RTCP goes out through `send`
        (component 2's pair) and comes in through `rtcp_pair_received`."""
        self._transport.use_rtcp_pair(send, remote)

    def rtcp_pair_received(self, data: bytes) -> None:
        """A datagram of the component-2 pair (aioice reads that socket)."""
        self._transport.rtcp_pair_received(data)

    def relay_received(self, data: bytes) -> None:
        """A datagram of the relay pair, unwrapped by the TURN client (source: the pair)."""
        self._transport.relay_received(data)

    @property
    def secure(self) -> bool:
        return self._keying.secure

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
        self._transport.close()
        await asyncio.sleep(0)

    def _update_receive_mode(self) -> None:
        """"drained" exactly while the call is secure with audio on (transport.py)."""
        self._transport.set_drained(self.secure and self._audio_on and self._codec is not None
                                    and not self._closed)

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
        self._transport.drain()
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
        out = self._sender.next_packet(
            captured, self._media_allowed and self._direction not in ("recvonly", "inactive"))
        if out is None:
            return
        data = out.packet
        srtp = self._keying.context
        if srtp is not None:
            data = srtp.protect(data)  # sending only when secure: see _media_allowed
        assert self._rtcp is not None
        self._rtcp.on_rtp_sent(out.timestamp, out.payload_length, now)
        self._sendto(data)

    def _send_rtcp(self, report: bytes) -> None:
        srtp = self._keying.context
        if srtp is not None:
            report = srtp.protect_rtcp(report)
        self._transport.send_rtcp(report)

    def _sendto(self, data: bytes) -> None:
        self._transport.send(data)

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
        transport = self._transport
        return media_stats(self._rtcp, self._jitter, self._keying.context,
                           self._receiver.counters, [s.stats for s in transport.sockets()],
                           secure=self.secure, srtp_contexts=self._keying.contexts_built,
                           receive_mode="drained" if transport.drained else "reader")
