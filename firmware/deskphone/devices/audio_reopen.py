"""A handset that can be unplugged: the audio device is let go when it vanishes and opened again,
with back-off, until it is back (issue 16 item 3).

A USB handset pulled out makes ALSA's reads and writes fail with -ENODEV; the phone must not
stop (a call keeps its signalling and its ZRTP session, the far end merely hears silence), it
must say so on the screen, and the earpiece must work again once the handset is plugged back.

`ReopeningAudio` wraps whichever `AudioPort` the configuration picks, through the function that
opens it. An `AudioDeviceLost` from the device (audio.py raises it for -ENODEV, and `NodeAudio`
when its device node is removed) closes the device and reports `lost`; frames meanwhile are
silence in and dropped out. Reopening is tried from the frames themselves — the 20 ms tick that
is running anyway while audio is wanted — at most once per back-off step (RETRY_FIRST doubling to
RETRY_MAX): the phone arms no timer of its own and wakes for nothing while it waits, and an idle
phone (no tick) does not try at all until audio is wanted again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from deskphone.devices.audio import AudioDeviceLost, AudioPort, frame_bytes

log = logging.getLogger(__name__)

RETRY_FIRST = 0.25  # seconds: a handset plugged back in is heard within a breath
RETRY_MAX = 2.0  # and opening a missing device costs a few syscalls every 2 s at most


class ReopeningAudio:
    def __init__(self, open_device: Callable[[], AudioPort], *,
                 on_change: Callable[[bool], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._open = open_device
        self.on_change = on_change  # called with True when the device is lost, False when back
        self.clock = clock
        self.device: AudioPort | None = open_device()
        self.rate = self.device.rate
        self._silence = bytes(frame_bytes(self.rate))
        self._retry_at = 0.0
        self._backoff = RETRY_FIRST
        self.losses = 0
        self.reopen_attempts = 0

    @property
    def lost(self) -> bool:
        return self.device is None

    def info(self) -> dict[str, Any]:
        return {"handset_audio": "lost" if self.lost else "ok", "losses": self.losses,
                "reopen_attempts": self.reopen_attempts}

    def capture_frame(self) -> bytes:
        device = self._device()
        if device is None:
            return self._silence
        try:
            return device.capture_frame()
        except AudioDeviceLost as exc:
            self._lose(exc)
            return self._silence

    def play_frame(self, pcm: bytes) -> None:
        device = self._device()
        if device is None:
            return
        try:
            device.play_frame(pcm)
        except AudioDeviceLost as exc:
            self._lose(exc)

    def close(self) -> None:
        if self.device is not None:
            self.device.close()
            self.device = None

    def _device(self) -> AudioPort | None:
        if self.device is not None:
            return self.device
        now = self.clock()
        if now < self._retry_at:
            return None
        self.reopen_attempts += 1
        try:
            device = self._open()
        except OSError as exc:
            self._backoff = min(RETRY_MAX, self._backoff * 2)
            self._retry_at = now + self._backoff
            log.debug("handset audio still missing: %s", exc)
            return None
        if device.rate != self.rate:  # another device on the same name: not ours to use
            device.close()
            self._retry_at = now + RETRY_MAX
            log.warning("handset audio came back at %d Hz, expected %d", device.rate, self.rate)
            return None
        log.info("handset audio is back")
        self.device = device
        self._backoff = RETRY_FIRST
        self._notify(False)
        return device

    def _lose(self, exc: Exception) -> None:
        log.warning("handset audio lost: %s", exc)
        self.losses += 1
        device, self.device = self.device, None
        if device is not None:
            try:
                device.close()
            except Exception:  # a device that is gone may fail to close too
                log.debug("closing the lost audio device failed", exc_info=True)
        self._backoff = RETRY_FIRST
        self._retry_at = self.clock() + self._backoff
        self._notify(True)

    def _notify(self, lost: bool) -> None:
        if self.on_change is not None:
            self.on_change(lost)
