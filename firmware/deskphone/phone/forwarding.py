"""Call forwarding on the phone: always, when busy, or when nobody answers after N seconds.

A forwarded caller gets a 302 Moved Temporarily whose Contact is the target routed by the dial
plan (the call layer does that; RFC 3261 §21.3.3), and the caller's phone calls there (§8.1.3.4).
"Busy" means a call is already in the earpiece or the handset is up: the caller is forwarded
instead of waiting or hearing 486. Forwarding comes before do not disturb. Each forwarded
caller is a `forwarded` entry of the call history, and the idle screen says where calls go.

`CallForwarding` is owned by the machine (`machine.forward`); its handlers are rows
`forward.NAME` of the table (transitions.py).
"""

from __future__ import annotations

from deskphone.phone import events as ev
from deskphone.phone.call_host import CallHost
from deskphone.phone.vocabulary import CallState

FORWARD_MODES = ("off", "always", "busy", "no_answer")
Commands = list[ev.Command]


class CallForwarding:
    def __init__(self, machine: CallHost) -> None:
        self.m = machine
        s = machine.settings
        self.mode, self.target, self.after = s.forward, s.forward_to, s.forward_after
        machine.idle.forwarding = self.summary

    def set(self, event: ev.ForwardSet) -> Commands:
        self.mode, self.target, self.after = event.mode, event.target, event.after
        if self.mode == "off":
            self.target = ""
        self.m.idle.forwarding = self.summary
        return [self.m.show(self.m.idle.screen())] if self.m.state is CallState.IDLE else []

    def snapshot(self) -> dict[str, object]:
        return {"mode": self.mode, "target": self.target or None, "after": self.after}

    @property
    def summary(self) -> str:
        """What the idle screen says: "Fwd 205", "Busy>205", "20s>205"; "" when off."""
        target = _short(self.target)
        if self.mode == "always":
            return f"Fwd {target}"
        if self.mode == "busy":
            return f"Busy>{target}"
        if self.mode == "no_answer":
            return f"{self.after:g}s>{target}"
        return ""

    def arrived(self, event: ev.CallArrived, busy: bool) -> Commands:
        """A caller arrives: the forward's commands, or [] when it is not forwarded."""
        if self.mode == "always" or (self.mode == "busy" and busy):
            return self._send(event.call_id, event.caller, event.display_name or "")
        return []

    def call_waiting(self, event: ev.CallArrived) -> Commands:
        """A caller during a call: forwarded (always, busy), or it waits as before."""
        return self.arrived(event, busy=True) or self.m.several.call_waiting(event)

    def ring_deadline(self, since: float) -> float | None:
        """When a ringing call goes on to the target (no_answer), or None."""
        return since + self.after if self.mode == "no_answer" else None

    def no_answer(self) -> Commands:
        """The no-answer time passed while ringing: the caller goes on to the target."""
        call_id = self.m.incoming_call_id or ""
        tracked = self.m.tracker.set_aside()  # its entry says forwarded, not missed
        caller, name = (tracked.peer, tracked.name) if tracked is not None else ("", "")
        return [*self._send(call_id, caller, name), *self.m.several.go_idle_or_held()]

    def _send(self, call_id: str, caller: str, name: str) -> Commands:
        now = self.m.now
        return [ev.ForwardCall(call_id, self.target),
                ev.RecordCall(direction="forwarded", peer=caller, name=name, started=now,
                              answered=None, ended=now, security="none")]


def _short(target: str) -> str:
    """A URI's user part (or host) for the panel's few characters: sip:desk@pbx -> desk."""
    if ":" not in target:
        return target
    rest = target.split(":", 1)[1]
    return rest.split("@", 1)[0] if "@" in rest else rest.split(";", 1)[0]
