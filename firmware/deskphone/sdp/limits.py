"""What one SDP body may carry: the caps that bound the work a hostile offer can cause.

Issue 21: 15,000 formats once froze the phone. A SIP message is at most 65535 bytes over UDP; a
larger body is not a phone call. RTP has 128 payload types (RFC 3551 §3), so an m= line with more
formats repeats one. Real offers (Linphone, Asterisk, browsers) carry a few dozen lines; the limits
leave a wide margin and bound the work per offer. An offer over a limit raises SdpError, which the
call layer answers with 488 (RFC 3261 §21.4.26).
"""

from __future__ import annotations

MAX_SDP_BYTES = 65535
MAX_SDP_LINES = 2048
MAX_MEDIA_DESCRIPTIONS = 32
MAX_FORMATS_PER_MEDIA = 128
MAX_ATTRIBUTES_PER_SECTION = 512

__all__ = [
    "MAX_ATTRIBUTES_PER_SECTION",
    "MAX_FORMATS_PER_MEDIA",
    "MAX_MEDIA_DESCRIPTIONS",
    "MAX_SDP_BYTES",
    "MAX_SDP_LINES",
]
