"""The values of single SDP lines (o=, c=, a=, rtpmap) and the RFC 4566 §9 grammar they obey.

Each class holds one line's value and writes it back (`to_line`); the checks here are the ones a
value needs on its own, whatever section it sits in: tokens, bounded ASCII numbers, addresses of
an address type, a well-formed rtpmap. Where a line may appear, and how many, is the parser's
business (`deskphone.sdp.session`).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")   # RFC 4566 §6 / RFC 3264 §5.1

# RFC 4566 §9 grammar: att-field = token; token chars of RFC 4566 §9 (same as RFC 3261).
TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`{|}~]+\Z")
DIGITS = re.compile(r"[0-9]{1,20}\Z")
_HOSTNAME = re.compile(r"(?=.{1,253}\Z)[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9-]{1,63})*\.?\Z")


def ascii_number(text: str, max_digits: int) -> int | None:
    """`text` as a number when it is 1..max_digits ASCII digits, else None.

    Not `str.isdigit()`: it is true for "²" and other Unicode digits that `int()` refuses, and
    `int()` refuses more than 4,300 digits (issue 21 item 4); RFC 4566 §9's DIGIT is %x30-39.
    """
    if not 1 <= len(text) <= max_digits or not text.isascii() or not text.isdigit():
        return None
    return int(text)


@dataclass(frozen=True)
class Origin:
    """o= (RFC 4566 §5.2). session_id is kept as text: real peers use 64-bit and wider values."""

    username: str
    session_id: str
    session_version: int
    addrtype: str
    address: str
    nettype: str = "IN"

    def to_line(self) -> str:
        return (
            f"o={self.username} {self.session_id} {self.session_version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )


@dataclass(frozen=True)
class Connection:
    """c= (RFC 4566 §5.7). ttl and count only appear with multicast addresses."""

    addrtype: str          # "IP4" or "IP6"
    address: str
    ttl: int | None = None
    count: int | None = None
    nettype: str = "IN"

    def to_line(self) -> str:
        suffix = "" if self.ttl is None else f"/{self.ttl}"
        suffix += "" if self.count is None else f"/{self.count}"
        return f"c={self.nettype} {self.addrtype} {self.address}{suffix}"

    @property
    def is_unspecified(self) -> bool:
        """0.0.0.0 or ::, the pre-RFC 3264 way of putting a call on hold (RFC 3264 §8.4)."""
        try:
            return ipaddress.ip_address(self.address).is_unspecified
        except ValueError:
            return False


@dataclass(frozen=True)
class Attribute:
    """a=name or a=name:value (RFC 4566 §5.13); unknown ones are carried through verbatim."""

    name: str
    value: str | None = None

    def to_line(self) -> str:
        return f"a={self.name}" if self.value is None else f"a={self.name}:{self.value}"


@dataclass(frozen=True)
class RtpMap:
    """a=rtpmap:<payload type> <encoding name>/<clock rate>[/<channels>] (RFC 4566 §6)."""

    payload_type: int
    encoding: str
    clock_rate: int
    channels: int = 1

    def to_value(self) -> str:
        channels = f"/{self.channels}" if self.channels != 1 else ""
        return f"{self.payload_type} {self.encoding}/{self.clock_rate}{channels}"



def attribute_values(attributes: tuple[Attribute, ...], name: str) -> list[str | None]:
    return [a.value for a in attributes if a.name.lower() == name.lower()]


def direction_of(attributes: tuple[Attribute, ...]) -> str | None:
    found = [a.name.lower() for a in attributes if a.name.lower() in DIRECTIONS]
    return found[-1] if found else None


def parse_rtpmap(value: str | None) -> RtpMap | None:
    """a=rtpmap value, or None when it is malformed (checked strictly at parse time)."""
    if value is None:
        return None
    match = re.fullmatch(r"\s*([0-9]{1,3})\s+([^/\s]+)/([0-9]{1,9})(?:/([0-9]{1,3}))?\s*",
                         value)
    if match is None:
        return None
    payload_type, clock_rate = int(match.group(1)), int(match.group(3))
    channels = int(match.group(4)) if match.group(4) else 1
    if payload_type > 127 or clock_rate == 0 or channels == 0:
        return None
    return RtpMap(payload_type, match.group(2), clock_rate, channels)


def check_address(addrtype: str, address: str) -> str | None:
    """None when `address` fits `addrtype`, else what was expected (RFC 4566 §5.7)."""
    if addrtype == "IP4":
        try:
            ipaddress.IPv4Address(address)
            return None
        except ValueError:
            pass
        if _HOSTNAME.match(address) and not re.fullmatch(r"[0-9.]+", address):
            return None
        return "an IPv4 address or a host name"
    if addrtype == "IP6":
        try:
            ipaddress.IPv6Address(address)
            return None
        except ValueError:
            pass
        if _HOSTNAME.match(address) and not re.fullmatch(r"[0-9.]+", address):
            return None
        return "an IPv6 address or a host name"
    return "address type IP4 or IP6"


__all__ = [
    "DIGITS",
    "DIRECTIONS",
    "TOKEN",
    "Attribute",
    "Connection",
    "Origin",
    "RtpMap",
    "ascii_number",
    "attribute_values",
    "check_address",
    "direction_of",
    "parse_rtpmap",
]
