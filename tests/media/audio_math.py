"""Tone generation and measurement for media tests (numpy; test-only)."""

from __future__ import annotations

import numpy as np


def tone(freq: float, rate: int, samples: int, amplitude: float = 10000.0, start: int = 0):
    t = np.arange(start, start + samples)
    return (amplitude * np.sin(2 * np.pi * freq * t / rate)).astype("<i2")


def tone_snr_db(signal: np.ndarray, freq: float, rate: int) -> float:
    """SNR of a received tone: least-squares fit of a sine at `freq` (any phase, i.e. any codec
    delay) against everything else in the signal."""
    x = signal.astype(np.float64)
    t = np.arange(len(x))
    basis = np.column_stack(
        [np.sin(2 * np.pi * freq * t / rate), np.cos(2 * np.pi * freq * t / rate), np.ones(len(x))]
    )
    coeffs, *_ = np.linalg.lstsq(basis, x, rcond=None)
    fitted = basis[:, :2] @ coeffs[:2]
    noise = x - basis @ coeffs
    return 10 * np.log10(np.sum(fitted**2) / max(np.sum(noise**2), 1e-9))


def dominant_frequency(signal: np.ndarray, rate: int) -> float:
    x = signal.astype(np.float64) * np.hanning(len(signal))
    spectrum = np.abs(np.fft.rfft(x))
    spectrum[0] = 0
    return float(np.argmax(spectrum) * rate / len(signal))
