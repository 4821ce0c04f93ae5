"""RFC 4566 session descriptions: parse bytes into a `SessionDescription`, serialize it back.

Theory of operation
-------------------
An SDP body is a list of `<type>=<value>` lines (RFC 4566 §5). The lines before the first `m=`
describe the session; each `m=` opens a media description that runs to the next `m=`. Parsing is
strict where a mistake would change the call (version, origin, connection addresses, ports,
payload type numbers) and tolerant where real peers differ harmlessly: LF or CRLF line ends,
trailing whitespace, blank lines, a missing `t=` (some gateways omit it), attributes we do not
know (kept verbatim and written back unchanged). Any fault raises `SdpError` naming the line;
nothing else ever escapes `SessionDescription.parse`.

Serialization always writes CRLF and the field order of RFC 4566 §5, so a parsed description
written back is equivalent line for line.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace
from functools import cached_property

from deskphone.sdp.codecs import STATIC_AUDIO_PAYLOAD_TYPES
from deskphone.sdp.errors import SdpError

# What one offer may carry (issue 21: 15,000 formats once froze the phone). A SIP message is at
# most 65535 bytes over UDP; a larger body is not a phone call. RTP has 128 payload types
# (RFC 3551 §3), so an m= line with more formats repeats one. Real offers (Linphone, Asterisk,
# browsers) carry a few dozen lines; the limits leave a wide margin and bound the work per offer.
# An offer over a limit raises SdpError, which the call layer answers with 488 (RFC 3261 §21.4.26).
MAX_SDP_BYTES = 65535
MAX_SDP_LINES = 2048
MAX_MEDIA_DESCRIPTIONS = 32
MAX_FORMATS_PER_MEDIA = 128
MAX_ATTRIBUTES_PER_SECTION = 512

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")   # RFC 4566 §6 / RFC 3264 §5.1

# RFC 4566 §5: the types each part may carry, in the order they must be written.
SESSION_ORDER = "vosiuepcbtrzka"
MEDIA_ORDER = "icbka"
_SESSION_EXTRA = set("iuepbzk")
_MEDIA_EXTRA = set("ibk")

# RFC 4566 §9 grammar: att-field = token; token chars of RFC 4566 §9 (same as RFC 3261).
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`{|}~]+\Z")
_HOSTNAME = re.compile(r"(?=.{1,253}\Z)[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9-]{1,63})*\.?\Z")
_DIGITS = re.compile(r"[0-9]{1,20}\Z")


def _number(text: str, max_digits: int) -> int | None:
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


def _attribute_values(attributes: tuple[Attribute, ...], name: str) -> list[str | None]:
    return [a.value for a in attributes if a.name.lower() == name.lower()]


def _direction_of(attributes: tuple[Attribute, ...]) -> str | None:
    found = [a.name.lower() for a in attributes if a.name.lower() in DIRECTIONS]
    return found[-1] if found else None


@dataclass(frozen=True)
class MediaDescription:
    """One m= section (RFC 4566 §5.14) with its c=, b=, k=, i= and a= lines."""

    media: str                                # "audio", "video", ...
    port: int                                 # 0 = stream rejected or disabled (RFC 3264 §6)
    proto: str                                # "RTP/AVP", "RTP/SAVP", ...
    formats: tuple[str, ...]
    port_count: int | None = None
    connection: Connection | None = None
    attributes: tuple[Attribute, ...] = ()
    extra_lines: tuple[tuple[str, str], ...] = ()   # i=, b=, k= verbatim

    @property
    def is_rtp(self) -> bool:
        return "RTP/" in self.proto.upper()

    def payload_types(self) -> list[int]:
        """The m= line's formats as RTP payload types, in the peer's order of preference."""
        return [int(f) for f in self.formats] if self.is_rtp else []

    def attribute_values(self, name: str) -> list[str | None]:
        return _attribute_values(self.attributes, name)

    def rtpmap(self, payload_type: int) -> RtpMap | None:
        """The format's rtpmap, falling back to RFC 3551's static table for 0-34."""
        parsed = self._rtpmaps.get(payload_type)
        if parsed is not None:
            return parsed
        static = STATIC_AUDIO_PAYLOAD_TYPES.get(payload_type)
        if static is not None:
            return RtpMap(payload_type, static[0], static[1], static[2])
        return None

    def fmtp(self, payload_type: int) -> dict[str, str]:
        """a=fmtp parameters as a dict; `0-16`-style values with no `=` map to ""."""
        params = self._fmtps.get(str(payload_type))
        if params is None:
            return {}
        result: dict[str, str] = {}
        for part in re.split(r"[;\s]+", params.strip()):
            if not part:
                continue
            key, eq, val = part.partition("=")
            result[key.strip()] = val.strip() if eq else ""
        return result

    # One pass over the attributes builds each index, so looking up every offered format costs
    # formats + attributes, not formats x attributes (issue 21 item 1). The first line for a
    # payload type wins, as before. Not dataclass fields: equality and repr ignore them.
    @cached_property
    def _rtpmaps(self) -> dict[int, RtpMap]:
        index: dict[int, RtpMap] = {}
        for value in self.attribute_values("rtpmap"):
            parsed = _parse_rtpmap(value)
            if parsed is not None:
                index.setdefault(parsed.payload_type, parsed)
        return index

    @cached_property
    def _fmtps(self) -> dict[str, str]:
        index: dict[str, str] = {}
        for value in self.attribute_values("fmtp"):
            if value is not None:
                head, _, params = value.partition(" ")
                index.setdefault(head.strip(), params)
        return index

    def direction(self, session_default: str | None = None) -> str:
        """RFC 3264 §5.1: media-level beats session-level; sendrecv when neither says."""
        return _direction_of(self.attributes) or session_default or "sendrecv"

    def to_lines(self) -> list[str]:
        port = str(self.port) if self.port_count is None else f"{self.port}/{self.port_count}"
        lines = [" ".join(["m=" + self.media, port, self.proto, *self.formats])]
        lines += [f"{t}={v}" for t, v in self.extra_lines if t == "i"]
        if self.connection is not None:
            lines.append(self.connection.to_line())
        lines += [f"{t}={v}" for t, v in self.extra_lines if t == "b"]
        lines += [f"{t}={v}" for t, v in self.extra_lines if t == "k"]
        lines += [a.to_line() for a in self.attributes]
        return lines


@dataclass(frozen=True)
class SessionDescription:
    """A whole SDP body (RFC 4566 §5)."""

    origin: Origin
    session_name: str = "-"
    connection: Connection | None = None
    attributes: tuple[Attribute, ...] = ()
    media: tuple[MediaDescription, ...] = ()
    time_lines: tuple[tuple[str, str], ...] = (("t", "0 0"),)   # t= and r= verbatim
    extra_lines: tuple[tuple[str, str], ...] = ()               # i u e p b z k verbatim

    def attribute_values(self, name: str) -> list[str | None]:
        return _attribute_values(self.attributes, name)

    @property
    def direction(self) -> str | None:
        """The session-level direction attribute, if any (RFC 3264 §5.1)."""
        return _direction_of(self.attributes)

    def media_connection(self, media: MediaDescription) -> Connection | None:
        """RFC 4566 §5.7: a media-level c= overrides the session-level one."""
        return media.connection or self.connection

    def with_media(self, media: tuple[MediaDescription, ...]) -> SessionDescription:
        return replace(self, media=media)

    def to_bytes(self) -> bytes:
        # RFC 4566 §5.3: "s= " when the session has no name
        lines = ["v=0", self.origin.to_line(), f"s={self.session_name or ' '}"]
        for kind in "iuep":
            lines += [f"{t}={v}" for t, v in self.extra_lines if t == kind]
        if self.connection is not None:
            lines.append(self.connection.to_line())
        lines += [f"{t}={v}" for t, v in self.extra_lines if t == "b"]
        lines += [f"{t}={v}" for t, v in self.time_lines] or ["t=0 0"]
        for kind in "zk":
            lines += [f"{t}={v}" for t, v in self.extra_lines if t == kind]
        lines += [a.to_line() for a in self.attributes]
        for media in self.media:
            lines += media.to_lines()
        return ("\r\n".join(lines) + "\r\n").encode("utf-8")

    @classmethod
    def parse(cls, data: bytes) -> SessionDescription:
        """Parse an SDP body; raises only `SdpError`."""
        return _Parser(data).parse()


# --- parsing -------------------------------------------------------------------------------


def _parse_rtpmap(value: str | None) -> RtpMap | None:
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


def _check_address(addrtype: str, address: str) -> str | None:
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


class _Parser:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.number = 0
        self.line = ""

    def fail(self, message: str) -> SdpError:
        return SdpError(message, self.number, self.line)

    def parse(self) -> SessionDescription:
        if not isinstance(self.data, bytes | bytearray | memoryview):
            raise SdpError(f"SDP body must be bytes, got {type(self.data).__name__}")
        if len(self.data) > MAX_SDP_BYTES:
            raise SdpError(f"SDP body is {len(self.data)} bytes, expected at most {MAX_SDP_BYTES}")
        try:
            text = bytes(self.data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SdpError(f"SDP body is not UTF-8 (byte {exc.start})") from None
        lines = self.lines(text)
        if not lines:
            raise SdpError("empty SDP body, expected v=0 first")

        origin: Origin | None = None
        session_name: str | None = None
        connection: Connection | None = None
        attributes: list[Attribute] = []
        time_lines: list[tuple[str, str]] = []
        extra: list[tuple[str, str]] = []
        media: list[MediaDescription] = []
        current: dict | None = None

        for index, (number, kind, value) in enumerate(lines):
            self.number, self.line = number, f"{kind}={value}"
            if index == 0:
                if kind != "v" or value.strip() != "0":
                    raise self.fail("expected v=0 as the first line (RFC 4566 §5.1)")
                continue
            if index == 1 and kind != "o":
                raise self.fail("expected o= as the second line (RFC 4566 §5)")
            if kind == "m":
                if len(media) + (current is not None) >= MAX_MEDIA_DESCRIPTIONS:
                    raise self.fail(f"more than {MAX_MEDIA_DESCRIPTIONS} media descriptions")
                if current is not None:
                    media.append(self.finish_media(current))
                current = self.parse_media_line(value)
                continue
            if current is not None:
                if kind == "c":
                    if current["connection"] is not None:
                        raise self.fail("second c= in one media description")
                    current["connection"] = self.parse_connection(value)
                elif kind == "a":
                    self.check_attribute_count(current["attributes"], "media description")
                    current["attributes"].append(self.parse_attribute(value))
                elif kind in _MEDIA_EXTRA:
                    current["extra"].append((kind, value))
                else:
                    raise self.fail(f"{kind}= is not allowed inside a media description")
                continue
            if kind == "v":
                raise self.fail("second v= line")
            elif kind == "o":
                if origin is not None:
                    raise self.fail("second o= line")
                origin = self.parse_origin(value)
            elif kind == "s":
                if session_name is not None:
                    raise self.fail("second s= line")
                session_name = value
            elif kind == "c":
                if connection is not None:
                    raise self.fail("second session-level c= line")
                connection = self.parse_connection(value)
            elif kind in "tr":
                if kind == "t" and not re.fullmatch(r"[0-9]{1,20} [0-9]{1,20}", value.strip()):
                    raise self.fail("expected t=<start> <stop> (RFC 4566 §5.9)")
                if kind == "r" and not time_lines:
                    raise self.fail("r= before any t= (RFC 4566 §5.10)")
                time_lines.append((kind, value.strip()))
            elif kind == "a":
                self.check_attribute_count(attributes, "session description")
                attributes.append(self.parse_attribute(value))
            elif kind in _SESSION_EXTRA:
                extra.append((kind, value))
            else:
                # RFC 4566 §5: a type letter we do not understand makes the description unusable.
                raise self.fail(f"unknown line type {kind!r}")
        if current is not None:
            media.append(self.finish_media(current))
        self.number, self.line = 0, ""
        if origin is None:
            raise SdpError("missing o= line (RFC 4566 §5.2)")
        if session_name is None:
            raise SdpError("missing s= line (RFC 4566 §5.3)")
        for description in media:
            if description.port != 0 and description.connection is None and connection is None:
                raise SdpError(
                    f"m={description.media} port {description.port} has no c= line at media or "
                    "session level (RFC 4566 §5.7)"
                )
        return SessionDescription(
            origin=origin,
            session_name=session_name,
            connection=connection,
            attributes=tuple(attributes),
            media=tuple(media),
            time_lines=tuple(time_lines) or (("t", "0 0"),),
            # written back in RFC 4566 §5 order, whatever order the peer used
            extra_lines=tuple(sorted(extra, key=lambda line: SESSION_ORDER.index(line[0]))),
        )

    def lines(self, text: str) -> list[tuple[int, str, str]]:
        result = []
        for number, raw in enumerate(text.split("\n"), start=1):
            line = raw.rstrip("\r \t")
            if not line:
                continue   # tolerated: blank lines, a trailing CRLF, CRCRLF
            self.number, self.line = number, line
            if len(line) < 2 or line[1] != "=" or not ("a" <= line[0] <= "z"):
                raise self.fail("expected <type>=<value> with a lower-case type letter")
            if any(ord(ch) < 32 and ch != "\t" for ch in line) or "\x00" in line:
                raise self.fail("control character in line (RFC 4566 §5)")
            result.append((number, line[0], line[2:]))
            if len(result) > MAX_SDP_LINES:
                raise self.fail(f"more than {MAX_SDP_LINES} lines in one SDP body")
        return result

    def parse_origin(self, value: str) -> Origin:
        parts = value.split()
        if len(parts) != 6:
            raise self.fail(
                f"o= has {len(parts)} fields, expected 6: "
                "<username> <sess-id> <sess-version> <nettype> <addrtype> <address>"
            )
        username, session_id, version, nettype, addrtype, address = parts
        if not _DIGITS.match(session_id):
            raise self.fail(f"o= session id {session_id!r}: expected a number")
        if not _DIGITS.match(version):
            raise self.fail(f"o= session version {version!r}: expected a number")
        if nettype != "IN":
            raise self.fail(f"o= network type {nettype!r}: expected IN")
        # RFC 4566 §5.2: the address only identifies the session; peers put odd things there
        # (a host name, 127.0.0.1 behind NAT), so only the address type is checked.
        if addrtype not in ("IP4", "IP6"):
            raise self.fail(f"o= address type {addrtype!r}: expected IP4 or IP6")
        return Origin(username, session_id, int(version), addrtype, address, nettype)

    def parse_connection(self, value: str) -> Connection:
        parts = value.split()
        if len(parts) != 3:
            raise self.fail(f"c= has {len(parts)} fields, expected <nettype> <addrtype> <address>")
        nettype, addrtype, address = parts
        if nettype != "IN":
            raise self.fail(f"c= network type {nettype!r}: expected IN")
        address, *suffixes = address.split("/")
        numbers = [_number(suffix, 5) for suffix in suffixes]
        if len(suffixes) > 2 or None in numbers:
            raise self.fail(f"c= address suffix {'/'.join(suffixes)!r}: expected /<ttl>[/<count>]")
        problem = _check_address(addrtype, address)
        if problem is not None:
            raise self.fail(f"c= address {address!r} ({addrtype}): expected {problem}")
        ttl = count = None
        if addrtype == "IP4" and suffixes:
            ttl = numbers[0]
            count = numbers[1] if len(suffixes) > 1 else None
            if ttl is not None and ttl > 255:   # RFC 4566 §5.7: the TTL is 0-255
                raise self.fail(f"c= TTL {ttl}: expected 0-255 (RFC 4566 §5.7)")
        elif addrtype == "IP6" and suffixes:
            if len(suffixes) > 1:
                raise self.fail("an IP6 c= carries no TTL, only /<count> (RFC 4566 §5.7)")
            count = numbers[0]
        return Connection(addrtype, address, ttl, count, nettype)

    def check_attribute_count(self, attributes: list[Attribute], section: str) -> None:
        if len(attributes) >= MAX_ATTRIBUTES_PER_SECTION:
            raise self.fail(f"more than {MAX_ATTRIBUTES_PER_SECTION} a= lines in one {section}")

    def parse_attribute(self, value: str) -> Attribute:
        name, colon, attr_value = value.partition(":")
        if not _TOKEN.match(name):
            raise self.fail(f"attribute name {name!r}: expected a token (RFC 4566 §9)")
        attribute = Attribute(name, attr_value if colon else None)
        lowered = name.lower()
        if lowered == "rtpmap" and _parse_rtpmap(attribute.value) is None:
            raise self.fail(
                "expected a=rtpmap:<payload type 0-127> <encoding>/<clock rate>[/<channels>]"
            )
        ptime = attribute.value or ""
        if lowered == "ptime" and not re.fullmatch(r"[0-9]{1,5}(\.[0-9]{1,9})?", ptime):
            raise self.fail("expected a=ptime:<milliseconds> (RFC 4566 §6)")
        if lowered in DIRECTIONS and attribute.value is not None:
            raise self.fail(f"a={lowered} takes no value (RFC 4566 §6)")
        return attribute

    def parse_media_line(self, value: str) -> dict:
        parts = value.split()
        if len(parts) < 4:
            raise self.fail(
                "expected m=<media> <port>[/<count>] <proto> <fmt> ... (RFC 4566 §5.14)"
            )
        media, port_text, proto, *formats = parts
        if len(formats) > MAX_FORMATS_PER_MEDIA:
            raise self.fail(
                f"m= line has {len(formats)} formats, expected at most {MAX_FORMATS_PER_MEDIA}"
            )
        port_text, slash, count_text = port_text.partition("/")
        port = _number(port_text, 5)
        if port is None or port > 65535:
            raise self.fail(f"m= port {port_text!r}: expected 0-65535")
        port_count = _number(count_text, 5) if slash else None
        if slash and (port_count is None or not 1 <= port_count <= 65535):
            raise self.fail(f"m= port count {count_text!r}: expected 1-65535")
        if not _TOKEN.match(media) or not re.fullmatch(r"[A-Za-z0-9/._-]+", proto):
            raise self.fail(f"m= media {media!r} / proto {proto!r}: expected tokens")
        if "RTP/" in proto.upper():
            for fmt in formats:
                number = _number(fmt, 3)
                if number is None or number > 127:
                    raise self.fail(f"m= format {fmt!r}: expected an RTP payload type 0-127")
        return {
            "media": media,
            "port": port,
            "port_count": port_count,
            "proto": proto,
            "formats": tuple(formats),
            "connection": None,
            "attributes": [],
            "extra": [],
        }

    def finish_media(self, current: dict) -> MediaDescription:
        return MediaDescription(
            media=current["media"],
            port=current["port"],
            proto=current["proto"],
            formats=current["formats"],
            port_count=current["port_count"],
            connection=current["connection"],
            attributes=tuple(current["attributes"]),
            extra_lines=tuple(
                sorted(current["extra"], key=lambda line: MEDIA_ORDER.index(line[0]))
            ),
        )


__all__ = [
    "DIRECTIONS",
    "MAX_ATTRIBUTES_PER_SECTION",
    "MAX_FORMATS_PER_MEDIA",
    "MAX_MEDIA_DESCRIPTIONS",
    "MAX_SDP_BYTES",
    "MAX_SDP_LINES",
    "Attribute",
    "Connection",
    "MediaDescription",
    "Origin",
    "RtpMap",
    "SessionDescription",
]
