"""The handset as a call's media stream sees it, and the media port a call binds.

During a call the media stream owns the handset; the phone's call-progress and warning tones
(ringback under a transfer, the NOT SECURE beeps...) are mixed into what it plays. Where those
tones come from is the app's business: the call layer only sees a `ToneSource`.
"""

from __future__ import annotations

import secrets
import sys
from array import array
from typing import Protocol

from deskphone.config import MediaConfig
from deskphone.devices.audio import AudioPort
from deskphone.media.stream import MediaStream


class ToneSource(Protocol):
    """The tone the phone is playing now (deskphone.devices.tones.CurrentTone)."""

    def next_frame(self) -> bytes | None: ...  # the next 20 ms, or None when silent


class ToneMixingPort:
    """The handset as the media stream sees it, with the phone's tones mixed into playback."""

    def __init__(self, audio: AudioPort, tones: ToneSource) -> None:
        self.audio = audio
        self.tones = tones
        self.rate = audio.rate

    def capture_frame(self) -> bytes:
        return self.audio.capture_frame()

    def play_frame(self, pcm: bytes) -> None:
        tone = self.tones.next_frame()
        if tone is not None and len(tone) == len(pcm):
            pcm = mix_s16(pcm, tone)
        self.audio.play_frame(pcm)

    def close(self) -> None:  # the app owns the device
        pass


def mix_s16(a: bytes, b: bytes) -> bytes:
    """Sum two S16LE frames with saturation (tones are rare in a call: plain Python is enough)."""
    x, y = array("h", a), array("h", b)
    if sys.byteorder != "little":
        x.byteswap()
        y.byteswap()
    out = array("h", (max(-32768, min(32767, p + q)) for p, q in zip(x, y, strict=True)))
    if sys.byteorder != "little":
        out.byteswap()
    return out.tobytes()


async def open_media(media: MediaConfig, audio: AudioPort) -> MediaStream:
    """An even port from [media] port_min..port_max (RFC 3550 §11), tried at random, so a
    firewall can be opened for exactly that range."""
    ports = list(range(media.port_min + (media.port_min % 2), media.port_max + 1, 2))
    rng = secrets.SystemRandom()
    last: OSError | None = None
    for port in rng.sample(ports, min(len(ports), 16)):
        try:
            return await MediaStream.open(media.host, port, audio=audio)
        except OSError as exc:
            last = exc
    raise OSError(f"no free media port in {media.port_min}-{media.port_max} on {media.host}: "
                  f"{last}")
