"""SIP messages: parse and serialize requests and responses (RFC 3261 §7, §18.3, §20, §25).

Parsing is strict where ambiguity would be dangerous (framing, the singleton headers a
transaction is keyed on, scalar ranges) and liberal where RFC 4475 asks for it (LWS everywhere,
folding, compact names, any case, unknown headers kept verbatim, tokenised display names without
LWS before '<'). Every rejection raises `SipParseError` carrying the status a server should send
(400, 505...) and whatever raw headers were read, so a response can still be built.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from deskphone.sip.uri import (
    NameAddress,
    SipSyntaxError,
    SipUri,
    Uri,
    is_ascii_digits,
    is_token,
    parse_generic_params,
    parse_name_addr,
    parse_uri,
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


@dataclass(frozen=True)
class ParseLimits:
    """Bounds on what a peer can make us hold. Precedents: 64 KiB is the largest UDP datagram;
    Kamailio's BUF_SIZE is 64 KiB; h11 caps headers at 16 KiB; 256 headers is generous (longreq in
    RFC 4475 has 44)."""

    max_message_bytes: int = 65535
    max_header_count: int = 256
    max_line_length: int = 8192
    max_body_bytes: int = 65535


DEFAULT_LIMITS = ParseLimits()


class SipParseError(ValueError):
    """A message was rejected. `status` is what a server should answer (0: drop silently)."""

    def __init__(
        self,
        reason: str,
        status: int = 400,
        *,
        start_line: str = "",
        headers: Headers | None = None,
    ):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.start_line = start_line
        self.headers = headers if headers is not None else Headers()

    @property
    def is_request(self) -> bool:
        return bool(self.start_line) and not self.start_line.startswith("SIP/")


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


@dataclass
class SipMessage:
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    # -- typed views of the headers every layer needs ------------------------------------------
    @property
    def call_id(self) -> str:
        return self.headers.get("Call-ID") or ""

    @property
    def cseq(self) -> CSeq:
        return parse_cseq(self.headers.get("CSeq") or "")

    @property
    def vias(self) -> list[Via]:
        return [parse_via(v) for v in self.headers.get_all("Via")]

    @property
    def top_via(self) -> Via:
        return parse_via(self.headers.get_all("Via")[0])

    @property
    def from_(self) -> NameAddress:
        return parse_name_addr(self.headers.get("From") or "")

    @property
    def to(self) -> NameAddress:
        return parse_name_addr(self.headers.get("To") or "")

    @property
    def contacts(self) -> list[NameAddress]:
        return [parse_name_addr(v) for v in self.headers.get_all("Contact") if v.strip() != "*"]

    def name_addrs(self, header: str) -> list[NameAddress]:
        return [parse_name_addr(v) for v in self.headers.get_all(header)]

    def start_line(self) -> str:
        raise NotImplementedError

    def serialize(self) -> bytes:
        """Bytes on the wire; Content-Length always matches the body (RFC 3261 §20.14)."""
        lines = [self.start_line()]
        lines += [f"{n}: {v}" for n, v in self.headers if n != "Content-Length"]
        lines.append(f"Content-Length: {len(self.body)}")
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("utf-8", "surrogateescape") + self.body

    def __bytes__(self) -> bytes:
        return self.serialize()


@dataclass
class SipRequest(SipMessage):
    method: str = ""
    uri: Uri = field(default_factory=lambda: SipUri("sip", "invalid"))

    def start_line(self) -> str:
        return f"{self.method} {self.uri} {SIP_VERSION}"


@dataclass
class SipResponse(SipMessage):
    status: int = 0
    reason: str = ""

    def start_line(self) -> str:
        return f"{SIP_VERSION} {self.status} {self.reason}"


# -- parsing ---------------------------------------------------------------------------------

# re.ASCII: \d is 0-9 only (Unicode digits would otherwise match and reach int()).
_REQUEST_LINE = re.compile(r"^([A-Za-z0-9\-.!%*_+`'~]+) (\S+) (SIP/\d+\.\d+)$", re.ASCII)
_STATUS_LINE = re.compile(r"^(SIP/\d+\.\d+) (\d{3}) (.*)$", re.S | re.ASCII)
_DATE = re.compile(
    r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$", re.ASCII
)


def split_head(data: bytes) -> tuple[bytes, bytes] | None:
    """Split at the empty line ending the headers (CRLF CRLF; bare LF tolerated)."""
    crlf = data.find(b"\r\n\r\n")
    lf = data.find(b"\n\n")
    if crlf < 0 and lf < 0:
        return None
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return data[:crlf], data[crlf + 4 :]
    return data[:lf], data[lf + 2 :]


def _unfold(head: str, limits: ParseLimits) -> list[str]:
    """Join folded lines (RFC 3261 §7.3.1) in one pass; the line limit applies to the header
    as unfolded, so a header folded over thousands of short lines is refused like one long
    line, and the header count is checked as lines are read, not after all were joined."""
    lines: list[str] = []
    current: list[str] = []
    length = 0
    for raw in re.split(r"\r?\n", head):
        if raw[:1] in (" ", "\t") and current:
            piece = raw.strip(" \t")
            current[-1] = current[-1].rstrip(" \t")
            current += [" ", piece]
            length += 1 + len(piece)
        else:
            if current:
                lines.append("".join(current))
                if len(lines) - 1 > limits.max_header_count:
                    raise SipParseError(
                        f"more than {limits.max_header_count} header fields"
                    )
            current = [raw]
            length = len(raw)
        if length > limits.max_line_length:
            raise SipParseError(f"header line longer than {limits.max_line_length} bytes")
    if current:
        lines.append("".join(current))
    if len(lines) - 1 > limits.max_header_count:
        raise SipParseError(f"more than {limits.max_header_count} header fields")
    return lines


def parse_message(
    data: bytes, limits: ParseLimits = DEFAULT_LIMITS, *, datagram: bool = True
) -> SipMessage:
    """Parse one whole message. For datagrams, octets beyond Content-Length are dropped (§18.3)."""
    if len(data) > limits.max_message_bytes:
        raise SipParseError(f"message of {len(data)} bytes exceeds {limits.max_message_bytes}", 0)
    data = data.lstrip(b"\r\n")  # RFC 3261 §7.5: ignore CRLFs before the start line
    parts = split_head(data)
    if parts is None:
        raise SipParseError("no empty line after the header fields", 0)
    head_bytes, rest = parts
    lines = _unfold(head_bytes.decode("utf-8", "surrogateescape"), limits)
    start = lines[0]
    headers = Headers()
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        name = name.rstrip(" \t")
        if not colon or not is_token(name):
            raise SipParseError(
                f"header line {line[:40]!r} has no 'name:'", start_line=start, headers=headers
            )
        headers.add(name, value.strip(" \t"))
    body = _frame_body(rest, headers, start, datagram, limits)
    return _build(start, headers, body)


def _content_length(headers: Headers, start: str) -> int | None:
    values = headers.raw("Content-Length")
    if not values:
        return None
    if len(values) > 1:  # RFC 4475 §3.3.9 mcl01
        raise SipParseError("more than one Content-Length", start_line=start, headers=headers)
    text = values[0].strip()
    if not is_ascii_digits(text, 10):  # RFC 4475 §3.1.2.3 ncl
        raise SipParseError(
            f"Content-Length {text[:20]!r} is not a non-negative integer",
            start_line=start,
            headers=headers,
        )
    return int(text)


def _frame_body(
    rest: bytes, headers: Headers, start: str, datagram: bool, limits: ParseLimits
) -> bytes:
    length = _content_length(headers, start)
    if length is None:
        if not datagram:
            raise SipParseError(
                "Content-Length is mandatory on stream transports (§20.14)",
                start_line=start,
                headers=headers,
            )
        return rest
    if length > limits.max_body_bytes:
        raise SipParseError(
            f"body of {length} bytes exceeds {limits.max_body_bytes}",
            start_line=start,
            headers=headers,
        )
    if length > len(rest):  # RFC 4475 §3.1.2.2 clerr
        raise SipParseError(
            f"Content-Length {length} exceeds the {len(rest)} body bytes received",
            start_line=start,
            headers=headers,
        )
    return rest[:length]


def _build(start: str, headers: Headers, body: bytes) -> SipMessage:
    if start.startswith("SIP/"):
        return _build_response(start, headers, body)
    match = _REQUEST_LINE.match(start)
    if not match:  # RFC 4475 ltgtruri, lwsruri, lwsstart, trws
        raise SipParseError(
            f"request line {start[:80]!r} is not 'Method SP Request-URI SP SIP/2.0'",
            start_line=start,
            headers=headers,
        )
    method, uri_text, version = match.groups()
    if version != SIP_VERSION:  # RFC 4475 §3.1.2.16 badvers
        raise SipParseError(
            f"version {version} is not supported", 505, start_line=start, headers=headers
        )
    try:
        uri = parse_uri(uri_text)
    except SipSyntaxError as exc:
        raise SipParseError(f"Request-URI: {exc}", start_line=start, headers=headers) from None
    if isinstance(uri, SipUri) and uri.headers:  # RFC 4475 §3.1.2.11 escruri
        raise SipParseError(
            "Request-URI carries escaped headers", start_line=start, headers=headers
        )
    request = SipRequest(headers=headers, body=body, method=method, uri=uri)
    _validate_common(request, start)
    cseq = request.cseq
    if cseq.method != method:  # RFC 4475 §3.1.2.17/18 mismatch01/02
        # An unknown method is better answered 501 than 400 (RFC 4475 §3.1.2.18).
        raise SipParseError(
            f"CSeq method {cseq.method} does not match request method {method}",
            400 if method in KNOWN_METHODS else 501,
            start_line=start,
            headers=headers,
        )
    max_forwards = headers.get("Max-Forwards")
    if max_forwards is not None and not (
        is_ascii_digits(max_forwards, 10) and int(max_forwards) <= 255
    ):
        raise SipParseError(
            f"Max-Forwards {max_forwards[:20]!r} is not 0..255", start_line=start, headers=headers
        )
    return request


def _build_response(start: str, headers: Headers, body: bytes) -> SipResponse:
    match = _STATUS_LINE.match(start)
    if not match:  # RFC 4475 §3.1.2.19 bigcode
        raise SipParseError(
            f"status line {start[:80]!r} is not 'SIP/2.0 SP 3DIGIT SP reason'",
            0,
            start_line=start,
            headers=headers,
        )
    version, code, reason = match.groups()
    if version != SIP_VERSION or not 100 <= int(code) <= 699:
        raise SipParseError(
            f"status line {start[:80]!r}: version or code out of range",
            0,
            start_line=start,
            headers=headers,
        )
    response = SipResponse(headers=headers, body=body, status=int(code), reason=reason)
    try:
        _validate_common(response, start)
    except SipParseError as exc:
        exc.status = 0  # responses are never answered, only dropped (RFC 4475 §3.1.2.5)
        raise
    return response


def _validate_common(message: SipMessage, start: str) -> None:
    """Checks every layer relies on (RFC 3261 §8.1.1, §8.2.2, §18.3)."""
    headers = message.headers
    try:
        for name in ("Call-ID", "CSeq", "From", "To"):
            count = len(headers.raw(name))
            if count != 1:  # RFC 4475 §3.3.1 insuf, §3.3.8 multi01
                raise SipSyntaxError(f"{name} appears {count} times (exactly one required)")
        if len(headers.raw("Max-Forwards")) > 1:
            raise SipSyntaxError("more than one Max-Forwards")
        if not message.vias:
            raise SipSyntaxError("no Via header field")
        message.cseq  # noqa: B018 - parse for validation
        message.from_  # noqa: B018
        message.to  # noqa: B018
        for value in headers.get_all("Contact"):
            if value.strip() != "*":
                contact = parse_name_addr(value)
                expires = contact.param("expires")
                if expires is not None:
                    parse_delta_seconds(expires, "Contact expires")
        for header in ("Route", "Record-Route"):
            message.name_addrs(header)
        expires_header = headers.get("Expires")
        if expires_header is not None:
            parse_delta_seconds(expires_header, "Expires")
        date = headers.get("Date")
        if date is not None and not _DATE.match(date):  # RFC 4475 §3.1.2.12 baddate
            raise SipSyntaxError(f"Date {date!r} is not an RFC 1123 date in GMT")
    except SipSyntaxError as exc:
        raise SipParseError(str(exc), start_line=start, headers=headers) from None


class StreamFramer:
    """Cuts a TCP/TLS byte stream into whole messages by Content-Length (RFC 3261 §18.3).

    A framing error cannot be recovered on a stream: `feed` raises `SipParseError` and the
    connection must close. Bare CRLF keep-alives between messages (RFC 5626 §3.5.1) are skipped.
    Work is linear in the bytes fed however they are cut: the buffer grows in place, the search
    for the end of the header section resumes where the last one stopped, and a message's
    length is read once.
    """

    def __init__(self, limits: ParseLimits = DEFAULT_LIMITS):
        self.limits = limits
        self._buffer = bytearray()
        self._scanned = 0  # bytes of the current head already searched for its end
        self._total: int | None = None  # the current message's length, once its head is read

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        messages: list[bytes] = []
        start = 0
        try:
            while True:
                if self._total is None:
                    if self._scanned == 0:
                        start = self._skip_keepalives(start)
                    self._total = self._message_length(start)
                    if self._total is None:
                        return messages
                if len(self._buffer) - start < self._total:
                    return messages
                messages.append(bytes(self._buffer[start : start + self._total]))
                start += self._total
                self._total = None
                self._scanned = 0
        finally:
            del self._buffer[:start]

    def _skip_keepalives(self, start: int) -> int:
        buffer = self._buffer
        while start < len(buffer) and buffer[start] in (0x0D, 0x0A):
            start += 1
        return start

    def _message_length(self, start: int) -> int | None:
        """Header section plus Content-Length, or None while the empty line has not come."""
        buffer = self._buffer
        resume = start + max(0, self._scanned - 3)  # a terminator may straddle two feeds
        crlf = buffer.find(b"\r\n\r\n", resume)
        lf = buffer.find(b"\n\n", resume)
        if crlf < 0 and lf < 0:
            self._scanned = len(buffer) - start
            if self._scanned > self.limits.max_message_bytes:
                raise SipParseError("header section exceeds the message size limit", 0)
            return None
        if crlf >= 0 and (lf < 0 or crlf < lf):
            head_end, body_start = crlf, crlf + 4
        else:
            head_end, body_start = lf, lf + 2
        if head_end - start > self.limits.max_message_bytes:
            raise SipParseError("header section exceeds the message size limit", 0)
        head = bytes(buffer[start:head_end])
        match = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*)", head)
        if match is None:
            raise SipParseError("stream message without Content-Length", 0)
        text = match.group(1).strip()
        # bytes.isdigit() is ASCII-only; ten digits bound int() (RFC 3261 §20.14).
        if not (0 < len(text) <= 10 and text.isdigit()) or int(text) > self.limits.max_body_bytes:
            raise SipParseError(f"stream Content-Length {text[:20]!r} is invalid", 0)
        return body_start - start + int(text)
