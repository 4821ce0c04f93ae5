"""The Replaces header (RFC 3891): a new dialog takes an existing dialog's place.

Attended transfer (RFC 5589 §7) uses it: the transferor, talking to the target on a
consultation call, sends the transferee a REFER whose Refer-To carries `?Replaces=` naming that
consultation dialog (RFC 3891 §6.1; the value is escaped as a URI header, RFC 3261 §19.1.1); the
transferee's INVITE to the target carries the header; the target accepts it in place of the
consultation call and ends that one.

The tags are named from the target's side: `to-tag` is the target's own (local) tag of the
dialog to replace, `from-tag` the remote one (RFC 3891 §3). Pure functions; the user agent sends
and receives the messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from urllib.parse import quote, unquote

from deskphone.sip.call import Call, SipCallState
from deskphone.sip.uri import SipUri

OPTION_TAG = "replaces"  # RFC 3891 §6.2


class ReplacesError(ValueError):
    """A Replaces header we must refuse; `status` is the response (RFC 3891 §3)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Replaces:
    call_id: str
    to_tag: str  # the recipient's (target's) tag of the dialog
    from_tag: str  # the other end's tag of that dialog
    early_only: bool = False

    def __str__(self) -> str:
        early = ";early-only" if self.early_only else ""
        return f"{self.call_id};to-tag={self.to_tag};from-tag={self.from_tag}{early}"

    def as_uri_header(self) -> str:
        """Escaped for a URI's `?Replaces=` (RFC 3261 §19.1.1: hvalue escapes ; = @ and more)."""
        return quote(str(self), safe="")


def replaces_for(call_id: str, local_tag: str, remote_tag: str) -> Replaces:
    """The Replaces the *other* end of our dialog will match: its to-tag is our remote tag."""
    return Replaces(call_id, to_tag=remote_tag, from_tag=local_tag)


def parse_replaces(value: str) -> Replaces:
    """RFC 3891 §6.1: callid *(";" replaces-param); to-tag and from-tag are both required."""
    call_id, *params = [part.strip() for part in value.split(";")]
    if not call_id or any(c.isspace() for c in call_id):
        raise ReplacesError(400, f"Replaces {value[:60]!r}: expected a Call-ID first")
    tags: dict[str, str] = {}
    early_only = False
    for param in params:
        name, sep, tag = param.partition("=")
        name = name.strip().lower()
        if name == "early-only" and not sep:
            early_only = True
        elif name in ("to-tag", "from-tag") and tag.strip():
            tags[name] = tag.strip()
    if set(tags) != {"to-tag", "from-tag"}:
        raise ReplacesError(400, f"Replaces {value[:60]!r}: expected to-tag and from-tag")
    return Replaces(call_id, tags["to-tag"], tags["from-tag"], early_only)


def split_refer_to(uri: SipUri) -> tuple[SipUri, Replaces | None]:
    """A Refer-To URI and its embedded Replaces, if any (RFC 3891 §6.1, RFC 5589 §7). Any other
    embedded header would change the new INVITE in ways we do not implement: 501."""
    replaces = None
    for name, value in uri.headers:
        if name.lower() != "replaces" or replaces is not None:
            raise ReplacesError(501, f"Refer-To header {name!r}: only one Replaces is supported")
        replaces = parse_replaces(unquote(value))
    return replace(uri, headers=()), replaces


def match_dialog(calls: Iterable[Call], replaces: Replaces) -> Call:
    """The call whose dialog `replaces` names, by RFC 3891 §3's rules, or ReplacesError:

    * no dialog with that Call-ID and tags (ours local = to-tag): 481;
    * an early dialog we did not initiate (we are its UAS; it is someone else's ringing call to
      us): 481. An early dialog we initiated could be picked up (§3); we do not offer call
      pickup, so it is 481 too;
    * a confirmed dialog when `early-only` is set: 486;
    * a dialog already over: 603.
    """
    for call in calls:
        if call.call_id != replaces.call_id:
            continue
        dialog = call.dialog
        if dialog is None or dialog.local_tag != replaces.to_tag or (
                dialog.remote_tag != replaces.from_tag):
            break
        if call.ended or call.state == SipCallState.ENDED:
            raise ReplacesError(603, "the dialog to replace is over")
        if call.state != SipCallState.CONFIRMED:
            raise ReplacesError(481, "the dialog to replace is early")
        if replaces.early_only:
            raise ReplacesError(486, "early-only, and the dialog is confirmed")
        return call
    raise ReplacesError(481, "no dialog matches Replaces")
