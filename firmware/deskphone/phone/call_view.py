"""Which screen an answered (or answering) call shows, from a read-only view of the call.

The machine hands `call_screen` a `CallView` — only the facts a call screen needs, copied — and
gets a screen back; nothing here keeps state or sees the machine. The order of the checks is the
order of importance: a possible man in the middle hides everything else, then a second caller
waiting (naming the call heard and its security), the transfer screens, the call-quality
screen the person asked for, "not secure", the SAS to compare, and last the ordinary in-call
screen.
"""

from __future__ import annotations

from dataclasses import dataclass

from deskphone.phone import events as ev
from deskphone.phone.screens import (
    InCallScreen,
    MitmScreen,
    NotSecureScreen,
    SasScreen,
    StatsScreen,
    TransferScreen,
)
from deskphone.phone.screens.conference import ConferenceLeg, ConferenceScreen
from deskphone.phone.screens.several_calls import CallWaitingScreen
from deskphone.phone.transfer import TransferNotice
from deskphone.phone.vocabulary import (
    ATTACK_DETAIL,
    LETTER_KEYS,
    PEER_WARNINGS,
    CallState,
    KeyNames,
    Security,
)


@dataclass(frozen=True)
class CallView:
    state: CallState
    security: Security
    peer: str
    sas: str | None
    peer_warning: str | None  # a PEER_WARNINGS key
    transfer_target: str  # the target being keyed or sent, "" if none
    show_stats: bool
    stats: ev.CallStats | None
    not_secure_reason: str
    possible_attack: bool
    answered_at: float | None
    now: float
    held: bool
    dtmf: str
    post_quantum: bool = False  # the "PQ" mark beside SECURE (ZRTP DPQ1)
    waiting_caller: str = ""  # a second caller waits (issue 15)
    other: str = ""  # the line about a held call ("Held: Bob")
    handed_over: str = ""  # attended transfer: the held party handed to the heard one
    conference: tuple[ConferenceLeg, ...] = ()  # both legs of a conference mixed here
    transfer_progress: str = ""  # the far end's last NOTIFY sipfrag: "180 Ringing"
    transfer_notice: TransferNotice | None = None  # a transfer just failed: said for a moment
    keys: KeyNames = LETTER_KEYS  # how the hints name the keys (4x4 letters, 4x3 R codes)


def call_screen(view: CallView) -> object:
    peer = view.peer
    warning = PEER_WARNINGS.get(view.peer_warning or "", "")
    if view.security is Security.MISMATCH:
        return MitmScreen(peer=f"{warning} {peer}".strip(), sas=view.sas)
    if view.conference:
        return ConferenceScreen(legs=view.conference)
    if view.waiting_caller:
        return CallWaitingScreen(caller=view.waiting_caller, talking_to=peer,
                                 talking_security=view.security.value,
                                 answer_key=view.keys.swap)
    if view.state is CallState.TRANSFER_DIALING:
        return TransferScreen(peer=peer, digits=view.transfer_target)
    # The far end's sipfrag in place of "Transferring…" once one came: the title already says
    # who goes where, and the 128-pixel line holds "183 Session Progress…" but no more.
    progress = f"{view.transfer_progress}…" if view.transfer_progress else "Transferring…"
    if view.state is CallState.TRANSFERRING and view.handed_over:
        return TransferScreen(peer=view.handed_over, digits=peer, progress=progress)
    if view.state is CallState.TRANSFERRING:
        return TransferScreen(peer=peer, digits=view.transfer_target, progress=progress)
    if view.transfer_notice is not None:
        notice = view.transfer_notice
        return TransferScreen(peer=notice.peer, digits=notice.target, progress=notice.text)
    if view.show_stats:
        stats = view.stats or ev.CallStats("-", 0.0, 0.0, None)
        return StatsScreen(codec=stats.codec, loss_pct=stats.loss_pct,
                           jitter_ms=stats.jitter_ms, rtt_ms=stats.rtt_ms, path=stats.path)
    if view.security is Security.NOT_SECURE:
        if view.possible_attack:
            return NotSecureScreen(peer=peer, reason=ATTACK_DETAIL, attack=True)
        return NotSecureScreen(peer=peer, reason=view.not_secure_reason)
    if view.security is Security.SECURE and view.sas is not None:
        return SasScreen(peer=peer, sas=view.sas, warning=warning,
                         post_quantum=view.post_quantum,
                         held_alarm=view.other if view.other.startswith("!") else "")
    duration = 0 if view.answered_at is None else int(view.now - view.answered_at)
    return InCallScreen(peer=peer, duration_s=max(0, duration), security=view.security.value,
                        sas=view.sas, verified=view.security is Security.VERIFIED,
                        held=view.held, dtmf=view.dtmf, warning=warning,
                        post_quantum=view.post_quantum, other=view.other,
                        swap_key=view.keys.swap,
                        transfer_key=view.keys.transfer if view.other else "")
