"""Handset audio: the `AudioPort` seam (architecture.md "Audio frames") and its implementations.

PCM is signed 16-bit little-endian mono, one frame = 20 ms. The media pipeline calls
`capture_frame()` and `play_frame()` once per 20 ms tick from the event loop, so nothing here may
block: ALSA is opened non-blocking, a capture without a full frame ready yields silence (counted),
a playback buffer that is full drops the frame (counted).

* `AlsaAudio`  pyalsaaudio capture + playback (USB handset / any ALSA device name)
* `FileAudio`  raw S16LE mono files, paced by the caller's tick (simulation, tests)
* `NodeAudio`  raw frames through device nodes the phone opens but never creates: removing one
               is unplugging the handset (simulation, tests of audio_reopen.py)
* `NullAudio`  silence in, nothing out

A device that has vanished (USB handset unplugged) raises `AudioDeviceLost` from
`capture_frame`/`play_frame`; deskphone.devices.audio_reopen lets it go and opens it again.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

log = logging.getLogger(__name__)

SUPPORTED_RATES = (8000, 16000, 48000)
FRAME_MS = 20


class AudioDeviceLost(OSError):
    """The audio device is gone (ALSA -ENODEV: the USB handset was unplugged)."""


# snd_strerror(-ENODEV) and (-ENOENT): what pyalsaaudio's errors say when the card has gone.
_GONE = ("No such device", "No such file or directory")


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


class NodeAudio:
    """A handset behind device nodes, as a USB one is behind /dev/snd/pcm*: `playback_node`
    receives every frame (appended), `capture_node` is read 20 ms at a time (silence at its end).
    The phone opens them and never creates them: a node that is missing fails the open, and one
    removed while open (no link left) fails the next frame with `AudioDeviceLost`."""

    def __init__(self, rate: int = 8000, capture_node: str | Path | None = None,
                 playback_node: str | Path | None = None) -> None:
        _check_rate(rate)
        self.rate = rate
        self._frame = frame_bytes(rate)
        self._fds: list[int] = []
        try:
            self._capture = self._open_node(capture_node, os.O_RDONLY)
            self._playback = self._open_node(playback_node, os.O_WRONLY | os.O_APPEND)
        except OSError:
            self.close()
            raise

    def _open_node(self, path: str | Path | None, flags: int) -> int | None:
        if path is None:
            return None
        fd = os.open(path, flags | os.O_CLOEXEC)  # no O_CREAT: the device must be there
        self._fds.append(fd)
        return fd

    def _check(self, fd: int) -> None:
        if os.fstat(fd).st_nlink == 0:
            raise AudioDeviceLost(f"audio device node removed (fd {fd})")

    def capture_frame(self) -> bytes:
        if self._capture is None:
            return bytes(self._frame)
        self._check(self._capture)
        data = os.read(self._capture, self._frame)
        return data + bytes(self._frame - len(data))

    def play_frame(self, pcm: bytes) -> None:
        if self._playback is not None:
            self._check(self._playback)
            os.write(self._playback, pcm)

    def close(self) -> None:
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = []
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
                self._failed("capture", error)
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
            self._failed("playback", error)
            return
        if written == 0:  # ring full (non-blocking -EAGAIN): drop rather than stall the loop
            self.playback_overruns += 1

    def _failed(self, direction: str, error: Exception) -> None:
        """An xrun is survived (counted); a card that has gone is `AudioDeviceLost`."""
        self.errors += 1
        log.debug("ALSA %s error: %s", direction, error)
        if any(text in str(error) for text in _GONE):
            raise AudioDeviceLost(f"ALSA {direction} device gone: {error}") from error

    def close(self) -> None:
        for pcm in (self._capture, self._playback):
            try:
                pcm.close()
            except self._alsa.ALSAAudioError:
                pass
