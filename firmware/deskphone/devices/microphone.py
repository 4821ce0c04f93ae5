"""Mute: the handset's microphone as a call sees it, which can be silenced.

Muted, every 20 ms frame is still captured (the device stays drained, no stale audio waits
when mute ends) and replaced by digital silence of the same length. The media stream keeps
encoding and sending one packet per frame, so the far end hears silence frames rather than a
gap in the RTP stream that its jitter buffer would take for loss (RFC 3550 §5.1: the sequence
and timestamp stay continuous).
"""

from __future__ import annotations

from deskphone.devices.audio import AudioPort


class MuteableMicrophone:
    """An AudioPort that passes everything through to `audio`, but captures silence if muted."""

    def __init__(self, audio: AudioPort) -> None:
        self.audio = audio
        self.rate = audio.rate
        self.muted = False
        self.silenced_frames = 0

    def capture_frame(self) -> bytes:
        frame = self.audio.capture_frame()
        if not self.muted:
            return frame
        self.silenced_frames += 1
        return bytes(len(frame))

    def play_frame(self, pcm: bytes) -> None:
        self.audio.play_frame(pcm)

    def close(self) -> None:  # the app owns the device
        pass
