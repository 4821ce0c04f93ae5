"""The receive side of one media stream: every datagram from its sockets, demultiplexed and handled.

    RTP port:  demux (RFC 7983) -> STUN: answer | ZRTP: the encryption plug-in
                                -> RTP: SRTP -> RTP header -> DTMF | jitter buffer
                                -> RTCP: SRTCP -> RTCP session
    RTCP port: STUN: answer | RTCP from the peer's host: SRTCP -> RTCP session

Symmetric RTP (RFC 4961): media is accepted only from the signalled remote address; RTCP from the
peer's RTCP address on the RTP port, or from any port of its host on the RTCP port (RFC 5761
§5.1.1). For a peer without ICE the stream may latch (`on_latch`): a packet from another source
moves the remote address there only when it is authentic, i.e. it passed SRTP authentication (not
a replay), or before keys it is the ZRTP Hello the peer's SDP announced (a=zrtp-hash); anything
else from elsewhere is dropped and counted: nobody steals the stream by sending from elsewhere.
Nothing is played or counted as received before SRTP keys are set unless cleartext was allowed
(architecture.md's security rule); what is dropped is counted in `counters`.

The stream (stream.py) owns the codec, the jitter buffer, the RTCP session and the SRTP context
(srtp_keying.py), its transport (transport.py) the sockets and the peer's addresses; each hands
the receiver the ones in use through the public attributes below whenever it changes them (open,
start, set_srtp, allow_cleartext, a latch, an ICE pair, close). The receiver changes none of
them and owns only its counters and the DTMF receiver. This is the hot path (50 packets a second
on a small ARM core): each handler is one call from the socket's batch, as it was in the stream.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from deskphone.media.codecs import Codec
from deskphone.media.demux import PacketKind, classify
from deskphone.media.dtmf import DtmfReceiver
from deskphone.media.jitterbuffer import JitterBuffer
from deskphone.media.rtcp import RtcpSession
from deskphone.media.rtp import FIXED_HEADER, PLAIN_V2, RtpError, parse_rtp
from deskphone.media.srtp import SrtpContext
from deskphone.media.stun import answer_binding_request
from deskphone.media.udp_socket import MediaUdpSocket


@dataclass(slots=True)
class ReceiveCounters:
    """What the receive side took in or dropped (MediaStats reports them)."""

    dropped_cleartext: int = 0  # RTP/RTCP before SRTP keys, cleartext not allowed
    dropped_foreign: int = 0  # not from the signalled peer (symmetric RTP, RFC 4961)
    malformed: int = 0  # not RTP/RTCP/ZRTP/STUN, a bad RTP header, a payload type not negotiated
    stun_answered: int = 0
    zrtp_received: int = 0
    packets_received: int = 0  # RTP that passed SRTP and parsed
    rtcp_received: int = 0  # RTCP that passed SRTCP (or cleartext where allowed)
    latched: int = 0  # times media followed the peer's authenticated new source (RFC 4961)


class MediaReceiver:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        # set by the stream (module docstring)
        self.rtp_socket: MediaUdpSocket | None = None
        self.rtcp_socket: MediaUdpSocket | None = None
        self.remote: tuple[str, int] | None = None
        self.remote_rtcp: tuple[str, int] | None = None
        self.srtp: SrtpContext | None = None
        self.cleartext_allowed = False
        self.codec: Codec | None = None
        self.jitter: JitterBuffer | None = None
        self.rtcp: RtcpSession | None = None
        self.payload_type: int | None = None
        self.dtmf_pt: int | None = None
        self.on_zrtp: Callable[[bytes, tuple[str, int]], None] = lambda packet, source: None
        # Set while the SRTP context only receives (stream.accept_srtp): called once, when the
        # first SRTP packet from the peer authenticates under it, then cleared.
        self.on_srtp_authenticated: Callable[[], None] | None = None
        self.on_dtmf: Callable[[str], None] = lambda key: None
        # An ICE pair's socket (stream.adopt_socket): its STUN is the ICE agent's to answer
        # (checks with the pair's credentials, consent freshness, RFC 7675), not ours.
        self.on_stun: Callable[[bytes, tuple[str, int]], None] | None = None
        # Symmetric RTP latching (stream.enable_latching): None = media only from `remote`.
        self.on_latch: Callable[[tuple[str, int]], None] | None = None
        self.zrtp_authentic: Callable[[bytes], bool] = lambda packet: False
        # the receiver's own
        self.counters = ReceiveCounters()
        self._dtmf_receiver = DtmfReceiver()

    def datagram_received(self, data: bytes, addr: tuple[str, int],
                          arrival: float | None = None) -> None:
        """One datagram from the RTP port; `arrival` on the stream's clock (None: now)."""
        if arrival is None:
            arrival = self._clock()
        kind = classify(data)
        if kind is PacketKind.STUN:
            if self.on_stun is not None:
                self.on_stun(data, addr)
            else:
                self._answer_stun(data, addr, self.rtp_socket)
            return
        if addr != self.remote:
            if kind is PacketKind.RTCP and addr == self.remote_rtcp:
                self._receive_rtcp(data, arrival)
                return
            if self.remote is not None:
                if self.on_latch is not None and self._latched(data, kind, addr, arrival):
                    return
                self.counters.dropped_foreign += 1  # symmetric RTP: only the signalled peer
                return
        if kind is PacketKind.ZRTP:
            self.counters.zrtp_received += 1
            self.on_zrtp(data, addr)  # the source too: early ZRTP is checked by the plug-in
        elif kind is PacketKind.RTP:
            self._receive_rtp(data, arrival)
        elif kind is PacketKind.RTCP:
            self._receive_rtcp(data, arrival)
        else:
            self.counters.malformed += 1

    def rtcp_port_received(self, data: bytes, addr: tuple[str, int],
                           arrival: float | None = None) -> None:
        """RFC 3550 §11: the peer's RTCP from its port + 1 (or, symmetric, any port of its host
        while we multiplex: RFC 5761 §5.1.1 lets a peer fall back to port + 1), or from its
        component-2 ICE candidate (which may be on another address than its RTP)."""
        kind = classify(data)
        if kind is PacketKind.STUN:
            # linphone (mediastreamer2) sends keep-alive Binding Requests every ~500 ms to our
            # RTCP port as well as the RTP port (RFC 7983 demultiplexing applies on both).
            self._answer_stun(data, addr, self.rtcp_socket)
            return
        known = addr == self.remote_rtcp or (self.remote is not None and addr[0] == self.remote[0])
        if not known or kind is not PacketKind.RTCP:
            self.counters.dropped_foreign += 1
            return
        self._receive_rtcp(data, self._clock() if arrival is None else arrival)

    def _latched(self, data: bytes, kind: PacketKind, addr: tuple[str, int],
                 arrival: float) -> bool:
        """A packet from a source other than the peer's: latch onto that source only when the
        packet is authentic (SRTP authentication passed, or, before keys, the ZRTP Hello that
        the peer's SDP announced), then handle it; False leaves it to be dropped as foreign."""
        assert self.on_latch is not None
        if kind is PacketKind.RTP and self.srtp is not None and self.codec is not None:
            plain = self.srtp.unprotect(data)  # a failure is counted in the SRTP stats
            if plain is None:
                return False
            self.counters.latched += 1
            self.on_latch(addr)
            self._receive_rtp(plain, arrival, decrypted=True)
            return True
        if kind is PacketKind.ZRTP and self.srtp is None and self.zrtp_authentic(data):
            self.counters.latched += 1
            self.on_latch(addr)
            self.counters.zrtp_received += 1
            self.on_zrtp(data, addr)  # the stream's remote is addr now: not "early foreign"
            return True
        return False

    def _receive_rtp(self, data: bytes, now: float, decrypted: bool = False) -> None:
        """`now`: the packet's arrival (RFC 3550 §6.4.1 transit; the jitter buffer's too)."""
        if self.codec is None or self.jitter is None or self.rtcp is None:
            return
        if self.srtp is not None:
            if not decrypted:  # `decrypted`: by _latched already
                plain = self.srtp.unprotect(data)
                if plain is None:
                    return  # counted in the SRTP stats (auth failure / replay)
                data = plain
            if self.on_srtp_authenticated is not None:
                authenticated, self.on_srtp_authenticated = self.on_srtp_authenticated, None
                authenticated()
        elif not self.cleartext_allowed:
            self.counters.dropped_cleartext += 1
            return
        if len(data) > FIXED_HEADER.size and data[0] == PLAIN_V2:
            # the usual packet (RFC 3550 §5.1: V=2, no padding, extension or CSRC): read the
            # fixed header in place instead of building an RtpPacket
            _first, second, sequence, timestamp, ssrc = FIXED_HEADER.unpack_from(data)
            payload_type = second & 0x7F
            payload = data[FIXED_HEADER.size:]
        else:
            try:
                packet = parse_rtp(data)
            except RtpError:
                self.counters.malformed += 1
                return
            payload_type, sequence, timestamp, ssrc = (
                packet.payload_type, packet.sequence, packet.timestamp, packet.ssrc)
            payload = packet.payload
        self.counters.packets_received += 1
        self.rtcp.on_rtp_received(ssrc, sequence, timestamp, now)
        if payload_type == self.dtmf_pt:
            key = self._dtmf_receiver.receive(parse_rtp(data))
            if key is not None:
                self.on_dtmf(key)
        elif self.codec is not None and payload_type == self.payload_type:
            self.jitter.put_payload(ssrc, timestamp, payload, now,
                                    self.codec.payload_duration(payload))
        else:
            self.counters.malformed += 1  # a payload type we did not negotiate

    def _receive_rtcp(self, data: bytes, arrival: float) -> None:
        if self.rtcp is None:
            return
        if self.srtp is not None:
            plain = self.srtp.unprotect_rtcp(data)
            if plain is None:
                return
            data = plain
        elif not self.cleartext_allowed:
            self.counters.dropped_cleartext += 1
            return
        self.counters.rtcp_received += 1
        self.rtcp.receive_rtcp(data, arrival)  # RFC 3550 §6.4.1: A, the SR's arrival

    def _answer_stun(self, data: bytes, addr: tuple[str, int],
                     media_socket: MediaUdpSocket | None) -> None:
        """A STUN Binding Request is answered from the port it reached (RFC 5389 §7.3.1)."""
        answer = answer_binding_request(data, addr)
        if answer is not None and media_socket is not None:
            self.counters.stun_answered += 1
            media_socket.send(answer, addr)
