"""One call's state in the user agent (RFC 3261 §12-§15): the `Call` record the INVITE,
in-dialog and transfer handling share, the `CallTable` they all look calls up in and end them
through, the call command error, and how a failure response reads as a `CallEnded` reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from deskphone.sip import events as ev
from deskphone.sip.account import Account
from deskphone.sip.dialog import Dialog
from deskphone.sip.message import SipRequest
from deskphone.sip.transaction import ClientTransaction, ServerTransaction, Transaction
from deskphone.sip.uri import Uri

Addr = tuple[str, int]


class SipCallState(StrEnum):
    CALLING = "calling"  # INVITE sent / received, nothing more
    EARLY = "early"  # a provisional response above 100 (§13.2.2.1, §13.3.1.1)
    ANSWERED = "answered"  # UAS: our 2xx sent, its ACK not yet here
    CONFIRMED = "confirmed"  # the dialog is confirmed (§12.1)
    ENDED = "ended"


@dataclass
class SessionState:
    """The session interval agreed for one call, and who refreshes it (RFC 4028,
    session_timer.py)."""

    interval: int
    we_refresh: bool
    refreshed_at: float

    @property
    def refresh_at(self) -> float | None:
        return self.refreshed_at + self.interval / 2 if self.we_refresh else None  # §10

    @property
    def expires_at(self) -> float:
        # §10: the BYE goes out before the interval ends, so it arrives while the far side's
        # (and any proxy's) record of the session still exists.
        return self.refreshed_at + self.interval - min(32.0, self.interval / 3)


@dataclass
class Call:
    call_id: str
    role: str  # "uac" | "uas"
    invite: SipRequest
    addr: Addr
    account: Account | None = None
    state: SipCallState = SipCallState.CALLING
    dialog: Dialog | None = None
    local_tag: str = ""
    invite_tx: Transaction | None = None
    auth_attempts: int = 0
    redirects: int = 0
    cancel_pending: bool = False
    got_provisional: bool = False
    ack: bytes | None = None
    reinvite_tx: ClientTransaction | None = None
    reinvite_sdp: bytes | None = None
    reinvite_retry_at: float | None = None
    reoffer_tx: ServerTransaction | None = None
    ended: bool = False
    acks: dict[int, bytes] = field(default_factory=dict)  # CSeq -> ACK for its 2xx
    tried_targets: list[str] = field(default_factory=list)  # Request-URIs sent (3xx loops)
    alternates: list[Uri] = field(default_factory=list)  # §8.1.3.4: contacts still to try
    # RFC 3515 transferee: the CSeq of the REFER we accepted (its subscription's id), until the
    # final NOTIFY; transferor: the REFER we sent, and when its subscription lapses.
    refer_received: int | None = None
    refer_sent: bool = False
    refer_deadline: float | None = None
    # RFC 4028 (session_timer.py): the agreed session, a refresh due or in flight, the last
    # SDP we sent (a refresh offers it again), and what 422s asked for.
    session: SessionState | None = None
    session_refreshing: bool = False
    refresh_pending: bool = False
    local_sdp: bytes | None = None
    min_se_asked: int = 0
    retries_422: int = 0


class CallStateError(RuntimeError):
    """A call command was given in a state that forbids it."""


class CallTable:
    """The calls by Call-ID; ending one reports `CallEnded` once, and an ended call is freed
    when no transaction of its Call-ID is left (`free_ended`)."""

    def __init__(self, emit: Callable[[ev.Event], None]):
        self.calls: dict[str, Call] = {}
        self._emit = emit
        self.freeable: set[str] = set()

    def __contains__(self, call_id: object) -> bool:
        return call_id in self.calls

    def find(self, call_id: str) -> Call | None:
        return self.calls.get(call_id)

    def get(self, call_id: str, role: str | None = None) -> Call:
        call = self.calls.get(call_id)
        if call is None or (role is not None and call.role != role):
            raise CallStateError(
                f"no {role or ''} call with Call-ID {call_id!r}".replace("  ", " ")
            )
        return call

    def add(self, call: Call) -> None:
        self.calls[call.call_id] = call

    def discard(self, call_id: str) -> None:
        self.calls.pop(call_id, None)

    def end(self, call: Call, reason: str, code: int | None, keep: bool = False) -> None:
        """Mark the call ended (keep: its state stays, e.g. a CANCEL still to send) and report
        it once."""
        self.freeable.add(call.call_id)
        if call.ended:
            return
        call.ended = True
        if not keep:
            call.state = SipCallState.ENDED
        self._emit(ev.CallEnded(call.call_id, reason, code))

    def mark_ended(self, call: Call) -> None:
        """Ended without a report (we rejected it: the call layer knows)."""
        call.state = SipCallState.ENDED
        call.ended = True
        self.freeable.add(call.call_id)

    def free_ended(self, live: Callable[[str], bool], candidates: set[str]) -> None:
        """Drop the ended calls among `candidates` with no live transaction: by then the
        RFC 3261 timers (H, I, J, K, D, L, M) have absorbed every retransmission."""
        candidates |= self.freeable
        self.freeable = set()
        for call_id in candidates:
            call = self.calls.get(call_id)
            if call is not None and call.ended and not live(call_id):
                del self.calls[call_id]
        candidates.clear()


def end_reason(code: int) -> str:
    """Map a final failure response to a CallEnded reason (see events.CALL_END_REASONS)."""
    if code in (486, 600):
        return "busy"
    if code == 603:
        return "declined"
    if code in (404, 480, 604):
        return "unreachable"
    if code == 408:
        return "timeout"
    if code == 487:
        return "cancelled"
    return "failed"


__all__ = ["Addr", "Call", "CallStateError", "CallTable", "SessionState", "SipCallState",
           "end_reason"]
