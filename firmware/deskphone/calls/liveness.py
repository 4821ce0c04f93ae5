"""The far end vanished: no media from it for `[media] inactivity_timeout` seconds ends the call.

A peer that crashed, lost its network or was switched off sends no BYE; without this the call
would stay up on our screen for ever. RTP, RTCP and ZRTP from the peer all count as signs of life
(after SRTP/SRTCP authentication: forged packets at the media port prove nothing). RTCP keeps
flowing on held streams (RFC 3264 §5.1: sendonly, recvonly and inactive streams still send RTCP;
RFC 3550 §6.2 at least every 5 s or so), so a held call is not ended while the peer is there.
The watch samples the stream's counters once a second (the public `stats`, never the audio
path); when nothing moved for the timeout it reports the call lost, and the call layer sends
the BYE (RFC 3261 §15) and shows "Connection lost".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from deskphone.calls.call import ActiveCall, LegState

log = logging.getLogger(__name__)
CHECK_INTERVAL = 1.0  # seconds between samples: the timeout's resolution
WATCHED = (LegState.KEYING, LegState.SECURE, LegState.NOT_SECURE)  # media started, call up


class MediaWatch:
    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float,
                 current: Callable[[], ActiveCall | None],
                 lost: Callable[[ActiveCall, str], None]) -> None:
        self._loop = loop
        self.timeout = timeout
        self._current = current
        self._lost = lost
        self._call: ActiveCall | None = None
        self._seen = -1
        self._since = 0.0
        self._handle: asyncio.TimerHandle | None = None
        if timeout > 0:
            self._handle = loop.call_later(CHECK_INTERVAL, self._check)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _check(self) -> None:
        self._handle = self._loop.call_later(CHECK_INTERVAL, self._check)
        call = self._current()
        now = self._loop.time()
        if call is None or call.media is None or call.state not in WATCHED:
            self._call = None
            return
        stats = call.media.stats
        seen = stats.packets_received + stats.rtcp_received + stats.zrtp_received
        if call is not self._call or seen != self._seen:
            self._call, self._seen, self._since = call, seen, now
            return
        if now - self._since >= self.timeout:
            self._call = None
            detail = f"no RTP, RTCP or ZRTP from the peer for {now - self._since:.0f} s"
            log.info("call %s: %s", call.call_id, detail)
            self._lost(call, detail)
