"""Is the registration flow still the one the registrar knows? (RFC 5626 §4.4, over UDP.)

A CRLF keep-alive on UDP holds a home router's mapping but gets no answer, so it cannot tell
when the flow broke: the router forgot the mapping (a reboot, a link blip, a conntrack flush)
and the next packet left through a *new* public port, while the registrar still sends incoming
INVITEs to the old one, which the router drops. `FlowChecks` asks the registrar instead: an
OPTIONS on the flow (any final response is an answer; most registrars answer an OPTIONS to
themselves, Kamailio with 484 when it has no user part) whose top Via carries the public
address the registrar saw (RFC 3581 received/rport). RFC 5626 §4.4.2 treats a changed mapped
address as a failed flow, §4.4.1 no answer within 10 s: either way the account registers again
now, through the flow as it is, instead of at its next refresh (up to `expires` later).
"""

from __future__ import annotations

from deskphone.sip.builder import MessageBuilder
from deskphone.sip.message import SipRequest
from deskphone.sip.registration import Registration, mapped_address
from deskphone.sip.table import TransactionTable
from deskphone.sip.transaction import ResponseReceived, TransactionEvent, TransactionTimedOut
from deskphone.sip.uri import SipUri

ANSWER_WAIT = 10.0  # RFC 5626 §4.4.1: no pong within 10 s of the ping is a failed flow

class FlowChecks:
    def __init__(self, builder: MessageBuilder, transactions: TransactionTable):
        self.builder = builder
        self.transactions = transactions
        # Call-ID → (the registration it checks, give-up time).
        self.pending: dict[str, tuple[Registration, float]] = {}

    def check(self, registration: Registration, now: float) -> None:
        """An OPTIONS to `registration`'s registrar on its flow (one at a time per account)."""
        if any(r is registration for r, _ in self.pending.values()):
            return
        account = registration.account
        uri = account.next_hop_uri
        config = self.builder.config
        request = SipRequest(method="OPTIONS", uri=SipUri(uri.scheme, uri.host, port=uri.port))
        self.builder.add_via(request)
        request.headers.add("Max-Forwards", "70")
        request.headers.add("From", f"<sip:{account.user}@{account.domain}>"
                                    f";tag={self.builder.privacy.new_tag()}")
        request.headers.add("To", f"<{request.uri}>")
        call_id = self.builder.privacy.new_call_id(config.local_host)
        request.headers.add("Call-ID", call_id)
        request.headers.add("CSeq", "1 OPTIONS")
        self.pending[call_id] = (registration, now + ANSWER_WAIT)
        self.builder.stats.flow_checks_sent += 1
        self.transactions.start_client(request, account.registrar_addr, now)

    def owns(self, request: SipRequest) -> bool:
        return request.method == "OPTIONS" and request.call_id in self.pending

    def on_transaction_event(self, request: SipRequest, event: TransactionEvent,
                             now: float) -> None:
        if isinstance(event, TransactionTimedOut):
            self._failed(request.call_id, now)
        elif isinstance(event, ResponseReceived) and event.response.status >= 200:
            entry = self.pending.pop(request.call_id, None)
            if entry is None:
                return
            registration = entry[0]
            seen = mapped_address(event.response)
            known = registration.flow_address
            if seen is not None and known is not None and seen != known:
                # §4.4.2: the mapping changed; the registrar's binding names the old one.
                self.builder.stats.flow_changes += 1
                registration.register_again(now)

    def get_timer(self) -> float | None:
        return min((deadline for _, deadline in self.pending.values()), default=None)

    def handle_timer(self, now: float) -> None:
        for call_id, (_registration, deadline) in list(self.pending.items()):
            if deadline <= now:
                self._failed(call_id, now)

    def _failed(self, call_id: str, now: float) -> None:
        entry = self.pending.pop(call_id, None)
        if entry is None:
            return
        self.transactions.abandon_call(call_id)
        self.builder.stats.flow_failures += 1
        entry[0].register_again(now)


__all__ = ["ANSWER_WAIT", "FlowChecks"]
