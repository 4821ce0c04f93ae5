"""The hook switch: the handset cradle contact on one GPIO, debounced in our code.

Wiring (see data/pinmap.toml): the contact goes between the GPIO and ground, the pin has its
pull-up enabled, so a closed contact reads low.

- "normally_open": the contact closes when the handset is lifted -> pin low means off hook.
- "normally_closed": the contact opens when the handset is lifted -> pin high means off hook.

Levels reach the debouncer two ways, both safe to use together:
- edges, from gpiozero's `when_changed` (on a real Pi that runs in gpiozero's own thread);
- samples, from `poll(now)` which the app calls on its scan tick (every ~5 ms). A poll is what
  notices that a level has *settled* after the last edge, since no further edge will come.

`emit(off_hook)` is called once per settled change, from whichever thread noticed it; the app
passes a function that hops onto its event loop with `loop.call_soon_threadsafe`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from gpiozero import DigitalInputDevice
from gpiozero.pins import Factory

from deskphone.devices.debounce import Debouncer
from deskphone.devices.pinmap import HOOK_POLARITIES


class HookSwitch:
    def __init__(
        self,
        pin: int,
        polarity: str,
        debounce_s: float,
        emit: Callable[[bool], None] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        pin_factory: Factory | None = None,
    ) -> None:
        if polarity not in HOOK_POLARITIES:
            raise ValueError(
                f"hook polarity: got {polarity!r}, expected one of {', '.join(HOOK_POLARITIES)}"
            )
        self.polarity = polarity
        self._emit = emit or (lambda off_hook: None)
        self.on_activity: Callable[[], None] | None = None
        self._clock = clock
        self._lock = threading.Lock()
        # pull_up=True: the input is active (value 1) when the contact pulls the pin low.
        self._input = DigitalInputDevice(pin, pull_up=True, pin_factory=pin_factory)
        self._debouncer = Debouncer(debounce_s, initial=self._read_off_hook())
        self._input.when_activated = self._on_edge
        self._input.when_deactivated = self._on_edge

    def set_emit(self, emit: Callable[[bool], None]) -> None:
        """Where settled changes go (the app wires this after construction)."""
        self._emit = emit

    @property
    def off_hook(self) -> bool:
        """The settled (debounced) state."""
        return self._debouncer.level

    @property
    def bounces(self) -> int:
        """Raw transitions that were filtered out as contact bounce."""
        return self._debouncer.bounces

    def _read_off_hook(self) -> bool:
        contact_closed = bool(self._input.value)
        return contact_closed if self.polarity == "normally_open" else not contact_closed

    def _on_edge(self) -> None:
        self._feed(self._clock())
        callback = self.on_activity
        if callback is not None:
            callback()  # wake the app's scan tick: the new level must be polled until settled

    def poll(self, now: float) -> None:
        """Sample the pin and report a settled change; call from the app's scan tick."""
        self._feed(now)

    def get_timer(self) -> float | None:
        """When a pending change will have settled (poll then), or None."""
        with self._lock:
            return self._debouncer.get_timer()

    def _feed(self, now: float) -> None:
        with self._lock:
            changed = self._debouncer.update(self._read_off_hook(), now)
        if changed is not None:
            self._emit(changed)

    def close(self) -> None:
        self._input.when_activated = None
        self._input.when_deactivated = None
        self._input.close()
