"""What one media stream reports (`MediaStream.stats`): its parts' counters in one snapshot.

Read by the call layer's `state` and the benches a few times a second at most, never on the audio
path: each part keeps its own counters (RTCP session, jitter buffer, SRTP context, sockets, the
receive side) and `media_stats` only reads their public statistics.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from deskphone.media.jitterbuffer import JitterBuffer
from deskphone.media.receive import ReceiveCounters
from deskphone.media.rtcp import RtcpSession
from deskphone.media.srtp import SrtpContext
from deskphone.media.udp_socket import UdpSocketStats


@dataclass(frozen=True, slots=True)
class MediaStats:
    packets_sent: int
    packets_received: int
    rtcp_received: int
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
    srtp_contexts: int  # SRTP contexts built: 1 once keyed (RFC 3711 §9.1, srtp_keying.py)
    receive_mode: str  # "reader" (woken per datagram) or "drained" (read at each tick)
    send_failed: int  # socket buffer full or a send error: the packet was dropped
    latched: int = 0  # symmetric RTP: media followed the peer's authenticated new source


def media_stats(rtcp: RtcpSession | None, jitter: JitterBuffer | None, srtp: SrtpContext | None,
                received: ReceiveCounters, sockets: Iterable[UdpSocketStats], *,
                secure: bool, srtp_contexts: int, receive_mode: str) -> MediaStats:
    """One snapshot of a stream's parts (None: not set up yet, reported as zero)."""
    snap = rtcp.snapshot() if rtcp is not None else None
    jb = jitter.stats if jitter is not None else None
    srtp_stats = srtp.stats if srtp is not None else None
    socket_stats = list(sockets)
    return MediaStats(
        packets_sent=snap.packets_sent if snap else 0,
        packets_received=received.packets_received,
        rtcp_received=received.rtcp_received,
        lost=snap.packets_lost if snap else 0,
        jitter_ms=round(snap.jitter_ms, 2) if snap else 0.0,
        rtt_ms=round(snap.rtt_ms, 2) if snap and snap.rtt_ms is not None else None,
        remote_lost=snap.remote_packets_lost if snap else 0,
        remote_fraction_lost=snap.remote_fraction_lost if snap else 0.0,
        srtp_auth_failures=srtp_stats.auth_failures if srtp_stats else 0,
        srtp_replays=srtp_stats.replays if srtp_stats else 0,
        concealed=jb.concealed if jb else 0,
        late=jb.late if jb else 0,
        duplicates=jb.duplicates if jb else 0,
        playout_delay_ms=jitter.delay_ms if jitter is not None else 0.0,
        target_delay_ms=jb.target_delay_ms if jb else 0.0,
        dropped_cleartext=received.dropped_cleartext,
        dropped_foreign=received.dropped_foreign,
        malformed=received.malformed + sum(s.truncated for s in socket_stats),
        stun_answered=received.stun_answered,
        zrtp_received=received.zrtp_received,
        secure=secure,
        srtp_contexts=srtp_contexts,
        receive_mode=receive_mode,
        send_failed=sum(s.send_dropped + s.send_errors for s in socket_stats),
        latched=received.latched,
    )
