"""What the phone sounds like outside the call's media: tones, the ringer, volumes and the mute.

The app hands this object the machine's sound commands (`PlayTone`, `Ring`, `SetMute`,
`ChangeVolume`) and runs its audio tick. It owns:

* the call-progress tone now playing (`tone`, a `CurrentTone`): this tick plays it on the
  handset outside calls; during a call the media stream mixes it in (it is the call layer's
  ToneSource, deskphone.calls.audio_path);
* the ringer: a GPIO buzzer when there is one, else the ring played through the audio output,
  as a handset-only phone must;
* the stored volumes (`VolumeKeeper`, settings file) and the microphone a call captures from
  (`MuteableMicrophone`: its gain is the earpiece level, its mute the call's).

It is its own module because none of this is event plumbing: it only needs the devices, a clock
and whether the call layer's media owns the handset (`media_active`, passed in so it never
sees the call layer). The tick sleeps when there is nothing to play: an idle phone costs nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from deskphone.devices.build import Devices
from deskphone.devices.microphone import MuteableMicrophone, scale_s16
from deskphone.devices.tones import CurrentTone, ToneGenerator
from deskphone.phone_files import VolumeKeeper

FRAME_SECONDS = 0.020  # audio frames are 20 ms everywhere
RESYNC_BEHIND_SECONDS = 0.2  # this far behind (a suspended laptop), the tick starts afresh


class PhoneSound:
    def __init__(self, devices: Devices, settings_path: Path,
                 clock: Callable[[], float]) -> None:
        self.devices = devices
        self.clock = clock
        self.tone = CurrentTone(devices.audio.rate)
        self.microphone = MuteableMicrophone(devices.audio)  # what a call captures from
        self.volume = VolumeKeeper(settings_path)
        self.microphone.gain = self.volume.gain("earpiece")
        self.ringing = False  # the ringer (or the ring through the audio output) is on
        self._ring_tone: ToneGenerator | None = None
        self._wake = asyncio.Event()  # something to play: the tick stops sleeping

    def play_tone(self, tone: str | None) -> None:
        self.tone.play(tone)
        self._wake.set()

    def ring(self, on: bool) -> None:
        self.ringing = on
        ringer = self.devices.ringer
        if ringer is not None:  # a GPIO buzzer
            ringer.start() if on else ringer.stop()
            return
        # No buzzer: ring through the audio output, as a handset-only phone must.
        self._ring_tone = ToneGenerator("ring", self.devices.audio.rate) if on else None
        self._wake.set()

    def set_mute(self, on: bool) -> None:
        self.microphone.muted = on

    def change_volume(self, which: str, how: str) -> int:
        """Store and apply a level (`how`: up, down, 0-10); the new level."""
        level = self.volume.change(which, how)
        self.microphone.gain = self.volume.gain("earpiece")
        return level

    def tone_frame(self) -> bytes | None:
        """The next 20 ms of the current call-progress tone, or None when silent."""
        return self.tone.next_frame()

    async def run(self, media_active: Callable[[], bool]) -> None:
        """The audio tick: outside a call it plays tones and rings on the handset; in a call
        (`media_active()`) the media stream owns the handset and mixes tones in."""
        audio = self.devices.audio
        silence = bytes(2 * int(audio.rate * FRAME_SECONDS))
        next_at = self.clock()
        while True:
            if media_active() or (not self.tone.playing and self._ring_tone is None):
                self._wake.clear()
                await self._wake.wait()
                next_at = self.clock()
                continue
            audio.capture_frame()  # keep the capture side drained
            frame = self.tone_frame()
            gain = self.volume.gain("earpiece")
            if frame is None and self._ring_tone is not None:
                frame, gain = self._ring_tone.next_frame(), self.volume.gain("ringer")
            audio.play_frame(scale_s16(frame, gain) if frame else silence)
            next_at += FRAME_SECONDS
            delay = next_at - self.clock()
            if delay < -RESYNC_BEHIND_SECONDS:  # we fell far behind: resynchronise
                next_at = self.clock()
                delay = 0
            await asyncio.sleep(max(0.0, delay))
