"""A conference's media: several calls' streams, one handset, one 20 ms tick (issue 15 item 4).

Each leg keeps its own `MediaStream` (its socket, SRTP keys from its own ZRTP session, codec and
jitter buffer); the bridge takes over their ticks and their audio:

* **one timer for all legs.** Each stream stops its own ticker (`hand_ticks_over`); the
  bridge's `PeriodicTicker` wakes the loop once per 20 ms frame and, in that one callback,
  captures the microphone, ticks every leg's stream (which drains its socket, sends one frame,
  plays one frame, issue 19's one-wake-up-per-frame property) and plays the mix. Two legs cost
  one wake-up a frame, not two.
* **each leg at its own rate.** A leg's stream sees a `LegPort` at the rate its codec decodes
  (PCMU 8 kHz, G.722 16 kHz...): its capture is the mixer's frame for that leg, its playback
  goes to the mixer (mixer.py), which resamples between the legs and the handset.

Security is the streams' own: a leg sends only once its stream has its SRTP keys (stream.py's
rule holds, the bridge only feeds it frames), and a leg whose direction says it must not send or
play (a hold) is silenced by its stream as in a two-party call.

`stop()` (or `remove`, when a leg drops) gives each remaining stream back the port it had and
its own ticker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from deskphone.devices.audio import AudioPort
from deskphone.media.mixer import ConferenceMixer
from deskphone.media.stream import TICK, MediaStream
from deskphone.media.ticker import PeriodicTicker

log = logging.getLogger(__name__)


class LegPort:
    """The handset as one leg's stream sees it in a conference: the mixer, at the leg's rate."""

    def __init__(self, mixer: ConferenceMixer, leg: str) -> None:
        self.mixer = mixer
        self.leg = leg
        self.rate = mixer.legs[leg]

    def capture_frame(self) -> bytes:
        return self.mixer.outgoing(self.leg)

    def play_frame(self, pcm: bytes) -> None:
        self.mixer.received(self.leg, pcm)

    def close(self) -> None:  # the bridge owns the handset
        pass


class ConferenceBridge:
    """Mixes `legs` (name -> stream) on `handset` (the earpiece and microphone at the device
    rate) from `start()` until `stop()`. With `clock` given nothing is scheduled and the owner
    calls `tick()` (tests, benchmarks), as with a stream."""

    def __init__(self, handset: AudioPort, legs: dict[str, MediaStream], *,
                 loop: asyncio.AbstractEventLoop | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self.handset = handset
        self.legs = dict(legs)
        self._loop = loop
        self._clock = clock or time.monotonic
        self._auto_tick = clock is None
        self.mixer = ConferenceMixer(handset.rate,
                                     {name: s.leg_rate for name, s in self.legs.items()})
        self._given_back: dict[str, AudioPort] = {}  # each stream's port before the conference
        self._ticker: PeriodicTicker | None = None
        self.running = False

    def start(self) -> None:
        for name, stream in self.legs.items():
            self._given_back[name] = stream.audio
            stream.hand_ticks_over()
            stream.use_audio(LegPort(self.mixer, name))
        self.running = True
        if self._auto_tick:
            loop = self._loop or asyncio.get_running_loop()
            self._ticker = PeriodicTicker(loop, TICK, self._on_tick)
            self._ticker.start(self._clock() + TICK)

    def _on_tick(self, scheduled: float) -> None:
        if self.running:
            self.tick(scheduled)

    def tick(self, now: float | None = None) -> None:
        """One 20 ms frame of the whole conference."""
        now = self._clock() if now is None else now
        self.mixer.begin(self.handset.capture_frame())
        for stream in list(self.legs.values()):
            stream.tick(now)
        self.handset.play_frame(self.mixer.handset())

    def stop(self, give_back: dict[str, AudioPort] | None = None) -> None:
        """The conference is over: each stream gets its port back (or the one in `give_back`)
        and ticks itself again."""
        if not self.running:
            return
        self.running = False
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        for name, stream in self.legs.items():
            port = (give_back or {}).get(name, self._given_back[name])
            stream.use_audio(port)
            stream.take_ticks_back()

    @property
    def loop_wakeups(self) -> tuple[int, int]:
        """(event-loop wake-ups of the conference's media, ticks run): the bridge's timer and
        every leg's readers; at most one per tick once every leg is secure."""
        ticker = self._ticker
        readers = sum(stream.reader_wakeups for stream in self.legs.values())
        return (readers + (ticker.wakeups if ticker else 0), ticker.ticks if ticker else 0)
