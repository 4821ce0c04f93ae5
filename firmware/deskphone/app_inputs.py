"""The phone's inputs from its devices: the hook, the keypad and the handset's audio device.

Their callbacks may come from a library thread (gpiozero, gpiod on a real Pi); each becomes a
phone event posted onto the loop through the `post_threadsafe` the app passes in, and nothing
else runs off the loop. The hook and keypad are also scanned here: every 10 ms while anything
happens (a key is down, the hook is debouncing), and at rest only when a pin edge wakes the
scan, with a slow safety poll for an edge a driver might miss (issue 19: an idle phone costs
nothing).

It is its own module because it is the one place that knows how input devices are driven; the
app only starts it and receives events, as from any other source.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from deskphone.devices.audio_reopen import ReopeningAudio
from deskphone.devices.build import Devices
from deskphone.phone import events as ev

SCAN_SECONDS = 0.010  # keypad/hook scan tick: well under a human key press (~50 ms)
REST_POLL_SECONDS = 0.25  # at rest, edges wake the scan; this poll is only a safety net


class DeviceInputs:
    def __init__(self, devices: Devices, clock: Callable[[], float]) -> None:
        self.devices = devices
        self.clock = clock
        self._scan_waiter: asyncio.Future[None] | None = None  # the scan tick's rest wait

    @property
    def scanned(self) -> bool:
        """Whether there is a hook or keypad to scan (a phone may have neither)."""
        return self.devices.hook is not None or self.devices.keypad is not None

    def wire(self, post_threadsafe: Callable[[ev.Event], None]) -> None:
        """Each device's callback posts its event (from whatever thread calls it)."""
        def hook_changed(off_hook: bool) -> None:
            post_threadsafe(ev.HookOff() if off_hook else ev.HookOn())

        def key_pressed(key: str) -> None:
            post_threadsafe(ev.KeyPressed(key))

        def handset_audio(lost: bool) -> None:
            post_threadsafe(ev.HandsetAudioChanged(lost))

        if isinstance(self.devices.audio, ReopeningAudio):  # a handset that can be unplugged
            self.devices.audio.on_change = handset_audio
        if self.devices.hook is not None:
            self.devices.hook.set_emit(hook_changed)
        if self.devices.keypad is not None:
            self.devices.keypad.set_emit(key_pressed)

    async def scan(self, loop: asyncio.AbstractEventLoop) -> None:
        """The scan tick. At rest the keypad has every row driven low and the hook has
        settled: pin edges wake this tick, and a slow safety poll covers an edge a driver
        might miss."""
        keypad, hook = self.devices.keypad, self.devices.hook

        def wake() -> None:
            loop.call_soon_threadsafe(self._wake_scan)

        for device in (keypad, hook):
            if device is not None and hasattr(device, "on_activity"):
                device.on_activity = wake
        while True:
            now = self.clock()
            if keypad is not None:
                keypad.scan(now)
            if hook is not None and hook.get_timer() is not None:
                hook.poll(now)  # an edge started a debounce; polling settles it
            resting = (keypad is None or getattr(keypad, "resting", False)) and (
                hook is None or hook.get_timer() is None)
            if not resting:
                await asyncio.sleep(SCAN_SECONDS)
                continue
            # A bare future and one loop timer: asyncio.wait_for would wrap the wait in a task
            # and cancel it at every poll, ~6x the CPU of this per wake-up (issue 19).
            waiter = self._scan_waiter = loop.create_future()
            timer = loop.call_later(REST_POLL_SECONDS, _settle, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._scan_waiter = None

    def _wake_scan(self) -> None:
        """A pin edge (from the device's thread, hopped onto the loop): end the rest wait."""
        if self._scan_waiter is not None:
            _settle(self._scan_waiter)


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
