"""The media path's UDP socket: non-blocking, every datagram stamped with its kernel arrival time.

Why the stamp. Once a call is secure the stream stops waking for each packet and reads the socket
from its 20 ms tick instead (transport.py, "drained" mode): one loop wake-up per frame, not two.
A packet read at a tick has waited up to 20 ms in the socket, so "now" at the read is not when it
arrived; the jitter buffer and RTCP interarrival jitter (RFC 3550 §6.4.1, A.8) would then see 20 ms
of quantisation noise that is not on the network. The kernel stamps every received skb anyway;
SO_TIMESTAMPNS (socket(7)) hands the stamp to recvmsg as SCM_TIMESTAMPNS ancillary data, a struct
timespec of CLOCK_REALTIME. (SO_TIMESTAMPING's software receive stamp is the same CLOCK_REALTIME
value; Linux has no monotonic receive stamp for sockets.) `arrival_times` maps the stamps to the
stream's monotonic clock by the offset between the two clocks read together at the drain.

Constants. Python's socket module does not export SO_TIMESTAMPNS. The values are Linux's generic
ones (include/uapi/asm-generic/socket.h, used by x86, arm and arm64): SO_TIMESTAMPNS_OLD = 35
(struct timespec with the C library's `long`: 32-bit seconds on 32-bit ARM) and, since Linux 5.1,
SO_TIMESTAMPNS_NEW = 64 (struct __kernel_timespec, two 64-bit fields on every architecture, safe
past 2038). NEW is asked for first; the control message's type says which layout came back.

Errors. `receive` never raises: EAGAIN ends a drain, any other socket error ends it too and is
counted (an unconnected UDP socket reports almost none). A datagram larger than the buffer is
dropped and counted as truncated (MSG_TRUNC) rather than parsed in part. `send` drops the packet
when the socket buffer is full (real-time media is better late-never than late) and counts it.
"""

from __future__ import annotations

import logging
import select
import socket
import struct
from dataclasses import dataclass

log = logging.getLogger(__name__)

SO_TIMESTAMPNS_OLD = 35  # asm-generic/socket.h; SCM_TIMESTAMPNS_OLD has the same value
SO_TIMESTAMPNS_NEW = 64  # Linux >= 5.1
_TIMESPEC_NEW = struct.Struct("=qq")  # struct __kernel_timespec {s64 tv_sec; s64 tv_nsec}
_TIMESPEC_OLD = struct.Struct("@ll")  # struct timespec {long tv_sec; long tv_nsec} (native)
# The largest datagram taken. An RTP packet on a 1500-byte path is far smaller, and the largest
# Opus frame is 1275 octets (RFC 6716 §3.4, R2), so 60 ms of Opus at its top rate (3 frames) fits
# with SRTP and header room. Only 120 ms of Opus near 510 kb/s would not (and would need IP
# fragmentation first): it is dropped and counted. Not larger, because recvmsg allocates the whole
# buffer for every datagram and shrinks it after: 8 KiB costs ~2 µs more per packet than 4 KiB.
RECEIVE_BUFFER = 4096
_ANCILLARY = socket.CMSG_SPACE(_TIMESPEC_NEW.size)
MAX_BATCH = 256  # datagrams read per drain at most; the rest wait for the next one
# plain ints: socket.MSG_TRUNC is an IntFlag, and `flags & IntFlag` runs enum code per datagram
_MSG_TRUNC = int(socket.MSG_TRUNC)
_SOL_SOCKET = int(socket.SOL_SOCKET)

Datagram = tuple[bytes, tuple[str, int], float | None]  # data, source, CLOCK_REALTIME seconds


@dataclass(slots=True)
class UdpSocketStats:
    received: int = 0
    truncated: int = 0  # longer than RECEIVE_BUFFER: dropped (MSG_TRUNC)
    receive_errors: int = 0
    send_dropped: int = 0  # socket buffer full (EAGAIN): packet dropped
    send_errors: int = 0  # any other send failure (no route, EPERM from a firewall...)


class MediaUdpSocket:
    """Owns one bound UDP socket of a media stream (RTP, or RTCP on port + 1)."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.stats = UdpSocketStats()
        self.timestamps = self._enable_timestamps(sock)
        # "anything more queued?" after a datagram: poll(0) costs a third of a recvmsg that ends
        # in EAGAIN (no receive buffer to allocate, no exception to raise)
        self._poll = select.poll()
        self._poll.register(sock.fileno(), select.POLLIN)
        if not self.timestamps:
            log.warning("media socket %s: no kernel receive timestamps (SO_TIMESTAMPNS): "
                        "arrival times are those of the read", sock.getsockname())

    @staticmethod
    def _enable_timestamps(sock: socket.socket) -> bool:
        for option in (SO_TIMESTAMPNS_NEW, SO_TIMESTAMPNS_OLD):
            try:
                sock.setsockopt(socket.SOL_SOCKET, option, 1)
                return True
            except OSError:
                continue
        return False

    def fileno(self) -> int:
        return self.sock.fileno()

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def receive(self, limit: int = MAX_BATCH) -> list[Datagram]:
        """Every datagram queued now (up to `limit`), oldest first, each with the kernel's
        CLOCK_REALTIME arrival stamp in seconds (None when the kernel gave none)."""
        batch: list[Datagram] = []
        recvmsg = self.sock.recvmsg
        poll = self._poll.poll
        stats = self.stats
        while len(batch) < limit:
            if batch and not poll(0):
                break
            try:
                data, ancillary, flags, source = recvmsg(RECEIVE_BUFFER, _ANCILLARY)
            except BlockingIOError:
                break
            except OSError as exc:  # e.g. a pending ICMP error on a connected peer
                stats.receive_errors += 1
                log.debug("media socket receive error: %s", exc)
                break
            if flags & _MSG_TRUNC:
                stats.truncated += 1
                continue
            stats.received += 1
            batch.append((data, (source[0], source[1]), _stamp(ancillary)))
        return batch

    def send(self, data: bytes, address: tuple[str, int]) -> bool:
        try:
            self.sock.sendto(data, address)
            return True
        except BlockingIOError:
            self.stats.send_dropped += 1
        except OSError as exc:
            self.stats.send_errors += 1
            log.debug("media socket send to %s failed: %s", address, exc)
        return False

    def close(self) -> None:
        self.sock.close()


def _stamp(ancillary: list[tuple[int, int, bytes]]) -> float | None:
    for level, kind, data in ancillary:
        if level != _SOL_SOCKET:
            continue
        if kind == SO_TIMESTAMPNS_NEW and len(data) >= _TIMESPEC_NEW.size:
            seconds, nanoseconds = _TIMESPEC_NEW.unpack_from(data)
        elif kind == SO_TIMESTAMPNS_OLD and len(data) >= _TIMESPEC_OLD.size:
            seconds, nanoseconds = _TIMESPEC_OLD.unpack_from(data)
        else:
            continue
        return seconds + nanoseconds * 1e-9
    return None


# A stamp older than this at the drain is not believed: CLOCK_REALTIME was stepped (NTP at boot on
# a board without an RTC, an operator's `date -s`) between the arrival and the read. The packet is
# then taken as arriving at the read, as without stamps. A genuine stall this long has made the
# packet useless for playout anyway (jitterbuffer max_delay is 0.3 s).
MAX_BELIEVED_AGE = 2.0


def arrival_time(stamp: float | None, reference_now: float, realtime_now: float) -> float:
    """The arrival of a datagram stamped `stamp` (CLOCK_REALTIME seconds) on the reference clock,
    given both clocks read together at the drain: the reference reading minus the packet's age.
    Measuring the offset at every drain follows any slew or step of CLOCK_REALTIME; an age that is
    negative or beyond MAX_BELIEVED_AGE (a step between arrival and read) falls back to the read."""
    if stamp is None:
        return reference_now
    age = realtime_now - stamp
    # a stamp a hair ahead of our realtime read (the two clock reads race) has just arrived
    if not 0.0 <= age <= MAX_BELIEVED_AGE:
        return reference_now
    return reference_now - age


# ---- binding a stream's ports -------------------------------------------------------------
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
