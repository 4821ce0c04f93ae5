"""Handset audio: the `AudioPort` seam (architecture.md "Audio frames") and its implementations.

PCM is signed 16-bit little-endian mono, one frame = 20 ms. The media pipeline calls
`capture_frame()` and `play_frame()` once per 20 ms tick from the event loop, so nothing here may
block: ALSA is opened non-blocking, a capture without a full frame ready yields silence (counted),
a playback buffer that is full drops the frame (counted).

* `AlsaAudio`  pyalsaaudio capture + playback (USB handset / any ALSA device name)
* `FileAudio`  raw S16LE mono files, paced by the caller's tick (simulation, tests)
* `NullAudio`  silence in, nothing out
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

log = logging.getLogger(__name__)

SUPPORTED_RATES = (8000, 16000, 48000)
FRAME_MS = 20


@runtime_checkable
class AudioPort(Protocol):
    rate: int  # 8000, 16000 or 48000

    def capture_frame(self) -> bytes: ...  # one 20 ms frame; silence if nothing is available

    def play_frame(self, pcm: bytes) -> None: ...

    def close(self) -> None: ...


def frame_bytes(rate: int) -> int:
    return rate * FRAME_MS // 1000 * 2


def _check_rate(rate: int) -> None:
    if rate not in SUPPORTED_RATES:
        raise ValueError(f"audio rate {rate} Hz unsupported, expected one of {SUPPORTED_RATES}")


class NullAudio:
    def __init__(self, rate: int = 8000) -> None:
        _check_rate(rate)
        self.rate = rate
        self.frames_played = 0

    def capture_frame(self) -> bytes:
        return bytes(frame_bytes(self.rate))

    def play_frame(self, pcm: bytes) -> None:
        self.frames_played += 1

    def close(self) -> None:
        pass


class FileAudio:
    """Capture reads successive 20 ms frames of `capture_file` (silence once it ends or when it
    is absent); playback appends every frame to `playback_file`. Pacing is the caller's tick."""

    def __init__(
        self,
        rate: int = 8000,
        capture_file: str | Path | None = None,
        playback_file: str | Path | None = None,
    ) -> None:
        _check_rate(rate)
        self.rate = rate
        self._frame = frame_bytes(rate)
        self._capture: IO[bytes] | None = None
        self._playback: IO[bytes] | None = None
        if capture_file is not None and Path(capture_file).exists():
            self._capture = open(capture_file, "rb")  # noqa: SIM115 - closed in close()
        if playback_file is not None:
            # Unbuffered: whoever reads the file (a test, a person with `aplay`) hears it live.
            self._playback = open(playback_file, "wb", buffering=0)  # noqa: SIM115
        self.frames_captured = 0
        self.frames_played = 0

    def capture_frame(self) -> bytes:
        self.frames_captured += 1
        if self._capture is None:
            return bytes(self._frame)
        data = self._capture.read(self._frame)
        if len(data) < self._frame:
            data += bytes(self._frame - len(data))
        return data

    def play_frame(self, pcm: bytes) -> None:
        self.frames_played += 1
        if self._playback is not None:
            self._playback.write(pcm)

    def close(self) -> None:
        for handle in (self._capture, self._playback):
            if handle is not None:
                handle.close()
        self._capture = self._playback = None


class AlsaAudio:
    """pyalsaaudio capture and playback at `rate` with 20 ms periods, non-blocking.

    `capture_device`/`playback_device` are ALSA names ("default", "plughw:CARD=Device,DEV=0",
    or the test config's "phonetest:IN=...,OUT=..."). `periods` is the ring size in periods;
    playback is pre-filled with `prefill_periods` of silence so the first late tick does not
    underrun.
    """

    def __init__(
        self,
        rate: int = 8000,
        capture_device: str = "default",
        playback_device: str = "default",
        *,
        periods: int = 4,
        prefill_periods: int = 1,
    ) -> None:
        try:
            import alsaaudio
        except ImportError as error:
            # Optional so that the simulator needs no C compiler; the Pi image always has it.
            raise OSError("ALSA audio needs pyalsaaudio, which is not installed: pip install "
                          "'deskphone[alsa]' (builds against libasound2-dev with a C compiler)"
                          ) from error

        _check_rate(rate)
        self.rate = rate
        self._alsa: Any = alsaaudio
        self._frame = frame_bytes(rate)
        self._period = rate * FRAME_MS // 1000
        self._capture_buffer = bytearray()
        self.capture_underruns = 0
        self.playback_overruns = 0
        self.errors = 0
        self._capture = self._open(alsaaudio.PCM_CAPTURE, capture_device, periods)
        self._playback = self._open(alsaaudio.PCM_PLAYBACK, playback_device, periods)
        for _ in range(prefill_periods):
            self._write(bytes(self._frame))

    def _open(self, kind: int, device: str, periods: int) -> Any:
        alsa = self._alsa
        try:
            return alsa.PCM(
                type=kind,
                mode=alsa.PCM_NONBLOCK,
                device=device,
                rate=self.rate,
                channels=1,
                format=alsa.PCM_FORMAT_S16_LE,
                periodsize=self._period,
                periods=periods,
            )
        except alsa.ALSAAudioError as error:
            direction = "capture" if kind == alsa.PCM_CAPTURE else "playback"
            raise OSError(
                f"ALSA {direction} device {device!r} at {self.rate} Hz mono S16_LE could not be"
                f" opened: {error}"
            ) from error

    def capture_frame(self) -> bytes:
        # Drain whatever is ready without waiting; hand out exactly one frame per tick.
        for _ in range(8):
            if len(self._capture_buffer) >= self._frame:
                break
            try:
                length, data = self._capture.read()
            except self._alsa.ALSAAudioError as error:  # overrun (-EPIPE) and friends
                self.errors += 1
                log.debug("ALSA capture error: %s", error)
                break
            if length <= 0:
                break
            self._capture_buffer += data
        if len(self._capture_buffer) < self._frame:
            self.capture_underruns += 1
            return bytes(self._frame)
        # keep at most two frames queued so capture latency cannot creep up
        if len(self._capture_buffer) > 3 * self._frame:
            del self._capture_buffer[: len(self._capture_buffer) - 2 * self._frame]
        frame = bytes(self._capture_buffer[: self._frame])
        del self._capture_buffer[: self._frame]
        return frame

    def play_frame(self, pcm: bytes) -> None:
        self._write(pcm)

    def _write(self, pcm: bytes) -> None:
        try:
            written = self._playback.write(pcm)
        except self._alsa.ALSAAudioError as error:
            self.errors += 1
            log.debug("ALSA playback error: %s", error)
            return
        if written == 0:  # ring full (non-blocking -EAGAIN): drop rather than stall the loop
            self.playback_overruns += 1

    def close(self) -> None:
        for pcm in (self._capture, self._playback):
            try:
                pcm.close()
            except self._alsa.ALSAAudioError:
                pass
