"""The keys of a lifted handset before a call: digits build the number (shown as dialled), `*`
erases, `#` or the inter-digit timeout (or a dial plan that says the number is complete) places
the call; `#` with nothing dialled redials the last number.

`Dialing` is owned by the machine (`machine.dialing`); its handlers are rows `dialing.NAME` of
the table (transitions.py). The digits are the machine's (`digits`, shown in `state`); it is
reached only through the machine's public state and helpers (`CallHost`, call_host.py).
"""

from __future__ import annotations

from deskphone.phone import events as ev
from deskphone.phone.call_host import CallHost
from deskphone.phone.screens import DialingScreen, OffHookScreen
from deskphone.phone.vocabulary import DIAL_KEYS, MAX_DIGITS, CallState

Commands = list[ev.Command]


class Dialing:
    def __init__(self, machine: CallHost) -> None:
        self.m = machine

    def first_key(self, event: ev.KeyPressed) -> Commands:
        last = self.m.idle.history.last_dialled
        if event.key == "#" and last:  # '#' with nothing dialled: redial
            return self.m.place(last)
        if event.key not in DIAL_KEYS:
            return []  # '*' or '#' with nothing dialled yet: nothing to erase or send
        self.m.state = CallState.DIALING
        return [ev.PlayTone(None)] + self._add_digit(event.key)

    def _add_digit(self, key: str) -> Commands:
        if len(self.m.digits) >= MAX_DIGITS:
            return [ev.PlayTone("error")]
        self.m.digits += key
        complete = self.m.settings.is_complete
        if complete is not None and complete(self.m.digits):
            return self.m.place(self.m.digits)
        self.m.set_timer("interdigit", self.m.now + self.m.settings.interdigit_timeout)
        return [self.m.show(DialingScreen(digits=self.m.digits))]

    def key(self, event: ev.KeyPressed) -> Commands:
        key = event.key
        if key in DIAL_KEYS:
            return self._add_digit(key)
        if key == "#":
            return self.m.place(self.m.digits)
        if key == "*":
            self.m.digits = self.m.digits[:-1]
            if not self.m.digits:
                self.m.clear_timer()
                self.m.state = CallState.OFFHOOK
                return [ev.PlayTone("dial"), self.m.show(OffHookScreen())]
            self.m.set_timer("interdigit", self.m.now + self.m.settings.interdigit_timeout)
            return [self.m.show(DialingScreen(digits=self.m.digits))]
        return []  # A-D have no meaning while dialling
