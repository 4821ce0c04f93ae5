"""The conference mixer (media/mixer.py): sums, saturation, nobody hears itself, mixed rates."""

from __future__ import annotations

import math
import struct
from array import array

import pytest

from deskphone.media.mixer import ConferenceMixer, saturating_sum


def frame(value: int, rate: int) -> bytes:
    return array("h", [value] * (rate // 50)).tobytes()


def sine(frequency: float, rate: int, start: int, amplitude: int = 6000) -> bytes:
    n = rate // 50
    return struct.pack(f"<{n}h", *(int(amplitude * math.sin(2 * math.pi * frequency * (start + i)
                                                            / rate)) for i in range(n)))


def samples(pcm: bytes) -> list[int]:
    return list(array("h", pcm))


def test_saturating_sum_clips_instead_of_wrapping() -> None:
    loud = array("h", [30000, -30000, 100, 32767])
    assert list(saturating_sum([loud, loud])) == [32767, -32768, 200, 32767]
    assert list(saturating_sum([loud, array("h", [-30000, 30000, -100, -32767])])) == [0] * 4
    assert list(saturating_sum([array("h", [1, 2])] * 3)) == [3, 6]
    with pytest.raises(ValueError, match="at least one"):
        saturating_sum([])


def test_each_leg_hears_the_others_and_the_microphone_never_itself() -> None:
    mixer = ConferenceMixer(8000, {"b": 8000, "c": 8000})
    # tick 1: the legs play 100 (B) and 1000 (C); the microphone says 7
    mixer.begin(frame(7, 8000))
    assert samples(mixer.outgoing("b")) == [7] * 160  # nobody has played yet: just the mic
    mixer.received("b", frame(100, 8000))
    mixer.received("c", frame(1000, 8000))
    assert samples(mixer.handset()) == [1100] * 160  # the earpiece: both legs, no microphone
    # tick 2: what each leg sends holds the other's previous frame, never its own
    mixer.begin(frame(7, 8000))
    assert samples(mixer.outgoing("b")) == [1007] * 160
    assert samples(mixer.outgoing("c")) == [107] * 160


def test_the_sums_saturate() -> None:
    mixer = ConferenceMixer(8000, {"b": 8000, "c": 8000})
    mixer.begin(frame(0, 8000))
    mixer.received("b", frame(30000, 8000))
    mixer.received("c", frame(30000, 8000))
    assert samples(mixer.handset()) == [32767] * 160
    mixer.begin(frame(-30000, 8000))
    assert samples(mixer.outgoing("b")) == [0] * 160  # -30000 (mic) + 30000 (C)
    mixer.received("b", frame(-32768, 8000))
    mixer.received("c", frame(-32768, 8000))
    assert samples(mixer.handset()) == [-32768] * 160


def test_a_wideband_leg_and_a_narrowband_leg_are_mixed_each_at_its_rate() -> None:
    # B speaks G.722 (16 kHz), C PCMU (8 kHz), the handset runs at 16 kHz. B plays 1.2 kHz,
    # C 600 Hz, the microphone 2 kHz; over 50 ticks each side gets the right tones at its rate.
    mixer = ConferenceMixer(16000, {"b": 16000, "c": 8000})
    to_b, to_c, earpiece = b"", b"", b""
    for tick in range(50):
        mixer.begin(sine(2000, 16000, tick * 320))
        out_b, out_c = mixer.outgoing("b"), mixer.outgoing("c")
        assert len(out_b) == 640 and len(out_c) == 320  # 20 ms at each leg's own rate
        to_b, to_c = to_b + out_b, to_c + out_c
        mixer.received("b", sine(1200, 16000, tick * 320))
        mixer.received("c", sine(600, 8000, tick * 160))
        earpiece += mixer.handset()
    skip = 5  # the first ticks hold only the microphone (the legs' frames arrive a tick later)

    def peaks(pcm: bytes, rate: int, frame_bytes: int) -> dict[int, float]:
        import numpy as np

        x = np.frombuffer(pcm[skip * frame_bytes:], dtype="<i2").astype(np.float64)
        spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
        total = spectrum.sum()
        bin_hz = rate / len(x)
        return {f: float(spectrum[int(round(f / bin_hz)) - 3:int(round(f / bin_hz)) + 4].sum()
                         / total) for f in (600, 1200, 2000)}

    heard_b = peaks(to_b, 16000, 640)  # B: the microphone and C, not its own 1.2 kHz
    assert heard_b[2000] > 0.3 and heard_b[600] > 0.3 and heard_b[1200] < 0.01, heard_b
    heard_c = peaks(to_c, 8000, 320)  # C: the microphone and B, brought down to 8 kHz
    assert heard_c[2000] > 0.2 and heard_c[1200] > 0.2 and heard_c[600] < 0.01, heard_c
    heard_a = peaks(earpiece, 16000, 640)  # the earpiece: B and C, never the microphone
    assert heard_a[1200] > 0.3 and heard_a[600] > 0.3 and heard_a[2000] < 0.01, heard_a


def test_short_frames_are_padded_and_bad_rates_refused() -> None:
    mixer = ConferenceMixer(8000, {"b": 8000, "c": 16000})
    mixer.begin(b"\x01\x00" * 10)  # a short capture: the rest is silence
    assert len(mixer.outgoing("c")) == 640
    mixer.received("b", b"")  # nothing decoded: silence, not a crash
    assert len(mixer.handset()) == 320
    with pytest.raises(ValueError, match="11025"):
        ConferenceMixer(8000, {"b": 11025, "c": 8000})
    with pytest.raises(ValueError, match="at least two"):
        ConferenceMixer(8000, {"b": 8000})
