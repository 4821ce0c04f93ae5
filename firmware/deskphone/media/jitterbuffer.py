"""Adaptive jitter buffer with a playout clock (sans-IO).

Theory of operation
-------------------
Packets go in with `put(packet, now, duration)` (or `put_payload`, the same without an RtpPacket
object, for the per-packet path of the stream); the audio tick asks for the next 20 ms with
`pop(now)` exactly once per tick, passing the tick's *scheduled* time (not the time the event loop
got round to it: that scheduling noise is not network jitter and must not inflate the delay).

Timeline. `play_ts` is the RTP timestamp at the start of the tick about to play; `covered_until`
is how far pieces have already been handed out (>= play_ts). A packet covers `duration` timestamp
units, so peers sending 10, 30, 40 or 60 ms packets (RFC 3551 §4.2 a=ptime) play correctly: `pop`
returns the pieces that complete this tick, oldest first, and the caller keeps the decoded audio
of [play_ts, covered_until) as its residue (a 40 ms packet feeds two ticks: the second one gets
no new piece). Each piece is one of
  AUDIO   decode this payload (it covers `duration` units);
  LOST    conceal `duration` units: a gap with newer audio queued (loss, or too late);
  HOLD    nothing due yet: play one concealed frame *outside* the timeline, `play_ts` stays and
          the delay grows by one frame (underrun, or waiting for jitter to catch up);
  SILENCE not playing: before the first packet, after idle (DTX), after a restart.

Delay. Every arrival gives the relative transit `arrival - timestamp/clock_rate` (RFC 3550 §6.4.1
and A.8 use the same quantity for the interarrival jitter). Its minimum over the last `window`
packets is the fastest path; the spread above that minimum is the jitter to absorb. The playout
delay D of the frame at `play_ts` is how long after its fastest-possible arrival it is played:
    D = tick_time - (play_ts/clock_rate + min transit)
and the target is `spread + margin`, clamped to [min_delay, max_delay] — a fraction of a frame on
a clean path, where the old whole-frame rounding held at least 40 ms.
* Start: playout begins at the first tick where the oldest queued frame has D >= target.
* Grow: a missing piece that is not yet due by the target (its own D < target) is waited for
  (HOLD) instead of concealed; once overdue it is LOST (concealed, playout moves on). Late
  arrivals still enter the transit window, so the target follows the jitter they show and the
  next such gap is held, not lost.
* Shrink: when D would still be >= target + margin after discarding the head packet (at least a
  frame's worth), for `shrink_after` ticks in a row, it is discarded (one packet at a time).
* Idle: `idle_after` ticks in a row that conceal an overdue gap with nothing newer queued stop
  playout (SILENCE); the next packet starts it again, at its own timestamp, without concealing
  the silent gap (DTX, hold).
* A new SSRC, or a timestamp that jumps by more than `max_jump` from the playout point, restarts
  the timeline (RFC 3550 §5.1: a source may restart with new random seq/timestamp; §8.2 SSRC
  change), keeping the learned target.
Arrivals behind the playout point are LATE (or DUPLICATE if they were played); a packet already
queued is a DUPLICATE. Both are dropped and counted, as are packets beyond `capacity`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum

from deskphone.media.rtp import RtpPacket, ts_delta


class FrameKind(Enum):
    AUDIO = "audio"  # decode the payload
    LOST = "lost"  # conceal `duration` units of the timeline (PLC)
    HOLD = "hold"  # underrun: one concealed frame outside the timeline, delay grows
    SILENCE = "silence"  # nothing to play: not started, idle, hold, DTX


@dataclass(frozen=True, slots=True)
class PlayoutFrame:
    kind: FrameKind
    payload: bytes = b""
    duration: int = 0  # RTP timestamp units this piece covers (0 for HOLD and SILENCE)
    timestamp: int = 0  # RTP timestamp where the piece starts


SILENCE = PlayoutFrame(FrameKind.SILENCE)
_NOTICEABLE = 0.0005  # a new transit extreme beyond this updates the target before the next tick
HOLD = PlayoutFrame(FrameKind.HOLD)


@dataclass(frozen=True)
class JitterBufferConfig:
    frame_duration: float = 0.020
    # The least delay over the fastest path; 0 lets a clean path play each frame at the first
    # tick after it arrives (the tick phase then is the whole buffer delay).
    min_delay: float = 0.0
    # Added to the measured spread: covers what a 2 s window has not seen yet (timer wake-up
    # noise of the sender, a cache miss). 3 ms is a sixth of a frame.
    margin: float = 0.003
    max_delay: float = 0.300  # beyond this, conversation suffers more than from loss (G.114)
    window: int = 100  # packets (2 s at 50/s) of transit history for the target estimate
    shrink_after: int = 25  # ticks (0.5 s) with too much queued before one packet is dropped
    idle_after: int = 3  # consecutive underruns before the stream is considered idle
    max_jump: float = 1.0  # seconds of timestamp discontinuity treated as a new timeline
    capacity: int = 50  # packets; anything beyond is dropped (bounded memory)
    max_packet: float = 0.120  # longest packet accepted (RFC 6716 §3.2.5: Opus max 120 ms)


@dataclass(slots=True)
class JitterBufferStats:
    received: int = 0
    played: int = 0
    concealed: int = 0  # LOST and HOLD pieces handed out
    duplicates: int = 0
    late: int = 0
    overflow: int = 0
    malformed: int = 0  # packets with an impossible duration
    dropped_for_delay: int = 0
    underruns: int = 0
    resets: int = 0
    target_delay_ms: float = 0.0
    playout_delay_ms: float = 0.0  # D at the last tick


class JitterBuffer:
    def __init__(
        self, clock_rate: int, timestamp_increment: int, config: JitterBufferConfig | None = None
    ) -> None:
        self.config = config or JitterBufferConfig()
        self.clock_rate = clock_rate
        self.increment = timestamp_increment
        self.stats = JitterBufferStats()
        self._max_duration = round(self.config.max_packet * clock_rate)
        self._frames: dict[int, tuple[bytes, int]] = {}  # timestamp -> (payload, duration)
        self._played: deque[int] = deque(maxlen=64)
        self._transits: deque[float] = deque(maxlen=self.config.window)
        self._transits_changed = False
        self._transits_seen = 0
        self._base_transit = 0.0
        self._high_transit = 0.0
        self._origin: int | None = None  # timestamp that `_relative` counts from
        self._newest_ts: int | None = None  # highest timestamp seen on this timeline
        self._ssrc: int | None = None
        self.play_ts: int | None = None
        self.covered_until: int | None = None
        self._playing = False
        self._underruns = 0
        self._over_target_ticks = 0
        self._target = max(self.config.min_delay, self.config.margin)
        self.stats.target_delay_ms = round(self._target * 1000, 3)

    # ---- input --------------------------------------------------------------------------------
    def put(self, packet: RtpPacket, now: float, duration: int | None = None) -> None:
        """Queue one packet that arrived at `now`; `duration` in RTP timestamp units (default:
        one frame)."""
        self.put_payload(packet.ssrc, packet.timestamp, packet.payload, now, duration)

    def put_payload(self, ssrc: int, ts: int, payload: bytes, now: float,
                    duration: int | None = None) -> None:
        self.stats.received += 1
        if duration is None:
            duration = self.increment
        elif not 0 < duration <= self._max_duration:
            self.stats.malformed += 1
            return
        if self._ssrc != ssrc:
            if self._ssrc is not None:
                self._restart()
            self._ssrc = ssrc
        newest = self._newest_ts
        if newest is not None:
            step = ts_delta(ts, newest)
            if abs(step) > self.config.max_jump * self.clock_rate:
                self._restart()  # timestamp jump: a new timeline
            elif step > 0:
                self._newest_ts = ts
        if self._newest_ts is None:
            self._newest_ts = ts
        reference = self.covered_until
        self._observe_transit(ts, now)  # late packets too: they are the jitter evidence
        if reference is not None:
            if ts in self._played:
                self.stats.duplicates += 1
                return
            # behind the playout point once anything of this timeline has played (before the
            # first play, reordering around the first packet is still welcome)
            if (self._playing or self._played) and ts_delta(ts, reference) < 0:
                self.stats.late += 1
                return
        if ts in self._frames:
            self.stats.duplicates += 1
            return
        if len(self._frames) >= self.config.capacity:
            self.stats.overflow += 1
            return
        self._frames[ts] = (payload, duration)
        if self.covered_until is None:
            self.play_ts = self.covered_until = ts

    def _relative(self, ts: int) -> int:
        """Timestamp as a signed distance from the timeline origin (no 32-bit wrap)."""
        origin = self._origin
        if origin is None:
            self._origin = origin = ts
        delta = ts_delta(ts, origin)
        if delta > 0x40000000:  # re-base long before ts_delta's +-2^31 range runs out
            shift = delta
            self._origin = ts
            self._transits = deque((t + shift / self.clock_rate for t in self._transits),
                                   maxlen=self.config.window)
            self._base_transit += shift / self.clock_rate
            self._high_transit += shift / self.clock_rate
            delta = 0
        return delta

    def _observe_transit(self, ts: int, now: float) -> None:
        transit = now - self._relative(ts) / self.clock_rate
        self._transits.append(transit)
        self._transits_seen += 1
        # A new extreme widens the spread at once; a full min/max over the window (so that old
        # extremes can leave it and the target shrink) runs every quarter window, not per packet.
        if (len(self._transits) <= 2 or transit < self._base_transit - _NOTICEABLE
                or transit > self._high_transit + _NOTICEABLE
                or self._transits_seen % (self.config.window // 4 or 1) == 0):
            self._transits_changed = True

    def _update_target(self) -> None:
        self._transits_changed = False
        transits = self._transits
        self._base_transit = low = min(transits)
        self._high_transit = high = max(transits)
        if len(transits) < 2:
            return  # one arrival says nothing about jitter: keep the learned target
        config = self.config
        wanted = high - low + config.margin
        self._target = min(max(wanted, config.min_delay), config.max_delay)
        self.stats.target_delay_ms = round(self._target * 1000, 3)

    def _restart(self) -> None:
        self.stats.resets += 1
        self._frames.clear()
        self._played.clear()
        self._transits.clear()
        self._origin = self._newest_ts = None
        self.play_ts = self.covered_until = None
        self._playing = False
        self._underruns = 0
        self._over_target_ticks = 0

    @property
    def target_delay(self) -> float:
        """Seconds of delay over the fastest path the buffer aims for (spread + margin)."""
        if self._transits_changed:
            self._update_target()
        return self._target

    # ---- output -------------------------------------------------------------------------------
    def playout_delay(self, now: float, ts: int) -> float:
        """D: seconds between the fastest possible arrival of `ts` and playing it at `now`."""
        return now - (self._relative(ts) / self.clock_rate + self._base_transit)

    def pop(self, now: float) -> list[PlayoutFrame]:
        """The pieces that complete the tick scheduled at `now` (see the module docstring)."""
        target = self.target_delay
        frame_seconds = self.increment / self.clock_rate
        if not self._playing:
            if not self._frames:
                return [SILENCE]
            # (Re)start at the oldest queued frame: after idle/DTX the timeline moved on.
            reference = self.covered_until if self.covered_until is not None else 0
            oldest = min(self._frames, key=lambda t: ts_delta(t, reference))
            delay = self.playout_delay(now, oldest)
            self.stats.playout_delay_ms = delay * 1000
            # the whole first tick must be due: a 10 ms packet needs its successor too
            short = max(0, self.increment - self._frames[oldest][1]) / self.clock_rate
            if delay - short < target:
                return [SILENCE]
            self._playing = True
            self._underruns = 0
            self.play_ts = self.covered_until = oldest
        play_ts, covered = self.play_ts, self.covered_until
        assert play_ts is not None and covered is not None
        delay = self.playout_delay(now, play_ts)
        if covered == play_ts:
            delay = self._shrink_if_too_deep(delay, target, frame_seconds)
            assert self.play_ts is not None
            covered = play_ts = self.play_ts
        self.stats.playout_delay_ms = delay * 1000
        end = (play_ts + self.increment) & 0xFFFFFFFF
        pieces: list[PlayoutFrame] = []
        frames = self._frames
        underrun = False
        while (remaining := ts_delta(end, covered)) > 0:
            entry = frames.pop(covered, None)
            if entry is not None:
                payload, duration = entry
                pieces.append(PlayoutFrame(FrameKind.AUDIO, payload, duration, covered))
                self._played.append(covered)
                self.stats.played += 1
                covered = (covered + duration) & 0xFFFFFFFF
                continue
            self.stats.concealed += 1
            due = delay - ts_delta(covered, play_ts) / self.clock_rate  # D of the missing piece
            if due < target and delay < self.config.max_delay:
                # Not overdue by the jitter we measured: wait for it. Holding grows the delay by
                # one frame where concealing would lose the frame (the buffer adapts up).
                self.covered_until = covered
                return pieces + [HOLD]
            ahead = [d for t in frames if (d := ts_delta(t, covered)) > 0]
            underrun = underrun or not ahead
            gap = min(min(ahead), remaining) if ahead else remaining
            pieces.append(PlayoutFrame(FrameKind.LOST, b"", gap, covered))
            covered = (covered + gap) & 0xFFFFFFFF
        self.covered_until = covered
        self.play_ts = end
        if not underrun:
            self._underruns = 0
            return pieces
        # Overdue and nothing newer queued: the talkspurt may have ended (DTX, hold).
        self.stats.underruns += 1
        self._underruns += 1
        if self._underruns >= self.config.idle_after:
            self._playing = False
            return [SILENCE]
        return pieces

    def _shrink_if_too_deep(self, delay: float, target: float, frame_seconds: float) -> float:
        """Discard the head packet when the delay stays a packet above target (module doc)."""
        assert self.play_ts is not None
        head = self._frames.get(self.play_ts)
        seconds = head[1] / self.clock_rate if head is not None else 0.0
        if head is None or delay - max(seconds, frame_seconds) < target + self.config.margin:
            self._over_target_ticks = 0
            return delay
        self._over_target_ticks += 1
        if self._over_target_ticks < self.config.shrink_after:
            return delay
        self._over_target_ticks = 0
        del self._frames[self.play_ts]
        self.stats.dropped_for_delay += 1
        self._played.append(self.play_ts)
        self.play_ts = self.covered_until = (self.play_ts + head[1]) & 0xFFFFFFFF
        return delay - seconds

    # ---- inspection ---------------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        return self._playing

    def queued_frames(self) -> int:
        """Frames from the playout point to the end of the newest queued packet."""
        if self.play_ts is None or not self._frames:
            return 0
        ends = (ts_delta(t, self.play_ts) + d for t, (_p, d) in self._frames.items())
        return max(0, -(-max(ends) // self.increment))

    @property
    def delay_ms(self) -> float:
        return self.stats.playout_delay_ms
