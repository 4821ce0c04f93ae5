"""What the control socket's `state` reports of the phone machine: its call and security
state, the screen's text, the other calls, forwarding and voicemail — a plain dict, JSON as it
is, read only."""

from __future__ import annotations

from typing import Any


def snapshot_of(m: Any) -> dict[str, object]:
    """`m` is the PhoneMachine (not imported here: machine.py imports this module)."""
    lines: list[str] = getattr(m.screen, "lines", lambda: [])()
    return {
        "call": m.state.value,
        "security": m.security.value,
        "sas": m.sas,
        "post_quantum": m.call_security.post_quantum,
        "peer": m.peer,
        "off_hook": m.off_hook,
        "digits": m.digits,
        "held": m.held,
        "dtmf": m.last_dtmf,
        "stats_shown": m.quality.shown,
        "screen": "\n".join(lines),
        "peer_warning": m.call_security.peer_warning,
        "possible_attack": m.call_security.possible_attack,
        "lan_warning": m.idle.lan_warning or None,
        "transfer": m.transfer.target,
        "transfer_failed": m.transfer.failed or None,
        "transfer_progress": m.transfer.progress or None,
        "dnd": m.idle.dnd,
        "forward": m.forward.snapshot(),
        "voicemail": m.idle.voicemail(),
        "muted": m.muted,
        "handset_audio": "lost" if m.handset_lost else "ok",
        "calls": m.calls(),
        "waiting": getattr(m.others.waiting(), "peer", None),
        "held_calls": sum(r.role == "held" for r in m.others.records.values()),
        "conference": m.others.conference() is not None,
    }
