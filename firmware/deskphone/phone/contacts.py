"""Contacts: the person's own list (a small text file) and the names the LAN announces.

The contacts file (`contacts.txt` in the data directory, or `[phone] contacts_file`) holds one
contact per line, `NAME = TARGET`; blank lines and lines starting with `#` are ignored:

    # name = extension, number or SIP URI
    Alice Martin = 201
    Front desk = sip:desk@pbx.example.org

NAME is 1 to 40 printable characters (no `=`); TARGET is what dialling the contact calls:
1 to 32 digits, or a sip:/sips:/tel: URI without spaces (at most 256 characters). A bad line is
refused with its line number and field, the other lines are kept. At most 500 contacts are read.

LAN phones announce an extension and a name over DNS-SD (routing/discovery.py); they are
contacts too, with what the ZRTP cache knows of them: verified (the SAS was compared on an
earlier call, RFC 6189 §7.1) or a warning (the peer now announces another ZID, or our last call
with it ended in a SAS mismatch). A name from the person's file wins over the LAN's, which wins
over the display name a call brings (anyone can put anything in a From header).

Pure: text in, contacts and error lines out; the app reads the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

MAX_CONTACTS = 500
MAX_LINE = 512
MAX_NAME = 40
MAX_TARGET = 256
_TARGET = re.compile(r"[0-9]{1,32}|(?:sips?|tel):[^\s]{1,252}")
# user@host:port of a SIP URI, enough to match a caller to a contact (RFC 3261 §19.1.1).
_URI = re.compile(r"^(?:sips?:)?(?:(?P<user>[^@;>]+)@)?(?P<host>\[[^\]]+\]|[^:;>]+)"
                  r"(?::(?P<port>\d+))?")

MARK_VERIFIED = "verified"
MARK_WARNING = "warning"


@dataclass(frozen=True)
class Contact:
    name: str
    target: str
    source: str = "file"  # file | lan
    mark: str = ""  # "" | verified | warning


@dataclass(frozen=True)
class LanPeer:
    """One phone the LAN directory knows (what the call layer reports of it)."""

    extension: str
    name: str
    host: str
    port: int
    verified: bool = False
    zid_changed: bool = False


class ContactsError(ValueError):
    pass


def parse_contact(line: str) -> Contact:
    if len(line) > MAX_LINE:
        raise ContactsError(f"{len(line)} characters, expected at most {MAX_LINE}")
    name, sep, target = line.partition("=")
    if not sep:
        raise ContactsError("expected NAME = TARGET (e.g. Alice Martin = 201)")
    name, target = name.strip(), target.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise ContactsError(f"field 'name' is {name[:50]!r}, expected 1 to {MAX_NAME} printable "
                            "characters")
    if not _TARGET.fullmatch(target) or len(target) > MAX_TARGET:
        raise ContactsError(f"field 'target' is {target[:50]!r}, expected 1 to 32 digits or a "
                            "sip:/sips:/tel: URI without spaces")
    return Contact(name=name, target=target)


def parse_contacts(text: str, source: str) -> tuple[list[Contact], list[str]]:
    """The contacts of a file's text, and one message per refused line."""
    contacts: list[Contact] = []
    errors: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if len(contacts) >= MAX_CONTACTS:
            errors.append(f"{source} line {number}: more than {MAX_CONTACTS} contacts; "
                          "the rest are not read")
            break
        try:
            contacts.append(parse_contact(line))
        except ContactsError as exc:
            errors.append(f"{source} line {number}: {exc}")
    return contacts, errors


def uri_parts(uri: str) -> tuple[str, str, int | None]:
    """(user, host, port) of a caller's URI; empty strings when it has none."""
    match = _URI.match(uri.strip().strip("<>"))
    if match is None:
        return "", "", None
    port = match.group("port")
    return match.group("user") or "", match.group("host") or "", int(port) if port else None


class ContactBook:
    """The file's contacts and the LAN's phones, and who a caller is."""

    def __init__(self, contacts: Iterable[Contact] = (), lan: Iterable[LanPeer] = (),
                 mismatched: Iterable[str] = ()) -> None:
        self.contacts = tuple(contacts)
        self.lan = tuple(lan)
        self.mismatched = frozenset(mismatched)  # peers whose last call ended in a mismatch

    def _by_target(self, target: str) -> Contact | None:
        return next((c for c in self.contacts if c.target == target), None)

    def _mark(self, peer: LanPeer | None, *keys: str) -> str:
        if (peer is not None and peer.zid_changed) or any(k in self.mismatched for k in keys if k):
            return MARK_WARNING
        return MARK_VERIFIED if peer is not None and peer.verified else ""

    def lookup(self, caller: str) -> Contact | None:
        """Who `caller` (a SIP URI or a number) is, with the mark to show beside the name."""
        user, host, port = uri_parts(caller)
        peer = next((p for p in self.lan if host and p.host == host
                     and (port is None or p.port == port)), None)
        candidates = [caller, user] + ([peer.extension] if peer is not None else [])
        contact = next((c for t in candidates if t and (c := self._by_target(t)) is not None),
                       None)
        mark = self._mark(peer, caller, user, peer.extension if peer else "")
        if contact is not None:
            return Contact(contact.name, contact.target, contact.source, mark)
        if peer is not None:
            return Contact(peer.name or peer.extension, peer.extension, "lan", mark)
        return None

    def listing(self) -> list[Contact]:
        """Every contact, the file's first, then the LAN phones not already in it."""
        known = {c.target for c in self.contacts}
        lan = {p.extension: p for p in self.lan}
        out = [Contact(c.name, c.target, "file", self._mark(lan.get(c.target), c.target))
               for c in self.contacts]
        out += [Contact(p.name or p.extension, p.extension, "lan", self._mark(p, p.extension))
                for p in sorted(self.lan, key=lambda p: p.extension) if p.extension not in known]
        return out
