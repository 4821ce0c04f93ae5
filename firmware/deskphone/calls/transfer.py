"""Blind call transfer (RFC 3515 REFER, flows of RFC 5589 §6) for the call layer.

Transferor (we hand our peer on): the phone asks `transfer(target)`; the target is resolved by
the dial plan like a dialled number, and REFER carries its URI. The peer's NOTIFYs report its
new call: a final 2xx means it was answered, so our leg ends (`TransferSucceeded`: the phone
hangs up); anything else, a refusal of the REFER or silence, is `TransferFailed` and the call
goes on.

Transferee (our peer hands us on): on `TransferRequested` the current call is set aside — its
media stream stops touching the handset but stays open — and a new call to the Refer-To URI is
placed, ZRTP and all, as if dialled. Its progress goes back as NOTIFY sipfrags. When it is
answered, NOTIFY 200 goes out and the old call is hung up; when it fails, the failure is
reported and the old call comes back to the handset (RFC 5589 §6.2), unless the transferor hung
up meanwhile, in which case the failure simply ends the call.

Attended transfer (RFC 5589 §7): the transferor has consulted the target on a second call and
hands the held call over with `transfer_attended(held call)`: REFER on the held call whose
Refer-To is the target's Contact with `?Replaces=` naming the consultation dialog (RFC 3891).
On NOTIFY 2xx the held call is hung up and the consultation call let go (the target ends it
with its own BYE once the new call replaced it). As transferee the REFER's Replaces rides on the
new INVITE; as target the call layer answers that INVITE in the replaced call's place.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from deskphone.calls.call import ActiveCall
from deskphone.devices.audio import AudioPort, NullAudio
from deskphone.phone import events as pev
from deskphone.sip import events as sev
from deskphone.sip.useragent import CallStateError, UserAgent

log = logging.getLogger(__name__)

# RFC 3261 §21 reason phrases for the sipfrag when the new call ended without a status.
FALLBACK_STATUS = {"timeout": 408, "cancelled": 487, "unreachable": 480, "busy": 486,
                   "declined": 603, "local_hangup": 487}


class TransferHost(Protocol):
    """What a transfer needs from the call layer (deskphone.calls.manager.CallManager): the
    current call, routing, SIP commands and the calls' life cycle — never its private state."""

    ua: UserAgent

    @property
    def current(self) -> ActiveCall | None: ...
    def resolve(self, target: str) -> tuple[str, str | None] | str: ...
    def sip(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any: ...
    def emit(self, event: pev.Event) -> None: ...
    def place(self, target: str, replaces: str | None = None) -> ActiveCall | None: ...
    def find(self, call_id: str | None) -> ActiveCall | None: ...
    def partner_of(self, call: ActiveCall) -> ActiveCall | None: ...
    def hangup_call(self, call: ActiveCall) -> None: ...
    def set_current(self, call: ActiveCall | None) -> None: ...
    def end(self, call: ActiveCall) -> None: ...


@dataclass
class PendingTransfer:
    """Transferee side: the call set aside and the new call replacing it."""

    original: ActiveCall
    replacement: ActiveCall
    original_audio: AudioPort | None  # what the original stream used, given back on failure


class CallTransfers:
    def __init__(self, calls: TransferHost) -> None:
        self.calls = calls
        self.pending: PendingTransfer | None = None
        self.attended: tuple[ActiveCall, ActiveCall] | None = None  # (handed over, target)
        self.counters = {"refers_sent": 0, "refers_received": 0, "succeeded": 0, "failed": 0}

    # -- transferor ---------------------------------------------------------------------------

    def transfer(self, target: str) -> None:
        """Send our peer to `target` (a number the dial plan resolves, or a sip: URI)."""
        call = self.calls.current
        if call is None or not call.call_id or call.negotiated is None:
            self.calls.emit(pev.TransferAborted("no call to transfer"))
            return
        resolved = self.calls.resolve(target)
        if isinstance(resolved, str):
            self.calls.emit(pev.TransferAborted(f"unknown number: {resolved}"))
            return
        uri, _account = resolved
        if not uri.startswith(("sip:", "sips:", "tel:")):
            uri = self._account_uri(uri)
        try:
            self.calls.sip(self.calls.ua.refer, call.call_id, uri)
        except (CallStateError, ValueError) as exc:
            self.calls.emit(pev.TransferAborted(str(exc)))
            return
        self.counters["refers_sent"] += 1

    def transfer_attended(self, call_id: str) -> None:
        """Hand the call `call_id` over to the other call's party (RFC 5589 §7)."""
        calls = self.calls
        transferee = calls.find(call_id)
        target = calls.partner_of(transferee) if transferee is not None else None
        if transferee is None or target is None or transferee.negotiated is None:
            calls.emit(pev.TransferAborted("attended transfer needs two answered calls"))
            return
        try:
            replaces = calls.sip(calls.ua.dialog_replaces, target.call_id)
            contact = calls.sip(calls.ua.dialog_target, target.call_id)
            calls.sip(calls.ua.refer, transferee.call_id, contact, replaces=replaces)
        except (CallStateError, ValueError) as exc:
            calls.emit(pev.TransferAborted(str(exc)))
            return
        self.counters["refers_sent"] += 1
        self.attended = (transferee, target)

    def _attended_outcome(self, ok: bool, detail: str) -> None:
        assert self.attended is not None
        transferee, target = self.attended
        self.attended = None
        if not ok:
            self.counters["failed"] += 1
            self.calls.emit(pev.TransferAborted(detail))
            return
        self.counters["succeeded"] += 1
        self.calls.hangup_call(transferee)
        self.calls.end(target)  # the target's BYE for the replaced dialog follows (§7)
        self.calls.emit(pev.TransferSucceeded(call_id=transferee.call_id))

    def _account_uri(self, number: str) -> str:
        """A bare number routed by the registrar: the peer reaches it in our account's domain."""
        accounts = self.calls.ua.config.accounts
        return f"sip:{number}@{accounts[0].domain}" if accounts else f"sip:{number}"

    # -- SIP events -------------------------------------------------------------------------

    def on_sip_event(self, event: sev.Event) -> bool:
        """Handle what concerns a transfer; True when the call layer must not handle it too."""
        calls = self.calls
        current = calls.current
        attended = self.attended[0].call_id if self.attended is not None else None
        match event:
            case sev.TransferNotify(call_id=call_id, code=code, reason=reason, final=final) if (
                    call_id == attended):
                if final:
                    self._attended_outcome(200 <= code < 300, f"{code} {reason}".strip())
                else:
                    calls.emit(pev.TransferProgress(code, reason))
                return True
            case sev.TransferFailed(call_id=call_id, code=code) if call_id == attended:
                self._attended_outcome(False, f"{code} refused")
                return True
            case sev.CallEnded(call_id=call_id) if (
                    self.attended is not None and call_id == self.attended[1].call_id):
                # The target replaced our consultation call (RFC 5589 §7) and ended it: no
                # "call ended" for the phone, the NOTIFY with the outcome follows.
                calls.end(self.attended[1])
                return True
            case sev.TransferNotify(call_id=call_id, code=code, reason=reason, final=final):
                if not final and current is not None and current.call_id == call_id:
                    calls.emit(pev.TransferProgress(code, reason))
                elif final and current is not None and current.call_id == call_id:
                    if 200 <= code < 300:
                        self.counters["succeeded"] += 1
                        calls.emit(pev.TransferSucceeded())
                    else:
                        self.counters["failed"] += 1
                        calls.emit(pev.TransferAborted(f"{code} {reason}".strip()))
                return True
            case sev.TransferFailed(call_id=call_id, code=code):
                if current is not None and current.call_id == call_id:
                    self.counters["failed"] += 1
                    calls.emit(pev.TransferAborted(f"{code} refused"))
                return True
            case sev.TransferAccepted():
                return True
            case sev.TransferRequested(call_id=call_id, target=target, replaces=replaces):
                self._requested(call_id, target, replaces)
                return True
        pending = self.pending
        if pending is None:
            return False
        return self._pending_event(pending, event)

    # -- transferee ---------------------------------------------------------------------------

    def _requested(self, call_id: str, target: str, replaces: str | None = None) -> None:
        calls = self.calls
        original = calls.current
        self.counters["refers_received"] += 1
        if (original is None or original.call_id != call_id or original.negotiated is None
                or self.pending is not None):
            self._notify(call_id, 503, "Service Unavailable")  # not in a call we can leave
            return
        resolved = calls.resolve(target)
        if isinstance(resolved, str):
            self._notify(call_id, 404, "Not Found")
            return
        # The old call keeps its media stream (the transferor may hold us) but lets go of the
        # handset: the new call's stream owns it from now on.
        audio = None
        if original.media is not None:
            audio = original.media.audio
            original.media.audio = NullAudio(audio.rate)
        calls.set_current(None)
        calls.emit(pev.TransferStarted(target))
        replacement = calls.place(target, replaces)
        if replacement is None:  # placing failed at once
            self._restore(original, audio, "could not place the call")
            self._notify(call_id, 500, "Server Internal Error")
            return
        self.pending = PendingTransfer(original, replacement, audio)

    def failed_locally(self, call: ActiveCall, detail: str) -> bool:
        """The new call could not even be placed (no media port...): True when handled."""
        pending = self.pending
        if pending is None or call is not pending.replacement:
            return False
        self._fall_back(pending, 500, "Server Internal Error", detail)
        return True

    def hangup(self) -> None:
        """The person hung up during the transfer: the call set aside ends too."""
        pending, self.pending = self.pending, None
        if pending is not None and not pending.original.ended:
            self._end_original(pending.original)

    def _pending_event(self, pending: PendingTransfer, event: sev.Event) -> bool:
        original, replacement = pending.original, pending.replacement
        match event:
            case sev.CallEnded(call_id=call_id) if call_id == original.call_id:
                # The transferor hung up while we place the new call: it goes on alone.
                self.calls.end(original)
                return True
            case sev.CallProgress(call_id=call_id, code=code, reason=reason) if (
                    call_id == replacement.call_id and code in (180, 183)):
                self._notify(original.call_id, code, reason)
                return False  # the phone shows ringback as for any call
            case sev.CallAnswered(call_id=call_id) if (
                    call_id == replacement.call_id and replacement.negotiated is None):
                self.pending = None
                self.counters["succeeded"] += 1
                self._notify(original.call_id, 200, "OK")
                self._end_original(original)
                return False  # the call layer starts the new call's media as usual
            case sev.CallEnded(call_id=call_id, reason=reason, code=code) if (
                    call_id == replacement.call_id):
                status = code if code is not None and code >= 300 else FALLBACK_STATUS.get(
                    reason, 500)
                self._fall_back(pending, status, reason.replace("_", " ").title(),
                                f"{status} {reason}")
                return True
        return False

    def _fall_back(self, pending: PendingTransfer, status: int, reason: str,
                   detail: str) -> None:
        self.pending = None
        self.counters["failed"] += 1
        calls = self.calls
        replacement = pending.replacement
        if calls.current is replacement:
            calls.set_current(None)
        calls.end(replacement)
        original = pending.original
        self._notify(original.call_id, status, reason)
        if original.ended:  # nobody to go back to
            calls.emit(pev.CallFinished("failed", status, detail))
            return
        self._restore(original, pending.original_audio, detail)

    def _restore(self, original: ActiveCall, audio: AudioPort | None, detail: str) -> None:
        if original.media is not None and audio is not None:
            original.media.audio = audio
        self.calls.set_current(original)
        self.calls.emit(pev.TransferAborted(detail))

    def _end_original(self, original: ActiveCall) -> None:
        calls = self.calls
        with contextlib.suppress(Exception):
            calls.sip(calls.ua.hangup, original.call_id)
        calls.end(original)

    def _notify(self, call_id: str, status: int, reason: str) -> None:
        try:
            self.calls.sip(self.calls.ua.notify_transfer, call_id, status, reason)
        except CallStateError as exc:  # the subscription is already over
            log.info("transfer NOTIFY %s not sent: %s", status, exc)

    def info(self) -> dict[str, Any]:
        return {"transferring": self.pending is not None, **self.counters}
