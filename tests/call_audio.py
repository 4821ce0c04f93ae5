"""Audio a test feeds a phone (a capture file) and checks it heard (a playback file).

S16LE mono raw PCM at 8 kHz, the simulated handset's format (`[audio] capture_file` and
`playback_file`).
"""

from __future__ import annotations

import math
import struct

RATE = 8000


def tone(frequency: float, seconds: float, amplitude: int = 8000, rate: int = RATE) -> bytes:
    count = int(rate * seconds)
    return struct.pack(f"<{count}h", *(int(amplitude * math.sin(2 * math.pi * frequency * i / rate))
                                       for i in range(count)))


def dominant_frequency(pcm: bytes, rate: int = RATE) -> tuple[float, float]:
    """(frequency of the strongest FFT bin, its share of the energy), so a test can say "the
    caller's 1 kHz tone, decrypted, is what B's earpiece plays" rather than count packets."""
    import numpy as np

    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples)))) ** 2
    spectrum[:3] = 0  # DC and the window's leakage around it
    total = spectrum.sum()
    if total == 0:
        return 0.0, 0.0
    peak = int(np.argmax(spectrum))
    share = float(spectrum[max(0, peak - 3):peak + 4].sum() / total)
    return peak * rate / len(samples), share
