"""The 3-way conference's mixer (issue 15 item 4): who hears what, at each leg's own rate.

An endpoint mixer: this phone talks to B and to C over two calls, each with its own ZRTP session
and SRTP keys, and adds the audio up itself (no conference server). So B and C are each secured
to this phone, never to each other: the mixer sees their cleartext, as any mixer must (ZRTP is
end to end between two endpoints, RFC 6189 §1; this phone is an endpoint of both calls).

Per 20 ms tick (media/conference.py drives it, one tick for every leg):

    begin(mic)                 the handset's captured frame, at the device rate
    outgoing(leg)   per leg    what that leg sends: mic + every *other* leg, at the leg's rate
    received(leg, pcm) per leg what that leg's stream decoded this tick, at the leg's rate
    handset()                  what the earpiece plays: every leg, at the device rate

No leg hears itself: a leg's outgoing frame sums the microphone and the others, never its own
received audio. A leg's audio reaches the *other* legs one tick later (the frame it played last
tick), the microphone and the earpiece in the same tick: each stream's tick captures before it
plays, so within one tick the second leg's frame does not exist yet when the first leg sends;
taking every leg's previous frame keeps the delay the same (20 ms) for B→C and C→B.

Sums saturate at the 16-bit limits (clipping, never wrapping round to the opposite sign). Each
frame is brought to the rate it is mixed at with the stream's own resampler (resample.py), one
resampler per (source, destination rate) so each keeps the continuity of its own signal. A leg
that has played nothing this tick (not keyed yet, a late packet's concealment aside) counts as
silence.
"""

from __future__ import annotations

from array import array
from operator import add

from deskphone.media.resample import SUPPORTED_RATES, Resampler

MIC = ""  # the handset microphone's name among the sources
_LOW, _HIGH = -32768, 32767


def saturating_sum(frames: list[array]) -> array:
    """The sample-wise sum of equal-length S16 frames, clipped to [-32768, 32767]."""
    if not frames:
        raise ValueError("saturating_sum needs at least one frame")
    if len(frames) == 1:
        return array("h", frames[0])
    total: list[int] = list(map(add, frames[0], frames[1]))
    for frame in frames[2:]:
        total = list(map(add, total, frame))
    # the common case (speech well below full scale) needs no clipping: one min/max in C
    if total and (max(total) > _HIGH or min(total) < _LOW):
        total = [_HIGH if s > _HIGH else _LOW if s < _LOW else s for s in total]
    return array("h", total)


def _samples(rate: int) -> int:
    return rate // 50  # 20 ms


class ConferenceMixer:
    """Mixes the microphone and the legs (by name, each at its rate) for one tick at a time."""

    def __init__(self, device_rate: int, legs: dict[str, int]) -> None:
        for name, rate in {MIC: device_rate, **legs}.items():
            if rate not in SUPPORTED_RATES:
                raise ValueError(f"conference leg {name or 'microphone'!r}: rate {rate} Hz, "
                                 f"expected one of {SUPPORTED_RATES}")
        if MIC in legs or len(legs) < 2:
            raise ValueError(f"a conference mixes at least two named legs, got {sorted(legs)}")
        self.device_rate = device_rate
        self.legs = dict(legs)
        self._rate = {MIC: device_rate, **legs}
        # (source, rate) -> the resampler carrying that source's signal to that rate: one set
        # for what the legs send (previous tick), one for the earpiece (this tick)
        self._to_legs: dict[tuple[str, int], Resampler] = {}
        self._to_device: dict[str, Resampler] = {}
        self._previous: dict[str, array] = {}  # each leg's frame of the last tick
        self._current: dict[str, array] = {}  # each leg's frame of this tick
        self._sources: dict[tuple[str, int], array] = {}  # this tick's frames, resampled
        self.ticks = 0

    def begin(self, mic: bytes) -> None:
        """A new tick: `mic` is the handset's captured frame (device rate)."""
        self.ticks += 1
        self._previous, self._current = self._current, {}
        self._sources = {}
        self._sources[(MIC, self.device_rate)] = self._fit(array("h", mic), self.device_rate)
        for name in self.legs:
            self._previous.setdefault(name, array("h", bytes(2 * _samples(self._rate[name]))))

    def outgoing(self, leg: str) -> bytes:
        """What `leg` sends this tick, at its rate: the microphone and every other leg."""
        rate = self.legs[leg]
        parts = [self._source(MIC, rate)]
        parts += [self._source(other, rate) for other in self.legs if other != leg]
        return saturating_sum(parts).tobytes()

    def received(self, leg: str, pcm: bytes) -> None:
        """What `leg`'s stream decoded this tick (its rate)."""
        self._current[leg] = self._fit(array("h", pcm), self.legs[leg])

    def handset(self) -> bytes:
        """What the earpiece plays this tick: every leg (never the microphone), device rate."""
        parts = []
        for name, rate in self.legs.items():
            frame = self._current.get(name)
            if frame is None:
                frame = array("h", bytes(2 * _samples(rate)))
            if rate != self.device_rate:
                resampler = self._to_device.get(name)
                if resampler is None:
                    resampler = self._to_device[name] = Resampler(rate, self.device_rate)
                frame = self._fit(array("h", resampler.process(frame.tobytes())),
                                  self.device_rate)
            parts.append(frame)
        return saturating_sum(parts).tobytes()

    def _source(self, name: str, rate: int) -> array:
        """`name`'s frame for what the legs send this tick, at `rate` (resampled once a tick)."""
        key = (name, rate)
        frame = self._sources.get(key)
        if frame is not None:
            return frame
        own = (self._sources[(MIC, self.device_rate)] if name == MIC else self._previous[name])
        resampler = self._to_legs.get(key)
        if resampler is None:
            resampler = self._to_legs[key] = Resampler(self._rate[name], rate)
        frame = self._sources[key] = self._fit(array("h", resampler.process(own.tobytes())),
                                               rate)
        return frame

    @staticmethod
    def _fit(frame: array, rate: int) -> array:
        """Exactly one 20 ms frame: a short capture or decode is padded with silence."""
        samples = _samples(rate)
        if len(frame) == samples:
            return frame
        if len(frame) > samples:
            return frame[:samples]
        return frame + array("h", bytes(2 * (samples - len(frame))))
