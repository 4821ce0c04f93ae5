"""Mute: the handset's microphone as a call sees it, which can be silenced.

Muted, every 20 ms frame is still captured (the device stays drained, no stale audio waits
when mute ends) and replaced by digital silence of the same length. The media stream keeps
encoding and sending one packet per frame, so the far end hears silence frames rather than a
gap in the RTP stream that its jitter buffer would take for loss (RFC 3550 §5.1: the sequence
and timestamp stay continuous).
"""

from __future__ import annotations

import sys
from array import array

from deskphone.devices.audio import AudioPort


def scale_s16(pcm: bytes, gain: float) -> bytes:
    """An S16LE frame times `gain`, saturated (the volume; 1.0 returns it untouched)."""
    if gain == 1.0:
        return pcm
    samples = array("h", pcm[: len(pcm) // 2 * 2])
    if sys.byteorder != "little":
        samples.byteswap()
    out = array("h", (max(-32768, min(32767, int(s * gain))) for s in samples))
    if sys.byteorder != "little":
        out.byteswap()
    return out.tobytes()


class MuteableMicrophone:
    """An AudioPort that passes everything through to `audio`, but captures silence if muted
    and plays at the earpiece volume (`gain`)."""

    def __init__(self, audio: AudioPort) -> None:
        self.audio = audio
        self.rate = audio.rate
        self.muted = False
        self.silenced_frames = 0
        self.gain = 1.0

    def capture_frame(self) -> bytes:
        frame = self.audio.capture_frame()
        if not self.muted:
            return frame
        self.silenced_frames += 1
        return bytes(len(frame))

    def play_frame(self, pcm: bytes) -> None:
        self.audio.play_frame(scale_s16(pcm, self.gain))

    def close(self) -> None:  # the app owns the device
        pass
