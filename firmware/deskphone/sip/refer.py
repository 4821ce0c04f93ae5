"""REFER (RFC 3515) pieces the user agent needs: Refer-To checks, the sipfrag NOTIFY body.

A REFER asks the peer (the transferee) to send a request — for blind transfer, an INVITE — to the
Refer-To URI. Accepting it creates an implicit subscription to the "refer" event package
(RFC 3515 §2.4.4); its NOTIFYs carry a `message/sipfrag` body (RFC 3420) whose status line tells
the transferor how the new call went (§2.4.5). These helpers are pure functions; the user agent
(`in_dialog.py`) sends and receives the messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from deskphone.sip.replaces import Replaces, ReplacesError, split_refer_to
from deskphone.sip.uri import SipSyntaxError, SipUri, Uri, is_ascii_digits, parse_name_addr

SIPFRAG = "message/sipfrag;version=2.0"  # RFC 3515 §2.4.5, RFC 3420 §2
REFER_EVENT = "refer"  # RFC 3515 §3: the event package name
# RFC 3515 §2.4.5 asks for a reasonable duration; RFC 6665 §4.2.1.1 lets the notifier pick it.
# A minute covers ringing; the transferee re-sends "active" with each progress NOTIFY.
SUBSCRIPTION_SECONDS = 60
REFERABLE_SCHEMES = frozenset({"sip", "sips", "tel"})
_STATUS_LINE = re.compile(r"SIP/2\.0 ([1-6][0-9]{2})(?: (.*))?\Z")


class ReferError(ValueError):
    """A REFER or NOTIFY whose refer-specific parts are unusable; `status` is the answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def refer_target(values: list[str]) -> tuple[Uri, Replaces | None]:
    """The one Refer-To URI of a REFER (RFC 3515 §2.4.1) and the Replaces embedded in it
    (attended transfer, RFC 5589 §7, RFC 3891 §6.1), or ReferError with the response.

    Any other embedded URI header would change what the new INVITE means in ways we do not
    implement, so such a REFER is refused (501) rather than followed as a blind transfer.
    """
    if len(values) != 1:
        raise ReferError(400, f"expected exactly one Refer-To, got {len(values)}")
    try:
        uri = parse_name_addr(values[0]).uri
    except SipSyntaxError as exc:
        raise ReferError(400, f"Refer-To is not a URI: {exc}") from None
    if uri.scheme.lower() not in REFERABLE_SCHEMES:
        raise ReferError(416, f"Refer-To scheme {uri.scheme!r}: expected sip, sips or tel")
    if isinstance(uri, SipUri) and uri.headers:
        try:
            return split_refer_to(uri)
        except ReplacesError as error:
            raise ReferError(error.status, error.reason) from None
    return uri, None


def sipfrag(status: int, reason: str) -> bytes:
    """RFC 3515 §2.4.5: the body is at least the status line of the new request's response."""
    if not 100 <= status <= 699:
        raise ValueError(f"sipfrag status {status}: expected a SIP status code 100-699")
    clean = "".join(c for c in reason if c.isprintable())[:100]
    return f"SIP/2.0 {status} {clean}\r\n".encode()


def subscription_state(status: int) -> str:
    """Subscription-State for a NOTIFY carrying this status (RFC 6665 §4.1.3, RFC 3515 §2.4.7):
    a final response ends the subscription."""
    if status >= 200:
        return "terminated;reason=noresource"
    return f"active;expires={SUBSCRIPTION_SECONDS}"


@dataclass(frozen=True)
class ReferNotify:
    """What a refer NOTIFY told us."""

    status: int
    reason: str
    terminated: bool
    expires: int | None  # seconds the subscription stays active, when it does


def parse_refer_notify(event: str | None, content_type: str | None, state: str | None,
                       body: bytes) -> ReferNotify:
    """Check a NOTIFY for the refer package and read its sipfrag (RFC 3515 §2.4.5, §2.4.7).

    Raises ReferError with the response to send: 489 Bad Event (RFC 6665 §8.3.2) for another
    package, 400 for a missing Subscription-State or a body that is not a sipfrag status line.
    """
    package = (event or "").split(";", 1)[0].strip().lower()
    if package != REFER_EVENT:
        raise ReferError(489, f"Event {event!r}: expected 'refer'")
    if not state:
        raise ReferError(400, "NOTIFY without Subscription-State (RFC 6665 §8.2.3)")
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind != "message/sipfrag":
        raise ReferError(415, f"Content-Type {content_type!r}: expected message/sipfrag")
    first = body.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", "replace").strip()
    match = _STATUS_LINE.match(first)
    if match is None:
        raise ReferError(400, f"sipfrag {first[:40]!r}: expected 'SIP/2.0 <code> <reason>'")
    status = int(match.group(1))
    fields = [part.strip() for part in state.split(";")]
    terminated = fields[0].lower() == "terminated"
    expires = None
    for field_text in fields[1:]:
        name, _, value = field_text.partition("=")
        if name.strip().lower() == "expires" and is_ascii_digits(value.strip(), 10):
            expires = min(int(value.strip()), 3600)
    return ReferNotify(status, (match.group(2) or "").strip(), terminated, expires)
