"""Where one media stream's datagrams come from and go to: its sockets, its path, its receive modes.

The transport owns the stream's UDP sockets (its own RTP/RTCP port pair, or the socket of an ICE
pair it adopted), the path (the peer's RTP and RTCP addresses, rtcp-mux, a TURN relay or an ICE
component-2 pair to send through) and how the event loop reads the RTP socket. It hands the
receive side (receive.py) the sockets and addresses it reads whenever one of them changes; the
stream (stream.py) builds the packets and tells the transport when the call is secure with audio
on. It knows nothing of codecs, SRTP or RTP headers.

Symmetric RTP (RFC 4961): we send from the port we receive on, to the signalled remote address.
RTCP is multiplexed on the RTP port when the offer/answer agreed a=rtcp-mux (RFC 5761); otherwise
it goes to the peer's port + 1, from ours (RFC 3550 §11). Latching (RFC 4961 §5, receive.py
decides when a source is authentic) moves both addresses to the peer's new source.

The path under ICE (RFC 8445 §12: media goes on the selected pair). Until the nominated pair is
known nothing is sent (`await_path`). A host/srflx pair's socket is adopted and read like our
own (`adopt_socket`); its STUN (the peer's checks, consent freshness, RFC 7675) goes to the ICE
agent. A relay pair sends through the TURN client's callable (`use_relay`), which hands back what
arrives (`relay_received`). Without rtcp-mux, ICE's component 2 carries RTCP on a pair of its own
(RFC 8445 §4, `use_rtcp_pair`, `rtcp_pair_received`).

Receive modes of the RTP socket (CPU: one event-loop wake-up per 20 ms frame instead of two).
* "reader" — until the call is secure and its audio is on: the loop wakes the stream as soon as a
  datagram is readable, so ZRTP (RFC 6189 §4: every handshake message answers the previous one),
  STUN and early packets are handled at once and answer -> SAS stays fast.
* "drained" — from then on (`set_drained(True)`): the RTP socket has no reader; each tick first
  reads every datagram queued on it (`drain`: non-blocking, until EAGAIN) and handles them in
  arrival order before it sends and plays. ZRTP (Ping, a retransmitted Confirm2), STUN checks,
  multiplexed RTCP and DTMF wait at most one tick, which none of them minds. The jitter buffer
  and RTCP still see true arrival times: each datagram carries its kernel receive stamp
  (udp_socket.py, SO_TIMESTAMPNS), mapped to the stream's clock, so reading at ticks adds no
  20 ms quantisation to the jitter estimate. Leaving secure audio returns to "reader".
The RTCP port (port + 1) always keeps its reader: it carries a report every few seconds and, from
some peers, a STUN check every 500 ms; reading it at every tick would cost more than those few
wake-ups. Cleartext calls (ZRTP failed, cleartext allowed) stay in "reader" mode.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable

from deskphone.media.receive import MediaReceiver
from deskphone.media.udp_socket import Datagram, MediaUdpSocket, arrival_time, bind_rtp_rtcp_pair

log = logging.getLogger(__name__)

Handler = Callable[[bytes, tuple[str, int], float], None]


class MediaTransport:
    def __init__(self, loop: asyncio.AbstractEventLoop, clock: Callable[[], float],
                 receiver: MediaReceiver) -> None:
        self._loop = loop
        self._clock = clock
        self._realtime = time.time  # what kernel receive stamps are (udp_socket.py)
        self._receiver = receiver  # what arrives goes there (receive.py)
        self.rtp_socket: MediaUdpSocket | None = None
        self.rtcp_socket: MediaUdpSocket | None = None
        self.drained = False  # receive mode, see the module docstring
        # loop wake-ups for readable media sockets ("reader" mode): with the ticker's wake-ups,
        # what the one-wake-up-per-frame property counts (tests/media/test_stream_drained.py)
        self.reader_wakeups = 0
        self.local_port = 0
        self.local_rtcp_port: int | None = None
        self.remote: tuple[str, int] | None = None
        self.remote_rtcp: tuple[str, int] | None = None  # where RTCP goes: RTP port or port + 1
        self.rtcp_mux = True
        self.closed = False
        # ICE (media/ice, driven by the call layer): until the nominated pair is known nothing
        # is sent (await_path); a relay pair sends through this callable (the TURN client)
        # instead of a socket of ours.
        self._path_pending = False
        self._relay_send: Callable[[bytes, tuple[str, int] | None], object] | None = None
        self._rtcp_send: Callable[[bytes], object] | None = None  # an ICE component 2 pair

    def _hand_receiver(self) -> None:
        """The receive side reads these (receive.py): handed each time one of them changes."""
        receiver = self._receiver
        receiver.rtp_socket, receiver.rtcp_socket = self.rtp_socket, self.rtcp_socket
        receiver.remote, receiver.remote_rtcp = self.remote, self.remote_rtcp

    # ---- our own port pair -----------------------------------------------------------------------
    def bind(self, local_host: str, port: int) -> None:
        """Bind the RTP port (even, `port` or any) and the RTCP port above it, both read."""
        rtp_sock, rtcp_sock = bind_rtp_rtcp_pair(local_host, port)
        self.rtp_socket = MediaUdpSocket(rtp_sock)
        self.local_port = self.rtp_socket.port
        self._loop.add_reader(rtp_sock.fileno(), self._on_readable, self.rtp_socket,
                              self._receiver.datagram_received)
        if rtcp_sock is not None:
            self.rtcp_socket = MediaUdpSocket(rtcp_sock)
            self.local_rtcp_port = self.rtcp_socket.port
            self._loop.add_reader(rtcp_sock.fileno(), self._on_readable, self.rtcp_socket,
                                  self._receiver.rtcp_port_received)
        self._hand_receiver()

    def set_remote(self, remote: tuple[str, int], rtcp_mux: bool) -> None:
        """The signalled peer (offer/answer, re-INVITE); its RTCP at the RTP port with rtcp-mux,
        else at port + 1 (RFC 3550 §11) — unless an ICE component-2 pair carries RTCP."""
        self.remote = (remote[0], remote[1])
        self.rtcp_mux = rtcp_mux
        if self._rtcp_send is None:  # an ICE component-2 pair stays where it is
            self.remote_rtcp = self.remote if rtcp_mux else (remote[0], remote[1] + 1)
        self._hand_receiver()

    def latch(self, source: tuple[str, int]) -> None:
        """The peer's authenticated new source (receive.py's `on_latch`, RFC 4961 §5)."""
        log.info("media: latched onto the peer's authenticated source (symmetric RTP)")
        self.remote = (source[0], source[1])
        self.remote_rtcp = self.remote if self.rtcp_mux else (source[0], source[1] + 1)
        self._hand_receiver()

    # ---- an ICE pair as the path (RFC 8445 §12: media goes on the selected pair) -------------
    def await_path(self) -> None:
        self._path_pending = True

    def adopt_socket(self, sock: socket.socket, remote: tuple[str, int],
                     on_stun: Callable[[bytes, tuple[str, int]], None], *,
                     rtcp_mux: bool) -> None:
        self._close_sockets()
        self.rtp_socket = MediaUdpSocket(sock)
        self.local_port = self.rtp_socket.port
        if not self.drained:
            self._loop.add_reader(sock.fileno(), self._on_readable, self.rtp_socket,
                                  self._receiver.datagram_received)
        self._receiver.on_stun = on_stun
        self._set_path(remote, rtcp_mux)

    def use_relay(self, send: Callable[[bytes, tuple[str, int] | None], object],
                  remote: tuple[str, int], *, rtcp_mux: bool) -> None:
        self._close_sockets()
        self._relay_send = send
        self._set_path(remote, rtcp_mux)

    def use_rtcp_pair(self, send: Callable[[bytes], object], remote: tuple[str, int]) -> None:
        self._rtcp_send = send
        self.remote_rtcp = (remote[0], remote[1])
        self._hand_receiver()

    def rtcp_pair_received(self, data: bytes) -> None:
        if self.remote_rtcp is not None and not self.closed:
            self._receiver.rtcp_port_received(data, self.remote_rtcp, self._clock())

    def relay_received(self, data: bytes) -> None:
        if self.remote is not None and not self.closed:
            self._receiver.datagram_received(data, self.remote, self._clock())

    def _set_path(self, remote: tuple[str, int], rtcp_mux: bool) -> None:
        # With ICE one component carries RTP, RTCP and ZRTP; a peer without ICE or rtcp-mux
        # takes its RTCP on port + 1 (RFC 3550 §11), sent from the pair's one socket.
        self.remote = (remote[0], remote[1])
        self.remote_rtcp = self.remote if rtcp_mux else (remote[0], remote[1] + 1)
        self.rtcp_mux = rtcp_mux
        self._path_pending = False
        self._hand_receiver()

    def _close_sockets(self) -> None:
        for media_socket in self.sockets():
            if media_socket is not self.rtp_socket or not self.drained:
                self._loop.remove_reader(media_socket.fileno())
            media_socket.close()
        self.rtp_socket = self.rtcp_socket = None
        self.local_rtcp_port = None

    def close(self) -> None:
        """Nothing is read or sent from now on; what is left of a batch is dropped."""
        self.closed = True
        self._close_sockets()
        self._relay_send = None
        self._hand_receiver()
        self.drained = False

    # ---- sending -----------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        """An RTP or ZRTP packet to the peer, on the path (nothing while ICE is under way)."""
        if self._relay_send is not None:
            self._relay_send(data, None)
        elif (self.rtp_socket is not None and self.remote is not None
              and not self._path_pending):
            self.rtp_socket.send(data, self.remote)

    def send_rtcp(self, report: bytes) -> None:
        """An (S)RTCP compound packet to the peer's RTCP address."""
        if self.remote_rtcp is None or self._path_pending:
            return
        if self._rtcp_send is not None:
            self._rtcp_send(report)
            return
        if self._relay_send is not None:  # a peer without rtcp-mux: at its port + 1
            self._relay_send(report, None if self.rtcp_mux else self.remote_rtcp)
            return
        # symmetric: RTCP leaves from the port the peer sends its RTCP to (RFC 4961)
        media_socket = self.rtp_socket if self.rtcp_mux else self.rtcp_socket or self.rtp_socket
        if media_socket is not None:
            media_socket.send(report, self.remote_rtcp)

    # ---- receive modes -----------------------------------------------------------------------
    def sockets(self) -> list[MediaUdpSocket]:
        return [s for s in (self.rtp_socket, self.rtcp_socket) if s is not None]

    def set_drained(self, secure_audio: bool) -> None:
        """"drained" exactly while the call is secure with audio on (module docstring)."""
        rtp = self.rtp_socket
        drained = secure_audio and not self.closed and rtp is not None
        if drained == self.drained or rtp is None:
            return
        self.drained = drained
        if drained:
            self._loop.remove_reader(rtp.fileno())
        else:
            self._loop.add_reader(rtp.fileno(), self._on_readable, rtp,
                                  self._receiver.datagram_received)
        log.debug("media receive mode: %s", "drained" if drained else "reader")

    def _on_readable(self, media_socket: MediaUdpSocket, handler: Handler) -> None:
        """"reader" mode: the loop saw the socket readable; take everything queued."""
        self.reader_wakeups += 1
        self._dispatch(media_socket.receive(), handler)

    def drain(self) -> None:
        """"drained" mode, at the start of a tick: the RTP socket until EAGAIN, in order."""
        if self.drained and self.rtp_socket is not None:
            self._dispatch(self.rtp_socket.receive(), self._receiver.datagram_received)

    def _dispatch(self, batch: list[Datagram], handler: Handler) -> None:
        if not batch:
            return
        # both clocks read together once per batch: the offset follows any CLOCK_REALTIME slew
        reference_now, realtime_now = self._clock(), self._realtime()
        for data, source, stamp in batch:
            if self.closed:  # a handler ended the call (e.g. ZRTP failed): drop the rest
                return
            handler(data, source, arrival_time(stamp, reference_now, realtime_now))
