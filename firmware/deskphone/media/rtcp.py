"""RTCP (RFC 3550 §6): sender/receiver reports, reception statistics, round-trip time.

Sans-IO. `RtcpSession` is told about every RTP packet sent and received (with `now`), parses
incoming compound RTCP, and builds our own compound report (SR or RR + SDES CNAME) when its timer
fires. `ReceptionStatistics` is the RFC 3550 Appendix A.1/A.3/A.8 bookkeeping for one source.
Everything a call-statistics screen shows comes out of `RtcpSession.snapshot()`.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

RTCP_SR = 200
RTCP_RR = 201
RTCP_SDES = 202
RTCP_BYE = 203
RTCP_APP = 204
SDES_CNAME = 1

# RFC 3550 §6.2: 5 s minimum interval; we are a two-party call so the "reduced minimum" of
# §6.2 is not needed. Randomised in [0.5, 1.5] x interval (§6.3.1) to avoid synchronisation.
RTCP_INTERVAL = 5.0
_NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01
# RFC 3550 §A.1: sequence validation constants.
MAX_DROPOUT = 3000
MAX_MISORDER = 100
MIN_SEQUENTIAL = 2


class RtcpError(ValueError):
    """A datagram that is not well-formed (compound) RTCP."""


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """RFC 3550 §6.4.1 reception report block."""

    ssrc: int
    fraction_lost: int  # fixed point, /256
    cumulative_lost: int  # signed 24 bit
    highest_sequence: int  # extended
    jitter: int  # RTP timestamp units
    last_sr: int  # middle 32 bits of the NTP timestamp of the last SR received
    delay_since_last_sr: int  # units of 1/65536 s

    def serialize(self) -> bytes:
        lost = self.cumulative_lost & 0xFFFFFF
        return struct.pack(
            "!IIIIII",
            self.ssrc,
            ((self.fraction_lost & 0xFF) << 24) | lost,
            self.highest_sequence & 0xFFFFFFFF,
            self.jitter & 0xFFFFFFFF,
            self.last_sr & 0xFFFFFFFF,
            self.delay_since_last_sr & 0xFFFFFFFF,
        )

    @classmethod
    def parse(cls, data: bytes, offset: int) -> ReportBlock:
        ssrc, word, highest, jitter, lsr, dlsr = struct.unpack_from("!IIIIII", data, offset)
        lost = word & 0xFFFFFF
        if lost & 0x800000:
            lost -= 0x1000000
        return cls(ssrc, word >> 24, lost, highest, jitter, lsr, dlsr)


@dataclass(frozen=True, slots=True)
class SenderReport:
    ssrc: int
    ntp_timestamp: int  # 64-bit NTP
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    ssrc: int
    reports: tuple[ReportBlock, ...] = ()


@dataclass(frozen=True, slots=True)
class SourceDescription:
    ssrc: int
    cname: str


@dataclass(frozen=True, slots=True)
class Goodbye:
    ssrcs: tuple[int, ...]


RtcpPacket = SenderReport | ReceiverReport | SourceDescription | Goodbye


def _header(count: int, packet_type: int, body_len: int) -> bytes:
    # RFC 3550 §6.4.1: length is in 32-bit words minus one, header included.
    return struct.pack("!BBH", 0x80 | count, packet_type, (body_len + 4) // 4 - 1)


def build_sender_report(sr: SenderReport) -> bytes:
    body = struct.pack(
        "!IQIII",
        sr.ssrc,
        sr.ntp_timestamp,
        sr.rtp_timestamp & 0xFFFFFFFF,
        sr.packet_count & 0xFFFFFFFF,
        sr.octet_count & 0xFFFFFFFF,
    ) + b"".join(r.serialize() for r in sr.reports)
    return _header(len(sr.reports), RTCP_SR, len(body)) + body


def build_receiver_report(rr: ReceiverReport) -> bytes:
    body = struct.pack("!I", rr.ssrc) + b"".join(r.serialize() for r in rr.reports)
    return _header(len(rr.reports), RTCP_RR, len(body)) + body


def build_sdes(sdes: SourceDescription) -> bytes:
    cname = sdes.cname.encode()[:255]
    chunk = struct.pack("!IBB", sdes.ssrc, SDES_CNAME, len(cname)) + cname
    chunk += bytes(4 - len(chunk) % 4)  # RFC 3550 §6.5: null item(s) end the chunk on a word
    return _header(1, RTCP_SDES, len(chunk)) + chunk


def build_bye(bye: Goodbye) -> bytes:
    body = b"".join(struct.pack("!I", s) for s in bye.ssrcs)
    return _header(len(bye.ssrcs), RTCP_BYE, len(body)) + body


def parse_rtcp(data: bytes) -> list[RtcpPacket]:
    """Parse a compound RTCP packet (RFC 3550 §6.1). Unknown packet types are skipped."""
    packets: list[RtcpPacket] = []
    offset = 0
    if len(data) < 4:
        raise RtcpError(f"RTCP packet of {len(data)} octets is shorter than a 4-octet header")
    while offset < len(data):
        if offset + 4 > len(data):
            raise RtcpError(f"RTCP compound packet has {len(data) - offset} trailing octets")
        first, packet_type, words = struct.unpack_from("!BBH", data, offset)
        if first >> 6 != 2:
            raise RtcpError(f"RTCP version {first >> 6} at offset {offset}, expected 2")
        length = (words + 1) * 4
        end = offset + length
        if end > len(data):
            raise RtcpError(
                f"RTCP packet type {packet_type} claims {length} octets, {len(data) - offset} left"
            )
        if first & 0x20:
            pad = data[end - 1]
            if pad == 0 or pad > length - 4:
                raise RtcpError(f"RTCP padding count {pad} invalid for a {length}-octet packet")
            end_body = end - pad
        else:
            end_body = end
        count = first & 0x1F
        body = offset + 4
        if packet_type == RTCP_SR:
            if body + 24 + 24 * count > end_body:
                raise RtcpError(f"RTCP SR with {count} report blocks is truncated")
            ssrc, ntp, rtp_ts, pkts, octets = struct.unpack_from("!IQIII", data, body)
            blocks = tuple(ReportBlock.parse(data, body + 24 + 24 * i) for i in range(count))
            packets.append(SenderReport(ssrc, ntp, rtp_ts, pkts, octets, blocks))
        elif packet_type == RTCP_RR:
            if body + 4 + 24 * count > end_body:
                raise RtcpError(f"RTCP RR with {count} report blocks is truncated")
            (ssrc,) = struct.unpack_from("!I", data, body)
            blocks = tuple(ReportBlock.parse(data, body + 4 + 24 * i) for i in range(count))
            packets.append(ReceiverReport(ssrc, blocks))
        elif packet_type == RTCP_SDES:
            packets.extend(_parse_sdes(data, body, end_body, count))
        elif packet_type == RTCP_BYE:
            if body + 4 * count > end_body:
                raise RtcpError(f"RTCP BYE with {count} SSRCs is truncated")
            packets.append(Goodbye(struct.unpack_from(f"!{count}I", data, body)))
        offset = end
    return packets


def _parse_sdes(data: bytes, pos: int, end: int, count: int) -> list[SourceDescription]:
    result = []
    for _ in range(count):
        if pos + 4 > end:
            raise RtcpError("RTCP SDES chunk truncated before its SSRC")
        (ssrc,) = struct.unpack_from("!I", data, pos)
        pos += 4
        cname = ""
        while pos < end and data[pos] != 0:
            if pos + 2 > end or pos + 2 + data[pos + 1] > end:
                raise RtcpError("RTCP SDES item runs past the end of its packet")
            item, length = data[pos], data[pos + 1]
            if item == SDES_CNAME:
                cname = data[pos + 2 : pos + 2 + length].decode("utf-8", "replace")
            pos += 2 + length
        pos = (pos + 4) & ~3  # skip the terminating null octet(s) to the next word
        result.append(SourceDescription(ssrc, cname))
    return result


class ReceptionStatistics:
    """RFC 3550 Appendix A.1 (sequence/loss), A.3 (fraction lost), A.8 (jitter) for one SSRC."""

    def __init__(
        self, ssrc: int, sequence: int, clock_rate: int, *, probation: int = MIN_SEQUENTIAL - 1
    ) -> None:
        self.ssrc = ssrc
        self.clock_rate = clock_rate
        self.base_seq = sequence
        self.max_seq = sequence
        self.cycles = 0
        self.bad_seq = 0x10000 + 1
        self.received = 0
        self.expected_prior = 0
        self.received_prior = 0
        self.jitter = 0.0  # RTP timestamp units, RFC 3550 §6.4.1
        self._transit: int | None = None
        self.probation = probation

    @property
    def extended_max(self) -> int:
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        return self.extended_max - self.base_seq + 1

    @property
    def lost(self) -> int:
        return self.expected - self.received

    def update(self, sequence: int, timestamp: int, now: float) -> bool:
        """Account one packet; returns False when it is judged invalid (A.1 update_seq)."""
        udelta = (sequence - self.max_seq) & 0xFFFF
        if self.probation:
            if sequence == (self.max_seq + 1) & 0xFFFF:
                self.probation -= 1
                self.max_seq = sequence
                if self.probation == 0:
                    self._restart(sequence)
                    self.received += 1
                    self._jitter(timestamp, now)
                    return True
            else:
                self.probation = MIN_SEQUENTIAL - 1
                self.max_seq = sequence
            return False
        if udelta < MAX_DROPOUT:
            if sequence < self.max_seq:
                self.cycles += 0x10000  # RFC 3550 A.1: sequence number wrapped
            self.max_seq = sequence
        elif udelta <= 0x10000 - MAX_MISORDER:
            if sequence == self.bad_seq:
                self._restart(sequence)  # two sequential packets: the source restarted
            else:
                self.bad_seq = (sequence + 1) & 0xFFFF
                return False
        # else: duplicate or reordered packet, counted as received (A.1)
        self.received += 1
        self._jitter(timestamp, now)
        return True

    def _restart(self, sequence: int) -> None:
        self.base_seq = sequence
        self.max_seq = sequence
        self.bad_seq = 0x10000 + 1
        self.cycles = 0
        self.received = 0
        self.received_prior = 0
        self.expected_prior = 0

    def _jitter(self, timestamp: int, now: float) -> None:
        # RFC 3550 §6.4.1 / A.8: J += (|D| - J) / 16, D in timestamp units.
        arrival = int(now * self.clock_rate)
        transit = (arrival - timestamp) & 0xFFFFFFFF
        if self._transit is not None:
            d = (transit - self._transit) & 0xFFFFFFFF
            if d >= 0x80000000:
                d = 0x100000000 - d
            self.jitter += (d - self.jitter) / 16.0
        self._transit = transit

    def report_block(self, last_sr: int, delay_since_last_sr: int) -> ReportBlock:
        expected = self.expected
        expected_interval = expected - self.expected_prior
        received_interval = self.received - self.received_prior
        self.expected_prior = expected
        self.received_prior = self.received
        lost_interval = expected_interval - received_interval
        fraction = 0
        if expected_interval > 0 and lost_interval > 0:
            fraction = (lost_interval << 8) // expected_interval  # RFC 3550 A.3
        lost = max(-0x800000, min(0x7FFFFF, self.lost))
        return ReportBlock(
            self.ssrc, fraction, lost, self.extended_max, int(self.jitter), last_sr,
            delay_since_last_sr,
        )


@dataclass(frozen=True, slots=True)
class RtcpSnapshot:
    """What a call-statistics screen shows, from both directions."""

    packets_sent: int
    octets_sent: int
    packets_received: int
    packets_lost: int
    jitter_ms: float
    remote_fraction_lost: float  # 0..1, as the peer reports about our stream
    remote_packets_lost: int
    remote_jitter_ms: float
    rtt_ms: float | None


def ntp_from_seconds(seconds_since_unix_epoch: float) -> int:
    secs = int(seconds_since_unix_epoch) + _NTP_EPOCH_OFFSET
    frac = int((seconds_since_unix_epoch % 1.0) * (1 << 32))
    return ((secs & 0xFFFFFFFF) << 32) | (frac & 0xFFFFFFFF)


def _ntp_middle(ntp: int) -> int:
    return (ntp >> 16) & 0xFFFFFFFF


class RtcpSession:
    """Sans-IO RTCP for one two-party audio stream.

    `wallclock_offset` maps the monotonic `now` to seconds since the Unix epoch for the SR NTP
    field; RTT needs only that it stays constant during the call (RFC 3550 §6.4.1).
    """

    def __init__(
        self,
        ssrc: int,
        clock_rate: int,
        cname: str,
        *,
        wallclock_offset: float = 0.0,
        rng: random.Random | None = None,
    ) -> None:
        self.ssrc = ssrc
        self.clock_rate = clock_rate
        self.cname = cname
        self.wallclock_offset = wallclock_offset
        self._rng = rng or random.Random(ssrc)
        self.packets_sent = 0
        self.octets_sent = 0
        self._last_rtp_timestamp = 0
        self._last_rtp_sent_at: float | None = None
        self._sent_since_report = False
        self.source: ReceptionStatistics | None = None
        self._last_sr_middle = 0
        self._last_sr_received_at: float | None = None
        self._remote_block: ReportBlock | None = None
        self.rtt: float | None = None
        self.malformed = 0
        self.bye_received = False
        self._next_report: float | None = None

    # ---- RTP bookkeeping -------------------------------------------------------------------
    def on_rtp_sent(self, timestamp: int, payload_len: int, now: float) -> None:
        self.packets_sent += 1
        self.octets_sent += payload_len
        self._last_rtp_timestamp = timestamp
        self._last_rtp_sent_at = now
        self._sent_since_report = True

    def on_rtp_received(self, ssrc: int, sequence: int, timestamp: int, now: float) -> None:
        if self.source is None or self.source.ssrc != ssrc:
            # A signalled peer (SDP) needs no probation: accept its first packet (A.1 note).
            self.source = ReceptionStatistics(ssrc, sequence, self.clock_rate, probation=0)
        self.source.update(sequence, timestamp, now)

    # ---- timers ----------------------------------------------------------------------------
    def get_timer(self) -> float | None:
        return self._next_report

    def start(self, now: float) -> None:
        # RFC 3550 §6.2: the first report may be sent after half the minimum interval.
        self._next_report = now + RTCP_INTERVAL * 0.5 * self._rng.uniform(0.5, 1.5)

    def handle_timer(self, now: float) -> bytes | None:
        if self._next_report is None or now < self._next_report:
            return None
        self._next_report = now + RTCP_INTERVAL * self._rng.uniform(0.5, 1.5)
        return self.build_report(now)

    # ---- build / receive -------------------------------------------------------------------
    def build_report(self, now: float) -> bytes:
        blocks: tuple[ReportBlock, ...] = ()
        if self.source is not None and self.source.received:
            dlsr = 0
            if self._last_sr_received_at is not None:
                dlsr = int((now - self._last_sr_received_at) * 65536)
            blocks = (self.source.report_block(self._last_sr_middle, dlsr),)
        if self._sent_since_report:
            # RFC 3550 §6.4.1: the SR RTP timestamp corresponds to the NTP time of the report.
            since = now - (self._last_rtp_sent_at or now)
            rtp_ts = (self._last_rtp_timestamp + int(since * self.clock_rate)) & 0xFFFFFFFF
            first = build_sender_report(
                SenderReport(
                    self.ssrc, ntp_from_seconds(now + self.wallclock_offset), rtp_ts,
                    self.packets_sent, self.octets_sent, blocks,
                )
            )
        else:
            first = build_receiver_report(ReceiverReport(self.ssrc, blocks))
        self._sent_since_report = False
        return first + build_sdes(SourceDescription(self.ssrc, self.cname))

    def build_bye(self) -> bytes:
        return build_receiver_report(ReceiverReport(self.ssrc)) + build_bye(Goodbye((self.ssrc,)))

    def receive_rtcp(self, data: bytes, now: float) -> None:
        try:
            packets = parse_rtcp(data)
        except (RtcpError, struct.error):
            self.malformed += 1
            return
        for packet in packets:
            if isinstance(packet, SenderReport):
                self._last_sr_middle = _ntp_middle(packet.ntp_timestamp)
                self._last_sr_received_at = now
                self._take_blocks(packet.reports, now)
            elif isinstance(packet, ReceiverReport):
                self._take_blocks(packet.reports, now)
            elif isinstance(packet, Goodbye):
                self.bye_received = True

    def _take_blocks(self, blocks: tuple[ReportBlock, ...], now: float) -> None:
        for block in blocks:
            if block.ssrc != self.ssrc:
                continue
            self._remote_block = block
            if block.last_sr:
                # RFC 3550 §6.4.1: RTT = A - LSR - DLSR, all in 1/65536 s units.
                arrival = _ntp_middle(ntp_from_seconds(now + self.wallclock_offset))
                rtt_units = (arrival - block.last_sr - block.delay_since_last_sr) & 0xFFFFFFFF
                if rtt_units < 0x80000000:
                    self.rtt = rtt_units / 65536.0

    def snapshot(self) -> RtcpSnapshot:
        src = self.source
        remote = self._remote_block
        return RtcpSnapshot(
            packets_sent=self.packets_sent,
            octets_sent=self.octets_sent,
            packets_received=src.received if src else 0,
            packets_lost=max(0, src.lost) if src else 0,
            jitter_ms=(src.jitter * 1000.0 / self.clock_rate) if src else 0.0,
            remote_fraction_lost=(remote.fraction_lost / 256.0) if remote else 0.0,
            remote_packets_lost=remote.cumulative_lost if remote else 0,
            remote_jitter_ms=(remote.jitter * 1000.0 / self.clock_rate) if remote else 0.0,
            rtt_ms=self.rtt * 1000.0 if self.rtt is not None else None,
        )
