"""Adaptive jitter buffer with a playout clock (sans-IO).

Theory of operation
-------------------
Packets go in with `put(packet, now)`; the audio tick takes exactly one frame out every 20 ms
with `pop(now)`. The buffer keeps `next_timestamp`, the RTP timestamp due to play next.

* Start: after the first packet of a talkspurt, playout begins once it has waited `target_delay`
  (prefetch). Until then, and whenever the stream is idle, `pop` returns SILENCE.
* Every pop plays the frame with `next_timestamp` (AUDIO) or, when it is missing, asks the codec
  to conceal it (LOST) and moves on. A missing frame with nothing newer buffered is an underrun:
  the buffer then holds `next_timestamp` still for one tick (the delay grows by one frame), and
  after `idle_after` underruns in a row it goes idle and prefetches again when packets return.
* Arrivals already behind the playout point are LATE (or DUPLICATE if they were played); a
  packet already queued is a DUPLICATE. Both are dropped and counted.
* Target delay = spread of the relative transit time (arrival - timestamp/clock) over the last
  `window` packets, plus one frame, clamped to [min_delay, max_delay] and rounded up to whole
  frames. It follows measured jitter up and shrinks again when the spread falls: when more than
  target + 1 frames are queued for `shrink_after` ticks in a row, one frame is discarded.
* A new SSRC, or a timestamp that jumps by more than `max_jump` from the playout point, restarts
  the timeline (RFC 3550 §5.1: a source may restart with new random seq/timestamp; RFC 3550 §8.2
  SSRC change), keeping the learned delay.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum

from deskphone.media.rtp import RtpPacket, ts_delta


class FrameKind(Enum):
    AUDIO = "audio"
    LOST = "lost"  # conceal (PLC) this frame
    SILENCE = "silence"  # nothing to play: not started, idle, hold, DTX


@dataclass(frozen=True, slots=True)
class PlayoutFrame:
    kind: FrameKind
    payload: bytes = b""
    packet: RtpPacket | None = None


@dataclass(frozen=True)
class JitterBufferConfig:
    frame_duration: float = 0.020
    min_delay: float = 0.020  # one frame: the least a tick-driven playout can hold
    max_delay: float = 0.300  # beyond this, conversation suffers more than from loss (G.114)
    initial_delay: float = 0.040
    window: int = 100  # packets (2 s at 50/s) of transit history for the target estimate
    shrink_after: int = 10  # ticks with too much queued before one frame is dropped
    idle_after: int = 3  # consecutive underruns before the stream is considered idle
    max_jump: float = 1.0  # seconds of timestamp discontinuity treated as a new timeline
    capacity: int = 50  # frames; anything beyond is dropped (bounded memory)


@dataclass(slots=True)
class JitterBufferStats:
    received: int = 0
    played: int = 0
    concealed: int = 0
    duplicates: int = 0
    late: int = 0
    overflow: int = 0
    dropped_for_delay: int = 0
    underruns: int = 0
    resets: int = 0
    target_delay_ms: float = 0.0


class JitterBuffer:
    def __init__(
        self, clock_rate: int, timestamp_increment: int, config: JitterBufferConfig | None = None
    ) -> None:
        self.config = config or JitterBufferConfig()
        self.clock_rate = clock_rate
        self.increment = timestamp_increment
        self.stats = JitterBufferStats()
        self._frames: dict[int, RtpPacket] = {}
        self._played: deque[int] = deque(maxlen=64)
        self._transits: deque[float] = deque(maxlen=self.config.window)
        self._ssrc: int | None = None
        self.next_timestamp: int | None = None
        self._playing = False
        self._start_at: float | None = None
        self._underruns = 0
        self._over_target_ticks = 0
        self.target_delay = self.config.initial_delay
        self.stats.target_delay_ms = self.target_delay * 1000

    # ---- input --------------------------------------------------------------------------------
    def put(self, packet: RtpPacket, now: float) -> None:
        self.stats.received += 1
        if self._ssrc != packet.ssrc:
            if self._ssrc is not None:
                self._restart()
            self._ssrc = packet.ssrc
        ts = packet.timestamp
        if self.next_timestamp is not None:
            behind = ts_delta(ts, self.next_timestamp)
            if abs(behind) > self.config.max_jump * self.clock_rate:
                self._restart()  # timestamp jump: a new timeline
            elif ts in self._played:
                self.stats.duplicates += 1
                return
            elif behind < 0 and self._playing:
                self.stats.late += 1
                return
        if ts in self._frames:
            self.stats.duplicates += 1
            return
        if len(self._frames) >= self.config.capacity:
            self.stats.overflow += 1
            return
        self._frames[ts] = packet
        self._observe_transit(ts, now)
        if self.next_timestamp is None:
            self.next_timestamp = ts
        if not self._playing and self._start_at is None:
            self._start_at = now + self.target_delay

    def _observe_transit(self, ts: int, now: float) -> None:
        # Relative transit time; its spread over the window is the jitter we must absorb.
        self._transits.append(now - (ts & 0xFFFFFFFF) / self.clock_rate)
        if len(self._transits) >= 2:
            low = min(self._transits)
            high = max(self._transits)
            # compensate the 32-bit timestamp wrap inside the window
            if high - low > 0x80000000 / self.clock_rate:
                self._transits.clear()
                return
            frame = self.config.frame_duration
            wanted = high - low + frame
            frames = -(-wanted // frame)  # round up to whole frames
            target = min(max(frames * frame, self.config.min_delay), self.config.max_delay)
            self.target_delay = target
            self.stats.target_delay_ms = round(target * 1000, 3)

    def _restart(self) -> None:
        self.stats.resets += 1
        self._frames.clear()
        self._played.clear()
        self._transits.clear()
        self.next_timestamp = None
        self._playing = False
        self._start_at = None
        self._underruns = 0

    # ---- output -------------------------------------------------------------------------------
    def queued_frames(self) -> int:
        if self.next_timestamp is None or not self._frames:
            return 0
        newest = max(ts_delta(ts, self.next_timestamp) for ts in self._frames)
        return max(0, newest // self.increment + 1)

    def pop(self, now: float) -> PlayoutFrame:
        if not self._playing:
            if self._start_at is None or now < self._start_at or not self._frames:
                return PlayoutFrame(FrameKind.SILENCE)
            self._playing = True
            self._underruns = 0
            # (Re)start at the oldest queued frame: after idle/DTX the timeline moved on.
            reference = self.next_timestamp if self.next_timestamp is not None else 0
            self.next_timestamp = min(self._frames, key=lambda t: ts_delta(t, reference))
        assert self.next_timestamp is not None
        self._shrink_if_too_deep()
        ts = self.next_timestamp
        packet = self._frames.pop(ts, None)
        if packet is not None:
            self._advance(ts)
            self._underruns = 0
            self.stats.played += 1
            return PlayoutFrame(FrameKind.AUDIO, packet.payload, packet)
        if self._frames:
            # A gap with newer frames queued: lost (or too late). Conceal and move on.
            self._advance(ts, played=False)
            self.stats.concealed += 1
            return PlayoutFrame(FrameKind.LOST)
        # Underrun: nothing queued. Hold the playout point (the delay grows by one frame).
        self.stats.underruns += 1
        self._underruns += 1
        if self._underruns >= self.config.idle_after:
            self._playing = False
            self._start_at = None
            return PlayoutFrame(FrameKind.SILENCE)
        self.stats.concealed += 1
        return PlayoutFrame(FrameKind.LOST)

    def _advance(self, ts: int, *, played: bool = True) -> None:
        if played:
            self._played.append(ts)
        self.next_timestamp = (ts + self.increment) & 0xFFFFFFFF

    def _shrink_if_too_deep(self) -> None:
        target_frames = round(self.target_delay / self.config.frame_duration)
        if self.queued_frames() > target_frames + 1:
            self._over_target_ticks += 1
            if self._over_target_ticks >= self.config.shrink_after:
                self._over_target_ticks = 0
                assert self.next_timestamp is not None
                dropped = self._frames.pop(self.next_timestamp, None)
                if dropped is not None:
                    self.stats.dropped_for_delay += 1
                self._advance(self.next_timestamp, played=dropped is not None)
        else:
            self._over_target_ticks = 0

    @property
    def delay_ms(self) -> float:
        return self.queued_frames() * self.config.frame_duration * 1000
