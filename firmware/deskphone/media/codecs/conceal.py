"""Packet-loss concealment by repetition with fade (ITU-T G.711 Appendix I in spirit).

The last good frame is replayed with a gain that falls by `step` per lost frame, reaching silence
after a few frames; a codec without its own PLC (G.711, G.722) uses this. `remember` only keeps a
reference to the frame (it runs for every packet); the samples are unpacked when a loss happens.
"""

from __future__ import annotations

from array import array


class RepeatFadeConcealer:
    def __init__(self, frame_samples: int, *, step: float = 0.25) -> None:
        self._last = bytes(2 * frame_samples)
        self._gain = 0.0
        self._step = step

    def remember(self, pcm: bytes) -> None:
        self._last = pcm
        self._gain = 1.0

    def conceal(self) -> bytes:
        self._gain = max(0.0, self._gain - self._step)
        gain = self._gain
        if gain <= 0.0:
            return bytes(len(self._last))
        return array("h", [int(s * gain) for s in array("h", self._last)]).tobytes()
