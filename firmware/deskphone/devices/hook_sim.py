"""A simulated cradle contact: drives the hook switch's mock pin the way the wiring would.

The real `HookSwitch` (pull-up input, polarity, debounce) runs unchanged on it; `set_off_hook`
is what the terminal UI and `deskphone ctl hook off|on` call in sim mode. Create it *before*
the `HookSwitch`: the pin is then a `CradlePin`, on which a closed contact keeps the line low
even when the input's pull-up is switched on (a plain mock pin would jump high).
"""

from __future__ import annotations

from gpiozero.pins.mock import MockFactory, MockPin

from deskphone.devices.pinmap import HOOK_POLARITIES


class CradlePin(MockPin):
    """A mock input with a switch to ground: closed contact = low, whatever the pull."""

    contact_closed = False

    def _set_pull(self, value: str) -> None:
        super()._set_pull(value)
        if self.contact_closed:
            self.drive_low()


class SimHookContact:
    def __init__(self, factory: MockFactory, pin: int, polarity: str) -> None:
        if polarity not in HOOK_POLARITIES:
            raise ValueError(
                f"hook polarity: got {polarity!r}, expected one of {', '.join(HOOK_POLARITIES)}"
            )
        self._pin = factory.pin(pin, pin_class=CradlePin)
        self.polarity = polarity

    def set_off_hook(self, off_hook: bool) -> None:
        # normally_open: lifting closes the contact to ground (low); normally_closed: opens it.
        contact_closed = off_hook if self.polarity == "normally_open" else not off_hook
        if isinstance(self._pin, CradlePin):
            self._pin.contact_closed = contact_closed
        if contact_closed:
            self._pin.drive_low()
        elif self._pin.pull != "down":
            self._pin.drive_high()
