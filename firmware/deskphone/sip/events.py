"""Events the SIP user agent core reports (`UserAgent.next_event()`); frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IncomingCall:
    call_id: str
    remote_uri: str
    remote_display: str | None
    sdp: bytes
    # RFC 3891: the Call-ID of our call this one replaces (its dialog matched the INVITE's
    # Replaces header, §3): it is answered at once in that call's place.
    replaces: str | None = None


@dataclass(frozen=True)
class CallProgress:
    """180/183 (and other provisional responses above 100) to our INVITE."""

    call_id: str
    code: int
    reason: str
    sdp: bytes | None


@dataclass(frozen=True)
class CallAnswered:
    """2xx to our INVITE, or to our re-INVITE (then `sdp` is the answer to the new offer)."""

    call_id: str
    sdp: bytes


@dataclass(frozen=True)
class CallEstablished:
    """The ACK for our 2xx arrived (UAS side): media may flow both ways."""

    call_id: str


CALL_END_REASONS = frozenset(
    [
        "busy",
        "declined",
        "unreachable",
        "timeout",
        "cancelled",
        "remote_hangup",
        "local_hangup",
        "failed",
        "connection_lost",  # the session expired unrefreshed (RFC 4028 §10), or its refresh failed
    ]
)


@dataclass(frozen=True)
class CallEnded:
    call_id: str
    reason: str  # one of CALL_END_REASONS
    code: int | None = None


@dataclass(frozen=True)
class Reoffer:
    """The peer sent a re-INVITE with a new offer; answer with `UserAgent.answer_reoffer`."""

    call_id: str
    sdp: bytes


@dataclass(frozen=True)
class ReofferFailed:
    """Our re-INVITE was refused (not 491, which is retried): the old session stays."""

    call_id: str
    code: int


@dataclass(frozen=True)
class Redirect:
    call_id: str
    contacts: tuple[str, ...]


@dataclass(frozen=True)
class TransferRequested:
    """The peer REFERred us (RFC 3515): we accepted (202) and sent NOTIFY 100; place a call to
    `target` and report its outcome with `UserAgent.notify_transfer`."""

    call_id: str
    target: str
    replaces: str | None = None  # attended transfer: the Replaces value for the new INVITE


@dataclass(frozen=True)
class TransferAccepted:
    """Our REFER was accepted (2xx); NOTIFYs with the new call's progress follow."""

    call_id: str


@dataclass(frozen=True)
class TransferNotify:
    """A NOTIFY for our REFER: the status line of the transferee's new call (RFC 3515 §2.4.5).
    `final` when the subscription ended (a final status, or Subscription-State terminated)."""

    call_id: str
    code: int
    reason: str
    final: bool


@dataclass(frozen=True)
class TransferFailed:
    """Our REFER was refused, never answered (408), or its subscription lapsed without news."""

    call_id: str
    code: int


@dataclass(frozen=True)
class RegistrationState:
    account: str
    state: str  # "registered" | "failed" | "unregistered"
    expires: int
    reason: str
    code: int | None = None  # the final response's status; None: no answer (timeout, transport)
    registrar: str = ""  # the registrar that answered (or did not): Account.proxy or .registrar
    retry_after: float | None = None  # RFC 3261 §20.33 Retry-After of a failure response, seconds


@dataclass(frozen=True)
class ProbeResult:
    """The answer to `UserAgent.probe` (an OPTIONS, RFC 3261 §11): any response means alive."""

    probe_id: str
    target: str
    code: int | None  # None: no answer before the timeout


@dataclass(frozen=True)
class MessageWaiting:
    """The account's voicemail (RFC 3842 message-summary): messages waiting, new and old voice
    messages (0 when the server gave no count)."""

    account: str
    waiting: bool
    new: int
    old: int


Event = (
    IncomingCall
    | CallProgress
    | CallAnswered
    | CallEstablished
    | CallEnded
    | Reoffer
    | ReofferFailed
    | Redirect
    | TransferRequested
    | TransferAccepted
    | TransferNotify
    | TransferFailed
    | RegistrationState
    | ProbeResult
    | MessageWaiting
)
