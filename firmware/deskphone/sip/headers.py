"""SIP header fields (RFC 3261 §7.3, §20): names in their canonical and compact forms, the
ordered `Headers` collection, and the typed values every layer keys on (Via, CSeq,
delta-seconds). Numbers are ASCII digits of bounded length; a bad value raises SipSyntaxError.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from deskphone.sip.uri import (
    SipSyntaxError,
    is_ascii_digits,
    is_token,
    parse_generic_params,
    split_hostport,
    split_outside_quotes,
)

SIP_VERSION = "SIP/2.0"
MAGIC_COOKIE = "z9hG4bK"  # RFC 3261 §8.1.1.7
MAX_CSEQ = 2**31 - 1  # RFC 3261 §8.1.1.5: CSeq "MUST be less than 2**31"
MAX_EXPIRES = 2**32 - 1  # RFC 3261 §20.19 / §25.1 delta-seconds

# RFC 3261 §7.3.3 and later RFCs: compact header names.
COMPACT_NAMES = {
    "i": "Call-ID",
    "m": "Contact",
    "e": "Content-Encoding",
    "l": "Content-Length",
    "c": "Content-Type",
    "f": "From",
    "s": "Subject",
    "k": "Supported",
    "t": "To",
    "v": "Via",
    "o": "Event",
    "r": "Refer-To",
    "b": "Referred-By",
    "u": "Allow-Events",
    "x": "Session-Expires",
}
_KNOWN = [
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "Alert-Info",
    "Allow",
    "Allow-Events",
    "Authentication-Info",
    "Authorization",
    "Call-ID",
    "Call-Info",
    "Contact",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Content-Length",
    "Content-Type",
    "CSeq",
    "Date",
    "Error-Info",
    "Event",
    "Expires",
    "From",
    "In-Reply-To",
    "Max-Forwards",
    "Min-Expires",
    "MIME-Version",
    "Organization",
    "Priority",
    "Privacy",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Proxy-Require",
    "Record-Route",
    "Refer-To",
    "Referred-By",
    "Reply-To",
    "Require",
    "Retry-After",
    "Route",
    "Server",
    "Subject",
    "Subscription-State",
    "Supported",
    "Timestamp",
    "To",
    "Unsupported",
    "User-Agent",
    "Via",
    "Warning",
    "WWW-Authenticate",
]
_CANONICAL = {name.lower(): name for name in _KNOWN}
# Headers whose value is a comma-separated list that may equally be split over several lines
# (RFC 3261 §7.3.1). Authorization-style headers contain commas and are never split.
LIST_HEADERS = frozenset(
    [
        "Accept",
        "Accept-Encoding",
        "Accept-Language",
        "Allow",
        "Allow-Events",
        "Contact",
        "Proxy-Require",
        "Record-Route",
        "Require",
        "Route",
        "Supported",
        "Unsupported",
        "Via",
    ]
)
KNOWN_METHODS = frozenset(
    [
        "INVITE",
        "ACK",
        "BYE",
        "CANCEL",
        "OPTIONS",
        "REGISTER",
        "PRACK",
        "SUBSCRIBE",
        "NOTIFY",
        "PUBLISH",
        "INFO",
        "REFER",
        "MESSAGE",
        "UPDATE",
    ]
)
SINGLETON_HEADERS = ("Call-ID", "CSeq", "From", "To", "Max-Forwards", "Content-Length")


def canonical_name(name: str) -> str:
    lowered = name.lower()
    if lowered in COMPACT_NAMES:
        return COMPACT_NAMES[lowered]
    return _CANONICAL.get(lowered, name)



class Headers:
    """Ordered header fields with case-insensitive, compact-form-aware names."""

    def __init__(self, fields: Iterable[tuple[str, str]] = ()):
        self._fields: list[tuple[str, str]] = [(canonical_name(n), v) for n, v in fields]
        self._lowered: list[str] = [n.lower() for n, _ in self._fields]  # for lookups

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def raw(self, name: str) -> list[str]:
        """Every field value of that name, as received (comma lists not split)."""
        wanted = canonical_name(name).lower()
        fields = self._fields
        return [fields[i][1] for i, n in enumerate(self._lowered) if n == wanted]

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self.raw(name)
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        """Values, with comma-separated lists split (quotes and <> respected)."""
        canonical = canonical_name(name)
        out: list[str] = []
        for value in self.raw(canonical):
            if canonical in LIST_HEADERS:
                out.extend(
                    part.strip() for part in split_outside_quotes(value, ",") if part.strip()
                )
            else:
                out.append(value)
        return out

    def add(self, name: str, value: str) -> None:
        canonical = canonical_name(name)
        self._fields.append((canonical, value))
        self._lowered.append(canonical.lower())

    def add_first(self, name: str, value: str) -> None:
        canonical = canonical_name(name)
        self._fields.insert(0, (canonical, value))
        self._lowered.insert(0, canonical.lower())

    def set(self, name: str, value: str) -> None:
        canonical = canonical_name(name)
        wanted = canonical.lower()
        index = next((i for i, n in enumerate(self._lowered) if n == wanted), None)
        self.remove(canonical)
        if index is None:
            self.add(canonical, value)
        else:
            index = min(index, len(self._fields))
            self._fields.insert(index, (canonical, value))
            self._lowered.insert(index, wanted)

    def remove(self, name: str) -> None:
        wanted = canonical_name(name).lower()
        kept = [i for i, n in enumerate(self._lowered) if n != wanted]
        if len(kept) != len(self._fields):
            self._fields = [self._fields[i] for i in kept]
            self._lowered = [self._lowered[i] for i in kept]

    def copy(self) -> Headers:
        return Headers(self._fields)


@dataclass(frozen=True)
class Via:
    """One Via header value (RFC 3261 §20.42, RFC 3581 rport)."""

    transport: str
    host: str
    port: int | None = None
    params: tuple[tuple[str, str | None], ...] = ()

    def param(self, name: str) -> str | None:
        for key, value in self.params:
            if key.lower() == name.lower():
                return value if value is not None else ""
        return None

    @property
    def branch(self) -> str | None:
        return self.param("branch")

    def __str__(self) -> str:
        hostport = self.host if self.port is None else f"{self.host}:{self.port}"
        params = "".join(f";{k}" if v is None else f";{k}={v}" for k, v in self.params)
        return f"SIP/2.0/{self.transport} {hostport}{params}"


_VIA = re.compile(r"^SIP\s*/\s*2\.0\s*/\s*([A-Za-z0-9\-.!%*_+`'~]+)\s+([^\s;]+)\s*(;.*)?$", re.S)


def parse_via(value: str) -> Via:
    match = _VIA.match(value.strip())
    if not match:
        raise SipSyntaxError(f"Via {value.strip()[:60]!r} is not 'SIP/2.0/transport host[:port]'")
    host, port = split_hostport(match.group(2), "Via sent-by")
    params = parse_generic_params(match.group(3) or "", "Via")
    for name, val in params:
        if (
            name.lower() == "rport"
            and val is not None
            and not (is_ascii_digits(val, 5) and int(val) <= 65535)
        ):
            raise SipSyntaxError(f"Via rport {val[:20]!r} is not a port number")
    return Via(match.group(1).upper(), host, port, params)


@dataclass(frozen=True)
class CSeq:
    number: int
    method: str

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


def parse_cseq(value: str) -> CSeq:
    parts = value.split()
    if len(parts) != 2 or not is_ascii_digits(parts[0], 32) or not is_token(parts[1]):
        raise SipSyntaxError(f"CSeq {value[:40]!r} is not 'number method'")
    number = int(parts[0])  # at most 32 digits: leading zeros are allowed (RFC 4475 §3.1.1.1)
    if number > MAX_CSEQ:
        raise SipSyntaxError(f"CSeq number {parts[0][:24]} exceeds 2**31-1")
    return CSeq(number, parts[1])


def parse_delta_seconds(value: str, what: str) -> int:
    text = value.strip().split(";")[0].strip()
    if not is_ascii_digits(text, 10) or int(text) > MAX_EXPIRES:
        raise SipSyntaxError(f"{what} {text[:24]!r} is not delta-seconds 0..2**32-1")
    return int(text)
