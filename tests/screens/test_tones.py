"""Call-progress tones: frequencies by FFT, cadence by frame counting, continuity, levels."""

from __future__ import annotations

import numpy as np
import pytest

from deskphone.devices.tones import TONES, ToneGenerator


def frames(tone: str, rate: int, count: int) -> np.ndarray:
    gen = ToneGenerator(tone, rate)
    data = b"".join(gen.next_frame() for _ in range(count))
    assert len(data) == count * rate // 50 * 2
    return np.frombuffer(data, dtype="<i2").astype(np.float64)


def peaks(samples: np.ndarray, rate: int, count: int) -> list[int]:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    order = np.argsort(spectrum)[::-1]
    found: list[int] = []
    for index in order:
        f = round(float(freqs[index]))
        if all(abs(f - other) > 20 for other in found):
            found.append(f)
        if len(found) == count:
            break
    return sorted(found)


def on_frames(samples: np.ndarray, rate: int, chunk_ms: int = 20) -> list[bool]:
    per_frame = rate * chunk_ms // 1000
    return [bool(np.abs(samples[i:i + per_frame]).max() > 100)
            for i in range(0, len(samples), per_frame)]


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
@pytest.mark.parametrize("tone, expected", [("dial", [350, 440]), ("ringback", [440, 480]),
                                            ("busy", [480, 620]), ("reorder", [480, 620]),
                                            ("ring", [400, 450])])
def test_tone_frequencies(tone, expected, rate):
    samples = frames(tone, rate, 10)[: rate // 5]  # the first 200 ms: every tone is on
    assert peaks(samples, rate, 2) == pytest.approx(expected, abs=5)


@pytest.mark.parametrize("tone, on_ms, off_ms", [("ringback", 2000, 4000), ("busy", 500, 500),
                                                 ("reorder", 250, 250)])
def test_cadences(tone, on_ms, off_ms):
    rate = 8000
    period = (on_ms + off_ms) // 20
    pattern = on_frames(frames(tone, rate, 2 * period), rate, chunk_ms=10)
    expected = ([True] * (on_ms // 10) + [False] * (off_ms // 10)) * 2
    assert pattern == expected


def test_dial_tone_is_continuous_and_phase_continuous():
    rate = 8000
    samples = frames("dial", rate, 150)  # 3 s, across cadence repeats
    assert all(on_frames(samples, rate))
    n = np.arange(len(samples))
    amplitude = 32767 * 10 ** ((-13 - 3.17) / 20)
    ideal = amplitude * (np.sin(2 * np.pi * 350 * n / rate) + np.sin(2 * np.pi * 440 * n / rate))
    ramp = 4 * rate // 1000
    assert np.abs(samples[ramp:] - ideal[ramp:]).max() <= 1.0  # rounding only, no seams


def test_levels_follow_the_tone_plan():
    rate = 8000

    def rms_dbm0(samples: np.ndarray) -> float:
        # a sine of peak A has RMS A/sqrt2; 0 dBm0 sine peak = 32767 * 10**(-3.17/20)
        ref_rms = 32767 * 10 ** (-3.17 / 20) / np.sqrt(2)
        return 20 * np.log10(np.sqrt(np.mean(samples ** 2)) / ref_rms)

    # two equal components add 3 dB of power
    assert rms_dbm0(frames("dial", rate, 50)) == pytest.approx(-13 + 3.01, abs=0.2)
    assert rms_dbm0(frames("ringback", rate, 100)) == pytest.approx(-19 + 3.01, abs=0.2)
    assert rms_dbm0(frames("busy", rate, 25)) == pytest.approx(-24 + 3.01, abs=0.2)


def test_bursts_start_and_end_without_a_click():
    rate = 8000
    samples = frames("busy", rate, 50)
    assert abs(samples[0]) < 50  # ramped in
    end_of_burst = 500 * rate // 1000
    assert np.abs(samples[end_of_burst - 3:end_of_burst]).max() < 600
    assert np.abs(samples[end_of_burst:end_of_burst + 100]).max() == 0


def test_not_secure_is_three_descending_beeps_then_silence():
    rate = 16000
    gen = ToneGenerator("not_secure", rate)
    samples = np.frombuffer(b"".join(gen.next_frame() for _ in range(150)), dtype="<i2")
    beeps = [samples[int(start * rate / 1000):int((start + 150) * rate / 1000)].astype(float)
             for start in (0, 200, 400)]
    assert [peaks(b, rate, 1)[0] for b in beeps] == pytest.approx([1400, 1000, 700], abs=10)
    assert gen.finished
    assert np.abs(samples[-rate:]).max() == 0  # silent once played
    assert gen.next_frame() == bytes(2 * rate // 50)


def test_mitm_alarm_alternates_and_repeats():
    rate = 8000
    samples = frames("mitm", rate, 300)  # 6 s: two 3 s cycles
    first = peaks(samples[: rate // 4], rate, 1)[0]
    second = peaks(samples[rate // 4: rate // 2], rate, 1)[0]
    assert (first, second) == (pytest.approx(2000, abs=10), pytest.approx(1200, abs=10))
    pattern = on_frames(samples, rate)
    assert pattern[:100] == [True] * 100 and pattern[100:150] == [False] * 50
    assert pattern[150:250] == [True] * 100


def test_every_tone_is_distinct_from_every_other():
    rate = 8000
    signatures = {name: frames(name, rate, 300).tobytes() for name in TONES}
    assert len(set(signatures.values())) == len(TONES)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="'dialtone'"):
        ToneGenerator("dialtone", 8000)
    with pytest.raises(ValueError, match="8001"):
        ToneGenerator("dial", 8001)
