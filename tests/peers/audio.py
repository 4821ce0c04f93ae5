"""Tone WAVs to play into linphonec and a frequency check for what it recorded."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np


def write_tone_wav(
    path: Path, frequency: float, seconds: float, rate: int = 8000
) -> Path:
    """A mono 16-bit sine at half full scale (what `play` was tried with: 8 kHz mono)."""
    t = np.arange(int(rate * seconds)) / rate
    samples = (0.5 * 32767 * np.sin(2 * np.pi * frequency * t)).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return path


def read_wav(path: Path) -> tuple[int, np.ndarray]:
    """(rate, mono float samples); a multi-channel file is reduced to its first channel."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(
                f"{path}: sample width {wav.getsampwidth()} bytes, expected 2"
            )
        rate, channels = wav.getframerate(), wav.getnchannels()
        data = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").astype(np.float64)
    return rate, data[::channels]


def loud_part(samples: np.ndarray, rate: int, threshold: float = 1000.0) -> np.ndarray:
    """The samples from the first to the last 20 ms block whose RMS exceeds threshold."""
    block = rate // 50
    blocks = [samples[i : i + block] for i in range(0, len(samples) - block + 1, block)]
    loud = [i for i, b in enumerate(blocks) if np.sqrt(np.mean(b * b)) > threshold]
    if not loud:
        return samples[:0]
    return samples[loud[0] * block : (loud[-1] + 1) * block]


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    spectrum[0] = 0.0
    return float(np.argmax(spectrum) * rate / len(samples))
