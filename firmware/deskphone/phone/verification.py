"""Comparing the SAS and what ZRTP says of the call's security, as handlers of the table.

The security state itself (none, securing, secure, verified, not_secure, mismatch) is
`call_security.py`'s; this part is where the events and keys that move it arrive: ZRTP's
progress (RFC 6189 §4: securing, secured, not secure, a possible MitM), the person's verdict on
the SAS (`#` it matches, `*` it does not, while it waits to be compared; RFC 6189 §7), a
re-verify that forgets the verified flag and shows the SAS again, and the call layer's
warnings about the far end. Each hands the result to `CallSecurity` and redraws the call
screen when it changed.

Owned by the machine (`machine.verification`); its handlers are rows `verification.NAME` of the
table (transitions.py), and it reaches the machine only through `CallHost` (call_host.py). It
is given the call-quality part to hide that screen on a re-verify (the SAS must be visible).
"""

from __future__ import annotations

from deskphone.phone import events as ev
from deskphone.phone.call_host import CallHost
from deskphone.phone.call_quality import CallQuality
from deskphone.phone.vocabulary import IN_CALL_STATES

SAS_MATCHES_KEY = "#"
SAS_DIFFERS_KEY = "*"

Commands = list[ev.Command]


class SasVerification:
    """Owned by the machine (`machine.verification`); rows `verification.NAME` of the table."""

    def __init__(self, machine: CallHost, quality: CallQuality) -> None:
        self.m = machine
        self.quality = quality

    def key(self, event: ev.KeyPressed) -> Commands | None:
        """A key in a call while the SAS waits to be compared: `#` or `*` is the verdict;
        None for any other key, or when nothing waits (the key keeps its usual meaning)."""
        if not self.m.call_security.awaiting_comparison():
            return None
        if event.key == SAS_MATCHES_KEY:
            return self.confirm(event)
        if event.key == SAS_DIFFERS_KEY:
            return self.reject_sas(event)
        return None

    def confirm(self, _: ev.Event) -> Commands:
        return self._redrawn(self.m.call_security.confirm())

    def reject_sas(self, _: ev.Event) -> Commands:
        return self._redrawn(self.m.call_security.reject())

    def zrtp_outcome(self, event: ev.Event) -> Commands:
        return self._redrawn(self.m.call_security.on_event(event))

    def reverify(self, _: ev.Event) -> Commands:
        commands = self.m.call_security.reverify()
        if commands is None:
            return []
        self.quality.hide()
        return [*commands, *self.m.refresh_call_screen()]

    def peer_warning(self, event: ev.PeerWarning) -> Commands:
        commands = self.m.call_security.warn(event.kind)
        if commands is None:
            self.m.ignored += 1
            return []
        if commands or self.m.state in IN_CALL_STATES:
            return [*commands, *self.m.refresh_call_screen()]
        return []

    def _redrawn(self, commands: Commands | None) -> Commands:
        """None: the security state did not move (nothing to send or draw)."""
        return [] if commands is None else [*commands, *self.m.refresh_call_screen()]
