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

This module holds the whole body and its parser, which knows where each line may appear and how
many there may be. The values of single lines (o=, c=, a=, rtpmap) and their grammar are in
`fields`, one m= section is `media_description.MediaDescription`, and the caps on what one body
may carry are in `limits`; every name is importable from here as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from deskphone.sdp import fields
from deskphone.sdp.errors import SdpError
from deskphone.sdp.fields import (
    DIGITS,
    DIRECTIONS,
    TOKEN,
    Attribute,
    Connection,
    Origin,
    RtpMap,
    ascii_number,
    attribute_values,
    check_address,
    direction_of,
)
from deskphone.sdp.limits import (
    MAX_ATTRIBUTES_PER_SECTION,
    MAX_FORMATS_PER_MEDIA,
    MAX_MEDIA_DESCRIPTIONS,
    MAX_SDP_BYTES,
    MAX_SDP_LINES,
)
from deskphone.sdp.media_description import MediaDescription

# RFC 4566 §5: the types each part may carry, in the order they must be written.
SESSION_ORDER = "vosiuepcbtrzka"
MEDIA_ORDER = "icbka"
_SESSION_EXTRA = set("iuepbzk")
_MEDIA_EXTRA = set("ibk")


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
        return attribute_values(self.attributes, name)

    @property
    def direction(self) -> str | None:
        """The session-level direction attribute, if any (RFC 3264 §5.1)."""
        return direction_of(self.attributes)

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
        if not DIGITS.match(session_id):
            raise self.fail(f"o= session id {session_id!r}: expected a number")
        if not DIGITS.match(version):
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
        numbers = [ascii_number(suffix, 5) for suffix in suffixes]
        if len(suffixes) > 2 or None in numbers:
            raise self.fail(f"c= address suffix {'/'.join(suffixes)!r}: expected /<ttl>[/<count>]")
        problem = check_address(addrtype, address)
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
        if not TOKEN.match(name):
            raise self.fail(f"attribute name {name!r}: expected a token (RFC 4566 §9)")
        attribute = Attribute(name, attr_value if colon else None)
        lowered = name.lower()
        if lowered == "rtpmap" and fields.parse_rtpmap(attribute.value) is None:
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
        port = ascii_number(port_text, 5)
        if port is None or port > 65535:
            raise self.fail(f"m= port {port_text!r}: expected 0-65535")
        port_count = ascii_number(count_text, 5) if slash else None
        if slash and (port_count is None or not 1 <= port_count <= 65535):
            raise self.fail(f"m= port count {count_text!r}: expected 1-65535")
        if not TOKEN.match(media) or not re.fullmatch(r"[A-Za-z0-9/._-]+", proto):
            raise self.fail(f"m= media {media!r} / proto {proto!r}: expected tokens")
        if "RTP/" in proto.upper():
            for fmt in formats:
                number = ascii_number(fmt, 3)
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
