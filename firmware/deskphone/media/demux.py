"""RFC 7983 §7 first-byte demultiplexing of everything arriving on the media port.

    [0..3]     STUN   (RFC 5389)
    [16..19]   ZRTP   (RFC 6189 §5: a ZRTP packet starts 0x10)
    [20..63]   DTLS   (not used by deskphone: dropped)
    [64..79]   TURN channel data (not used: dropped)
    [128..191] RTP or RTCP; RTCP when the second octet is 192..223 (RFC 5761 §4)
"""

from __future__ import annotations

from enum import Enum


class PacketKind(Enum):
    STUN = "stun"
    ZRTP = "zrtp"
    RTP = "rtp"
    RTCP = "rtcp"
    UNKNOWN = "unknown"


def classify(datagram: bytes) -> PacketKind:
    if len(datagram) < 2:
        return PacketKind.UNKNOWN
    first = datagram[0]
    if first <= 3:
        return PacketKind.STUN
    if 16 <= first <= 19:
        return PacketKind.ZRTP
    if 128 <= first <= 191:
        # RFC 5761 §4: RTCP packet types 192..223 sit where RTP's M bit + payload type would be.
        if 192 <= datagram[1] <= 223:
            return PacketKind.RTCP
        return PacketKind.RTP
    return PacketKind.UNKNOWN
