"""One call's state in the user agent (RFC 3261 §12-§15): the `Call` record the INVITE,
in-dialog and transfer handling share, the call command error, and how a failure response
reads as a `CallEnded` reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from deskphone.sip.dialog import Dialog
from deskphone.sip.message import SipRequest
from deskphone.sip.registration import Account
from deskphone.sip.transaction import ClientTransaction, ServerTransaction, Transaction
from deskphone.sip.uri import Uri

Addr = tuple[str, int]


@dataclass
class Call:
    call_id: str
    role: str  # "uac" | "uas"
    invite: SipRequest
    addr: Addr
    account: Account | None = None
    state: str = "calling"  # calling, early, answered, confirmed, ended
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


class CallStateError(RuntimeError):
    """A call command was given in a state that forbids it."""


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


__all__ = ["Addr", "Call", "CallStateError", "end_reason"]
