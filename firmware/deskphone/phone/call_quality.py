"""The call-quality screen: the latest RTCP figures of the call and whether they are shown.

The app posts `CallStats` once a second in a call (codec, loss, jitter, round trip, media path;
RFC 3550 §6.4); the `STATS_KEY` (or `ctl stats`) swaps the call screen for these figures and
back. This part owns both facts so the machine only asks it what to draw (`shown`, `latest`);
it is owned by the machine (`machine.quality`), its handlers are rows `quality.NAME` of the
table (transitions.py), and it reaches the machine only through `CallHost` (call_host.py).
"""

from __future__ import annotations

from deskphone.phone import events as ev
from deskphone.phone.call_host import CallHost

Commands = list[ev.Command]


class CallQuality:
    """Owned by the machine (`machine.quality`); rows `quality.NAME` of the table."""

    def __init__(self, machine: CallHost) -> None:
        self.m = machine
        self.shown = False  # the call-quality screen instead of the call screen
        self.latest: ev.CallStats | None = None

    def clear(self) -> None:
        """A call ends: its figures and the choice to show them go with it."""
        self.shown = False
        self.latest = None

    def hide(self) -> None:
        """Back to the call screen (the SAS must be seen when it is compared again)."""
        self.shown = False

    def toggle(self, _: ev.Event) -> Commands:
        self.shown = not self.shown
        return self.m.refresh_call_screen()

    def received(self, event: ev.CallStats) -> Commands:
        self.latest = event
        return self.m.refresh_call_screen(only_if_changed=True) if self.shown else []
