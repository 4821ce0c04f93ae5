"""Sample-rate conversion between the audio device and the codec (8, 16, 48 kHz).

All supported rate pairs are integer ratios (2, 3, 6), so pure Python suffices:
* up by N: linear interpolation between consecutive samples, carried across frame edges;
* down by N: a moving average over the N input samples per output sample (a boxcar low-pass
  that attenuates what would alias; first null at the new sample rate), also carried across
  frames.
Deliberately simple: it costs microseconds per 20 ms frame on a small ARM core. A device that can
open the codec rate directly (most USB handsets do 8/16/48 kHz) should, and then this is a no-op.
"""

from __future__ import annotations

from array import array

SUPPORTED_RATES = (8000, 16000, 48000)


class Resampler:
    def __init__(self, from_rate: int, to_rate: int) -> None:
        if from_rate not in SUPPORTED_RATES or to_rate not in SUPPORTED_RATES:
            raise ValueError(
                f"resampling {from_rate} Hz -> {to_rate} Hz unsupported, expected rates in"
                f" {SUPPORTED_RATES}"
            )
        self.from_rate = from_rate
        self.to_rate = to_rate
        self._previous = 0  # last input sample of the previous frame (upsampling)

    def process(self, pcm: bytes) -> bytes:
        if self.from_rate == self.to_rate:
            return pcm
        samples = array("h", pcm)
        if self.to_rate > self.from_rate:
            return self._up(samples, self.to_rate // self.from_rate)
        return self._down(samples, self.from_rate // self.to_rate)

    def _up(self, samples: array, factor: int) -> bytes:
        out = array("h", bytes(2 * len(samples) * factor))
        previous = self._previous
        i = 0
        for current in samples:
            step = current - previous
            for k in range(1, factor + 1):
                out[i] = previous + step * k // factor
                i += 1
            previous = current
        self._previous = previous
        return out.tobytes()

    @staticmethod
    def _down(samples: array, factor: int) -> bytes:
        # the k-th sample of every group as one strided slice each, summed group by group: one
        # comprehension in C-level iteration instead of a slice object per output sample (the
        # Opus decoder's 48 kHz is brought down to the handset's 8 kHz every frame, issue 19)
        # strict=False: a trailing partial group is dropped, as the output has whole groups only
        groups = zip(*(samples[k::factor] for k in range(factor)), strict=False)
        return array("h", [sum(group) // factor for group in groups]).tobytes()
