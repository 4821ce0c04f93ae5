"""Stateless answers when remote parties hold too many server transactions (RFC 3261 §8.2.7).

Every request a stranger sends creates a server transaction that lives for 64*T1 (32 s over UDP,
Timer H or J, §17.2) and an INVITE also a call record and a final response retransmitted about
ten times. A flood of fresh requests from many sources (each under the per-source rate limit)
would grow both without bound and make the phone reflect a dozen datagrams per forged INVITE.
Past `max_server_transactions` the user agent therefore answers new out-of-dialog requests as a
stateless UAS does (§8.2.7): one response, no 1xx, no retransmission, no state kept, a To tag
derived from the request so that a retransmission gets the same answer; an INVITE gets 503
Service Unavailable with Retry-After (§21.5.4: "temporary overloading"). Requests within a dialog
the phone has, and ACK/CANCEL of its own transactions, stay stateful: the call that is up keeps
working.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable

from deskphone.sip.builder import MessageBuilder
from deskphone.sip.config import UaStats
from deskphone.sip.message import SipRequest

Addr = tuple[str, int]
RETRY_AFTER_SECONDS = 30  # about one Timer H: when the transactions that filled the table end


class StatelessAnswers:
    def __init__(self, builder: MessageBuilder, stats: UaStats,
                 send: Callable[[bytes, Addr], None]) -> None:
        self.builder = builder
        self.stats = stats
        self._send = send
        self._key = secrets.token_bytes(16)  # tags nobody can predict, the same per request

    def tag_for(self, request: SipRequest) -> str:
        """§8.2.7: "in a manner that will generate the same tag for the same request
        consistently" — a keyed hash of what identifies the request (§17.2.3)."""
        identity = "\n".join((request.call_id, request.headers.get("From") or "",
                              request.top_via.param("branch") or "",
                              request.headers.get("CSeq") or "")).encode("utf-8", "replace")
        return hmac.new(self._key, identity, hashlib.sha256).hexdigest()[:16]

    def answer(self, request: SipRequest, status: int, addr: Addr) -> None:
        """One response to `request`, nothing remembered. §8.2.7: no 1xx, ACK and CANCEL are
        ignored (the caller drops them before this)."""
        if request.method == "INVITE":
            status = 503
        response = self.builder.response(request, status, to_tag=self.tag_for(request))
        if status == 503:
            response.headers.add("Retry-After", str(RETRY_AFTER_SECONDS))
        elif request.method == "OPTIONS" and status == 200:
            response.headers.add("Accept", "application/sdp")
        self._send(response.serialize(), addr)
        self.stats.stateless_answered += 1


__all__ = ["RETRY_AFTER_SECONDS", "StatelessAnswers"]
