"""A simulated cradle contact: drives the hook switch's mock pin the way the wiring would.

The real `HookSwitch` (pull-up input, polarity, debounce) runs unchanged on it; `set_off_hook`
is what the terminal UI and `deskphone ctl hook off|on` call in sim mode.
"""

from __future__ import annotations

from gpiozero.pins.mock import MockFactory

from deskphone.devices.pinmap import HOOK_POLARITIES


class SimHookContact:
    def __init__(self, factory: MockFactory, pin: int, polarity: str) -> None:
        if polarity not in HOOK_POLARITIES:
            raise ValueError(
                f"hook polarity: got {polarity!r}, expected one of {', '.join(HOOK_POLARITIES)}"
            )
        self._pin = factory.pin(pin)
        self.polarity = polarity

    def set_off_hook(self, off_hook: bool) -> None:
        # normally_open: lifting closes the contact to ground (low); normally_closed: opens it.
        contact_closed = off_hook if self.polarity == "normally_open" else not off_hook
        if contact_closed:
            self._pin.drive_low()
        else:
            self._pin.drive_high()
