"""OPTIONS probes (RFC 3261 §11): is this registrar or peer alive?

`Probes` sends an OPTIONS outside any dialog through the `TransactionStarter` it is given and
reports `ProbeResult` with the final status, or None when nothing came back in time (the
caller's timeout, else the transaction's Timer F)."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from deskphone.sip import events as ev
from deskphone.sip.builder import MessageBuilder, uri_addr
from deskphone.sip.message import SipRequest
from deskphone.sip.table import TransactionTable
from deskphone.sip.transaction import ResponseReceived, TransactionEvent, TransactionTimedOut
from deskphone.sip.uri import SipUri, parse_uri


class Probes:
    def __init__(self, builder: MessageBuilder, transactions: TransactionTable,
                 emit: Callable[[ev.Event], None]):
        self.builder = builder
        self.transactions = transactions
        self._emit = emit
        # Call-ID → (target, give-up time or None).
        self.pending: dict[str, tuple[str, float | None]] = {}

    def probe(self, target: str, now: float, timeout: float | None = None) -> str:
        text = target if target.lower().startswith(("sip:", "sips:")) else f"sip:{target}"
        uri = parse_uri(text)
        if not isinstance(uri, SipUri):
            raise ValueError(f"probe target {target!r} is not a SIP URI")
        config = self.builder.config
        call_id = secrets.token_hex(12)
        request = SipRequest(method="OPTIONS", uri=SipUri(uri.scheme, uri.host, port=uri.port))
        self.builder.add_via(request)
        request.headers.add("Max-Forwards", "70")
        request.headers.add("From", f"<sip:{config.user}@{config.local_host}>"
                                    f";tag={secrets.token_hex(6)}")
        request.headers.add("To", f"<{request.uri}>")
        request.headers.add("Call-ID", call_id)
        request.headers.add("CSeq", "1 OPTIONS")
        request.headers.add("Accept", "application/sdp")
        self.pending[call_id] = (target, None if timeout is None else now + timeout)
        self.transactions.start_client(request, uri_addr(request.uri), now)
        return call_id

    def owns(self, request: SipRequest) -> bool:
        return request.method == "OPTIONS" and request.call_id in self.pending

    def on_transaction_event(self, request: SipRequest, event: TransactionEvent) -> None:
        if isinstance(event, TransactionTimedOut):
            self.done(request.call_id, None)
        elif isinstance(event, ResponseReceived) and event.response.status >= 200:
            self.done(request.call_id, event.response.status)

    def get_timer(self) -> float | None:
        return min((d for _, d in self.pending.values() if d is not None), default=None)

    def handle_timer(self, now: float) -> None:
        for call_id, (_target, deadline) in list(self.pending.items()):
            if deadline is not None and deadline <= now:
                self.done(call_id, None)

    def done(self, call_id: str, code: int | None) -> None:
        probe = self.pending.pop(call_id, None)
        if probe is None:
            return
        self.transactions.abandon_call(call_id)  # no more retransmissions: we stopped asking
        self._emit(ev.ProbeResult(call_id, probe[0], code))


__all__ = ["Probes"]
