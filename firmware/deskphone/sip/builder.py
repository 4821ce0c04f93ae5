"""Building and addressing the user agent's messages (RFC 3261 §8.1.1, §8.2.6, §18, §22).

Every request gets its Via (a fresh branch, rport), Max-Forwards and Contact here, every response
its copied headers and our To tag; the privacy policy (docs/privacy.md) decides the User-Agent and
Server headers and strips what it does not allow before a client transaction starts. Also here:
where a request or response goes (§18.2.2, RFC 3581 rport, the dialog's route set), §8.2.2
inspection of what a request requires of us, and the §22.2 retry with digest credentials.

`MessageBuilder` is one object of the user agent, given the configuration, the privacy policy,
the counters and the account realms; it owns no transaction and no call. It never imports the
`UserAgent`: the owner updates `config` when the agent's configuration changes.
"""

from __future__ import annotations

import secrets

from deskphone.routing.privacy import PrivacyPolicy
from deskphone.sip.call import Addr, Call
from deskphone.sip.config import UaConfig, UaStats
from deskphone.sip.digest import AccountRealms, authorization_value, choose_challenge
from deskphone.sip.message import (
    MAGIC_COOKIE,
    SipMessage,
    SipParseError,
    SipRequest,
    SipResponse,
)
from deskphone.sip.transaction import ServerTransaction
from deskphone.sip.uri import SipSyntaxError, SipUri, Uri

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY, INFO"
# We require nothing; we implement Replaces (RFC 3891 §6.2) and session timers (RFC 4028), so
# `Require: replaces` and `Require: timer` are fine.
SUPPORTED_EXTENSIONS: frozenset[str] = frozenset({"replaces", "timer"})
REASON_PHRASES = {
    100: "Trying",
    180: "Ringing",
    183: "Session Progress",
    200: "OK",
    202: "Accepted",
    302: "Moved Temporarily",  # call forwarding (RFC 3261 §21.3.3)
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    408: "Request Timeout",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "Version Not Supported",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
}


class MessageBuilder:
    """Message building and addressing for the user agent's parts."""

    def __init__(self, config: UaConfig, privacy: PrivacyPolicy, stats: UaStats,
                 realms: AccountRealms):
        self.config = config
        self.privacy = privacy
        self.stats = stats
        self.realms = realms

    @property
    def reliable(self) -> bool:
        return self.config.transport.lower() != "udp"

    # -- requests and responses ----------------------------------------------------------------
    def finish_request(self, request: SipRequest) -> None:
        """The last touch before a client transaction sends it: User-Agent (§20.41) and
        whatever the privacy policy strips."""
        user_agent = self.privacy.user_agent_header()
        if user_agent and "User-Agent" not in request.headers:
            request.headers.add("User-Agent", user_agent)
        for name in {name for name, _ in request.headers}:
            if not self.privacy.allows_header(name):
                request.headers.remove(name)

    def response(
        self,
        request: SipRequest,
        status: int,
        *,
        to_tag: str | None = None,
        reason: str | None = None,
    ) -> SipResponse:
        """§8.2.6.2: copy Via, From, Call-ID, CSeq; To gets our tag unless it has one."""
        response = SipResponse(
            status=status, reason=reason or REASON_PHRASES.get(status, "Unknown")
        )
        for value in request.headers.raw("Via"):
            response.headers.add("Via", value)
        response.headers.add("From", request.headers.get("From") or "")
        to_value = request.headers.get("To") or ""
        if to_tag and status > 100 and "tag=" not in to_value.lower():
            to_value = f"{to_value};tag={to_tag}"
        response.headers.add("To", to_value)
        response.headers.add("Call-ID", request.call_id)
        response.headers.add("CSeq", request.headers.get("CSeq") or "")
        if status in (200, 405, 501) or (status == 200 and request.method == "OPTIONS"):
            response.headers.add("Allow", ALLOW)
        server = self.privacy.server_header()
        if server:
            response.headers.add("Server", server)  # §20.35
        return response

    def malformed_response(self, error: SipParseError) -> bytes | None:
        """§8.2 / §16.3: the answer to a broken request, with its status and reason, when one
        can be built (None: drop it)."""
        headers = error.headers
        vias = headers.raw("Via")
        needed = all(headers.raw(n) for n in ("From", "To", "Call-ID", "CSeq"))
        if (
            not error.is_request
            or error.status == 0
            or not vias
            or not needed
            or (error.start_line.split(" ", 1)[0] == "ACK")
        ):
            return None
        response = SipResponse(status=error.status, reason=safe_reason(error.status, error.reason))
        for value in vias:
            response.headers.add("Via", value)
        for name in ("From", "To", "Call-ID", "CSeq"):
            response.headers.add(name, headers.raw(name)[0])
        return response.serialize()

    def add_via(self, request: SipRequest, replace: bool = False) -> None:
        if replace:
            request.headers.remove("Via")
        transport = self.config.transport.upper()
        branch = self.privacy.new_branch()  # §8.1.1.7: MAGIC_COOKIE + randomness only
        assert branch.startswith(MAGIC_COOKIE)
        request.headers.add_first(
            "Via",
            f"SIP/2.0/{transport} {self.config.local_host}:{self.config.local_port}"
            f";branch={branch};rport",
        )

    def add_contact(self, message: SipMessage) -> None:
        message.headers.remove("Contact")
        params = (
            ""
            if self.config.transport.lower() == "udp"
            else f";transport={self.config.transport.lower()}"
        )
        message.headers.add(
            "Contact",
            f"<sip:{self.config.user}@{self.config.local_host}:{self.config.local_port}{params}>",
        )

    @staticmethod
    def add_body(message: SipMessage, sdp: bytes) -> None:
        message.body = sdp
        message.headers.remove("Content-Type")
        if sdp:
            message.headers.add("Content-Type", "application/sdp")

    # -- inspecting requests (§8.2.2) ----------------------------------------------------------
    def reject_if_unsupported(
        self, request: SipRequest, transaction: ServerTransaction, now: float
    ) -> bool:
        """§8.2.2: URI scheme (416), Require (420), Content-Type (415), Accept (406)."""
        tag = self.privacy.new_tag()
        if not isinstance(request.uri, SipUri):
            transaction.send_response(self.response(request, 416, to_tag=tag), now)
            return True
        required = [
            t for t in request.headers.get_all("Require") if t.lower() not in SUPPORTED_EXTENSIONS
        ]
        if required:
            response = self.response(request, 420, to_tag=tag)
            response.headers.add("Unsupported", ", ".join(required))
            transaction.send_response(response, now)
            return True
        content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if request.body and content_type != "application/sdp":
            response = self.response(request, 415, to_tag=tag)
            response.headers.add("Accept", "application/sdp")
            transaction.send_response(response, now)
            return True
        accepts = [a.split(";")[0].strip().lower() for a in request.headers.get_all("Accept")]
        if (
            request.method == "INVITE"
            and "Accept" in request.headers
            and not any(a in ("application/sdp", "application/*", "*/*") for a in accepts)
        ):
            transaction.send_response(self.response(request, 406, to_tag=tag), now)
            return True
        return False

    # -- retrying with credentials (§22.2) -----------------------------------------------------
    def next_invite(self, previous: SipRequest) -> SipRequest:
        """The same INVITE with CSeq + 1 and a fresh branch (§8.1.3.5, §22.2)."""
        request = SipRequest(method="INVITE", uri=previous.uri, body=previous.body)
        for name, value in previous.headers:
            if name not in (
                "Via",
                "CSeq",
                "Authorization",
                "Proxy-Authorization",
                "Content-Length",
            ):
                request.headers.add(name, value)
        request.headers.set("CSeq", f"{previous.cseq.number + 1} INVITE")
        return request

    def with_credentials(
        self, call: Call | None, request: SipRequest | None, response: SipResponse
    ) -> SipRequest | None:
        """§22.2: resend with Authorization / Proxy-Authorization, at most twice per call."""
        account = call.account if call else None
        if account is None or request is None or call is None or call.auth_attempts >= 2:
            return None
        header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
        # RFC 3261 §22.1: only a realm that is the account's own (configured, or where its
        # registrar accepted these credentials); any other is a callee or proxy fishing for a
        # crackable hash of the password (issue 13 F8).
        realms = self.realms.allowed(account.name, account.realm)
        challenge = choose_challenge(response.headers.raw(header), realms)
        if challenge is None:
            if choose_challenge(response.headers.raw(header)) is not None:
                self.stats.auth_foreign_realm += 1
            return None
        call.auth_attempts += 1
        self.stats.auth_retries += 1
        if request.method == "INVITE" and request is call.invite:
            retry = self.next_invite(request)
        else:
            retry = SipRequest(method=request.method, uri=request.uri, body=request.body)
            for name, value in request.headers:
                if name not in (
                    "Via",
                    "CSeq",
                    "Authorization",
                    "Proxy-Authorization",
                    "Content-Length",
                ):
                    retry.headers.add(name, value)
            number = call.dialog.next_cseq() if call.dialog else request.cseq.number + 1
            retry.headers.set("CSeq", f"{number} {request.method}")
            self.add_via(retry)
        answer_header = "Authorization" if response.status == 401 else "Proxy-Authorization"
        retry.headers.add(
            answer_header,
            authorization_value(
                challenge,
                username=account.auth_user,
                password=account.password,
                method=request.method,
                uri=str(request.uri),
                nc=1,
                cnonce=secrets.token_hex(8),
            ),
        )
        return retry

    # -- where messages go (§18) ---------------------------------------------------------------
    def stamp_received(self, request: SipRequest, addr: Addr) -> None:
        """RFC 3261 §18.2.1 received=, RFC 3581 §4 rport= on the top Via."""
        values = request.headers.raw("Via")
        top = request.top_via
        params = list(top.params)
        changed = False
        if top.host != addr[0]:
            params = [(k, v) for k, v in params if k.lower() != "received"] + [
                ("received", addr[0])
            ]
            changed = True
        if top.param("rport") == "":
            params = [(k, v) if k.lower() != "rport" else (k, str(addr[1])) for k, v in params]
            changed = True
        if changed:
            new_top = str(type(top)(top.transport, top.host, top.port, tuple(params)))
            first, _, rest = values[0].partition(",")
            request.headers.remove("Via")
            request.headers.add_first("Via", new_top + ("," + rest if rest else ""))
            for value in values[1:]:
                request.headers.add("Via", value)

    def reply_addr(self, request: SipRequest, addr: Addr) -> Addr:
        """§18.2.2 with RFC 3581 §4: rport (or a stream) means the source address and port."""
        top = request.top_via
        if self.reliable or top.param("rport"):
            return addr
        return (top.param("received") or top.host, top.port or 5060)

    def dialog_addr(self, call: Call) -> Addr:
        """In-dialog next hop: first route, else the account's proxy, else the remote target."""
        if call.dialog is None:
            return call.addr
        if call.dialog.route_set:
            return uri_addr(call.dialog.next_hop())
        if call.account is not None:
            return call.account.registrar_addr
        return uri_addr(call.dialog.remote_target)


def uri_addr(uri: Uri) -> Addr:
    if not isinstance(uri, SipUri):
        raise SipSyntaxError(f"cannot send to non-SIP URI {str(uri)[:60]!r}")
    maddr = uri.param("maddr")
    return ((maddr or uri.host).strip("[]"), uri.port or (5061 if uri.scheme == "sips" else 5060))


def safe_reason(status: int, detail: str) -> str:
    text = "".join(c for c in detail if c.isprintable())[:100]
    return f"{REASON_PHRASES.get(status, 'Bad Request')} ({text})"


__all__ = [
    "ALLOW",
    "REASON_PHRASES",
    "SUPPORTED_EXTENSIONS",
    "MessageBuilder",
    "safe_reason",
    "uri_addr",
]
