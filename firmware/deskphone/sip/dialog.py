"""SIP dialogs (RFC 3261 §12): identity, route set, remote target, CSeq spaces.

A dialog is built from the INVITE and the response that created it, on either side, and then
builds the in-dialog requests (BYE, re-INVITE, ACK for 2xx, REFER's NOTIFY) with the right
Request-URI and Route headers, following loose routing (§16.12.1.1) and, for a strict-routing
first hop, the RFC 3261 §12.2.1.1 rewrite.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from deskphone.sip.message import SipRequest, SipResponse
from deskphone.sip.uri import NameAddress, SipSyntaxError, SipUri, Uri, parse_name_addr


def _sip_target(uri: Uri, what: str) -> SipUri:
    """A dialog sends to its remote target and route set, so both must be SIP or SIPS URIs
    (RFC 3261 §8.1.1.8 for Contact, §20.30 / §16.6 for Record-Route): a `<tel:1>` there is a
    syntax error of the message that carried it, not a request we cannot send later."""
    if not isinstance(uri, SipUri):
        raise SipSyntaxError(f"{what} {str(uri)[:60]!r} is not a SIP or SIPS URI")
    return uri


def _checked_routes(values: list[str]) -> list[str]:
    for value in values:
        _sip_target(parse_name_addr(value).uri, "Record-Route")
    return values


@dataclass
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: str  # the From (UAC) / To (UAS) name-addr without tag
    remote_uri: str
    remote_target: Uri
    route_set: list[str] = field(default_factory=list)  # name-addr strings, in order
    local_seq: int = 0
    remote_seq: int | None = None
    secure: bool = False

    @classmethod
    def from_uac(cls, invite: SipRequest, response: SipResponse) -> Dialog:
        """§12.1.2: route set is the Record-Route of the response, reversed."""
        to = response.to
        contact = response.contacts[0].uri if response.contacts else invite.uri
        _sip_target(contact, "Contact")
        return cls(
            call_id=invite.call_id,
            local_tag=invite.from_.tag or "",
            remote_tag=to.tag or "",
            local_uri=_without_tag(invite.headers.get("From") or ""),
            remote_uri=_without_tag(response.headers.get("To") or ""),
            remote_target=contact,
            route_set=_checked_routes(list(reversed(response.headers.get_all("Record-Route")))),
            local_seq=invite.cseq.number,
            secure=isinstance(invite.uri, SipUri) and invite.uri.scheme == "sips",
        )

    @classmethod
    def from_uas(cls, invite: SipRequest, local_tag: str) -> Dialog:
        """§12.1.1: route set is the Record-Route of the request, in order."""
        contact = invite.contacts[0].uri if invite.contacts else invite.from_.uri
        _sip_target(contact, "Contact")
        return cls(
            call_id=invite.call_id,
            local_tag=local_tag,
            remote_tag=invite.from_.tag or "",
            local_uri=_without_tag(invite.headers.get("To") or ""),
            remote_uri=_without_tag(invite.headers.get("From") or ""),
            remote_target=contact,
            route_set=_checked_routes(list(invite.headers.get_all("Record-Route"))),
            local_seq=0,
            remote_seq=invite.cseq.number,
            secure=isinstance(invite.uri, SipUri) and invite.uri.scheme == "sips",
        )

    def next_cseq(self) -> int:
        self.local_seq += 1
        return self.local_seq

    def request_target(self) -> tuple[Uri, list[str]]:
        """(Request-URI, Route values) per §12.2.1.1."""
        if not self.route_set:
            return self.remote_target, []
        first = parse_name_addr(self.route_set[0])
        if isinstance(first.uri, SipUri) and first.uri.has_param("lr"):
            return self.remote_target, list(self.route_set)
        # Strict router: its URI becomes the Request-URI, the remote target goes last.
        return first.uri, self.route_set[1:] + [f"<{self.remote_target}>"]

    def next_hop(self) -> Uri:
        """Where in-dialog requests are sent: the first route, else the remote target (§8.1.2)."""
        if self.route_set:
            return parse_name_addr(self.route_set[0]).uri
        return self.remote_target

    def build_request(self, method: str, cseq: int | None = None) -> SipRequest:
        """§12.2.1.1; the caller adds Via, Contact, Max-Forwards and body."""
        uri, routes = self.request_target()
        request = SipRequest(method=method, uri=uri)
        request.headers.add("From", f"{self.local_uri};tag={self.local_tag}")
        request.headers.add(
            "To", f"{self.remote_uri};tag={self.remote_tag}" if self.remote_tag else self.remote_uri
        )
        request.headers.add("Call-ID", self.call_id)
        request.headers.add("CSeq", f"{cseq if cseq is not None else self.next_cseq()} {method}")
        for route in routes:
            request.headers.add("Route", route)
        return request

    def accept_remote_cseq(self, number: int) -> bool:
        """§12.2.2: a lower CSeq than the last one is out of order (answer 500)."""
        if self.remote_seq is not None and number <= self.remote_seq:
            return False
        self.remote_seq = number
        return True

    def update_target(self, message: SipRequest | SipResponse) -> None:
        """§12.2.1.2 / §12.2.2: a target refresh (re-INVITE, its 2xx) replaces the remote target."""
        contacts = message.contacts
        if contacts:
            self.remote_target = _sip_target(contacts[0].uri, "Contact")


def _without_tag(value: str) -> str:
    address = parse_name_addr(value)
    kept = tuple((k, v) for k, v in address.params if k.lower() != "tag")
    return str(NameAddress(address.uri, address.display_name, kept))
