"""SIP, SIPS and tel URIs and name-addr values (RFC 3261 §19.1, §20.10, §25.1; RFC 3966).

Escapes (% HEX HEX) are kept as received in every component: RFC 4475 §3.1.1.3 reminds that
unescaping is never recursive and only the application may interpret it. `unescape()` is offered
for the places where the application compares user parts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace


class SipSyntaxError(ValueError):
    """A SIP element did not match the RFC 3261 grammar; the message names what and where."""


TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*$")
# RFC 3261 §25.1 hostname / IPv4address / IPv6reference.
_HOSTNAME = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.?$"
)
_IPV6_REF = re.compile(r"^\[[0-9A-Fa-f:.]+\]$")
# user = 1*( unreserved / escaped / user-unreserved ); password likewise (RFC 3261 §25.1).
_USER = re.compile(r"^(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|%[0-9A-Fa-f]{2})+$")
_PASSWORD = re.compile(r"^(?:[A-Za-z0-9\-_.!~*'()&=+$,]|%[0-9A-Fa-f]{2})*$")
_PARAM_CHARS = re.compile(r"^(?:[A-Za-z0-9\-_.!~*'()\[\]/:&+$]|%[0-9A-Fa-f]{2})*$")


def is_ascii_digits(text: str, max_length: int) -> bool:
    """1*DIGIT of RFC 5234 (ASCII 0-9 only), at most max_length long.

    `str.isdigit()` is also true for "²" and other Unicode digits, which `int()` then refuses,
    and `int()` refuses more than 4,300 digits: every number read from the wire is checked here
    first, so a bad one becomes the caller's documented parse error."""
    return 0 < len(text) <= max_length and text.isascii() and text.isdigit()


def is_token(text: str) -> bool:
    return bool(text) and all(c in TOKEN_CHARS for c in text)


def unescape(text: str) -> str:
    """Decode % HEX HEX escapes once (never recursively, RFC 3986 §2.4)."""
    return re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), text)


def _check_host(host: str, where: str) -> str:
    if _IPV6_REF.match(host) or _HOSTNAME.match(host):
        return host
    raise SipSyntaxError(
        f"{where}: host {host!r} is not a hostname, IPv4 address or [IPv6] reference"
    )


def split_hostport(text: str, where: str = "hostport") -> tuple[str, int | None]:
    """Split host[:port] where host may be an [IPv6] reference (RFC 3261 §25.1 hostport)."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipSyntaxError(f"{where}: unterminated IPv6 reference in {text!r}")
        host, rest = text[: end + 1], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise SipSyntaxError(f"{where}: unexpected {rest!r} after IPv6 reference")
        port_text = rest[1:] if rest else None
    else:
        host, _, port_text = text.partition(":")
        port_text = port_text if ":" in text else None
    port = None
    if port_text is not None:
        if not is_ascii_digits(port_text, 5) or int(port_text) > 65535:
            raise SipSyntaxError(f"{where}: port {port_text[:20]!r} is not an integer 0..65535")
        port = int(port_text)
    return _check_host(host, where), port


@dataclass(frozen=True)
class SipUri:
    """sip: or sips: URI. `params` keep their received order; names compare case-insensitively."""

    scheme: str
    host: str
    user: str | None = None
    password: str | None = None
    port: int | None = None
    params: tuple[tuple[str, str | None], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()

    def param(self, name: str) -> str | None:
        for key, value in self.params:
            if key.lower() == name.lower():
                return value if value is not None else ""
        return None

    def has_param(self, name: str) -> bool:
        return any(key.lower() == name.lower() for key, _ in self.params)

    def with_params(self, **changes: str | None) -> SipUri:
        kept = [(k, v) for k, v in self.params if k.lower() not in changes]
        return replace(self, params=tuple(kept) + tuple(changes.items()))

    def without_params(self, *names: str) -> SipUri:
        lowered = {n.lower() for n in names}
        return replace(
            self, params=tuple((k, v) for k, v in self.params if k.lower() not in lowered)
        )

    @property
    def hostport(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def transport(self) -> str:
        value = self.param("transport")
        if value:
            return value.lower()
        return "tls" if self.scheme == "sips" else "udp"

    def __str__(self) -> str:
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(self.user)
            if self.password is not None:
                out.append(":" + self.password)
            out.append("@")
        out.append(self.hostport)
        for key, value in self.params:
            out.append(f";{key}" if value is None else f";{key}={value}")
        if self.headers:
            out.append("?" + "&".join(f"{k}={v}" for k, v in self.headers))
        return "".join(out)


@dataclass(frozen=True)
class TelUri:
    """tel: URI (RFC 3966): the number and its parameters, kept verbatim."""

    number: str
    params: tuple[tuple[str, str | None], ...] = ()
    scheme: str = "tel"

    def __str__(self) -> str:
        return (
            "tel:"
            + self.number
            + "".join(f";{k}" if v is None else f";{k}={v}" for k, v in self.params)
        )


@dataclass(frozen=True)
class AbsoluteUri:
    """Any other scheme (RFC 3261 §19.1 absoluteURI): kept opaque."""

    scheme: str
    opaque: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.opaque}"


Uri = SipUri | TelUri | AbsoluteUri


def _parse_params(text: str, where: str) -> tuple[tuple[str, str | None], ...]:
    params: list[tuple[str, str | None]] = []
    if not text:
        return ()
    for piece in text.split(";"):
        name, eq, value = piece.partition("=")
        if not name or not _PARAM_CHARS.match(name) or (eq and not _PARAM_CHARS.match(value)):
            raise SipSyntaxError(f"{where}: bad uri-parameter {piece!r}")
        params.append((name, value if eq else None))
    return tuple(params)


def parse_uri(text: str) -> Uri:
    """Parse one URI with no surrounding whitespace or angle brackets."""
    scheme, colon, rest = text.partition(":")
    if not colon or not _SCHEME.match(scheme):
        raise SipSyntaxError(f"URI {text!r} has no valid scheme")
    if any(c in text for c in ' \t\r\n<>"') or not rest:
        raise SipSyntaxError(
            f"URI {text!r} contains whitespace, quotes or angle brackets, or is empty"
        )
    lowered = scheme.lower()
    if lowered in ("sip", "sips"):
        return _parse_sip_uri(lowered, rest, text)
    if lowered == "tel":
        number, _, params = rest.partition(";")
        if not re.match(r"^\+?[0-9A-Fa-f*#().\-]+$", number):
            raise SipSyntaxError(
                f"tel URI {text!r}: number {number!r} has characters outside RFC 3966"
            )
        return TelUri(number, _parse_params(params, "tel URI"))
    return AbsoluteUri(lowered, rest)


def _parse_sip_uri(scheme: str, rest: str, whole: str) -> SipUri:
    where = f"SIP URI {whole!r}"
    # The user part may hold ';', '?' and ',' (user-unreserved) but never an unescaped '@', and
    # neither may params or headers: the last '@' ends the userinfo.
    userinfo, at, hostpart = rest.rpartition("@")
    hostpart, question, header_text = hostpart.partition("?")
    headers: list[tuple[str, str]] = []
    if question:
        for piece in header_text.split("&"):
            name, eq, value = piece.partition("=")
            if not name or not eq:
                raise SipSyntaxError(f"{where}: bad header {piece!r} (expected hname=hvalue)")
            headers.append((name, value))
    user = password = None
    if at:
        user, colon, pw = userinfo.partition(":")
        password = pw if colon else None
        if not _USER.match(user) or (password is not None and not _PASSWORD.match(password)):
            raise SipSyntaxError(f"{where}: bad userinfo {userinfo!r}")
    # Parameters start at the first ';' after the host (IPv6 references contain no ';').
    hostport, _, param_text = hostpart.partition(";")
    host, port = split_hostport(hostport, where)
    return SipUri(
        scheme, host.lower(), user, password, port, _parse_params(param_text, where), tuple(headers)
    )


# -- quoted strings and name-addr -------------------------------------------------------------


def read_quoted_string(text: str, start: int) -> tuple[str, int]:
    """Read a quoted-string at text[start] == '"'; returns (unquoted value, index after it).

    RFC 3261 §25.1: quoted-pair = "\\" (%x00-09 / %x0B-0C / %x0E-7F).
    """
    out: list[str] = []
    i = start + 1
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text) or text[i + 1] in "\r\n":
                break
            out.append(text[i + 1])
            i += 2
            continue
        if c == '"':
            return "".join(out), i + 1
        out.append(c)
        i += 1
    raise SipSyntaxError(f"unterminated quoted string starting at {text[start : start + 40]!r}")


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def split_outside_quotes(text: str, separator: str) -> list[str]:
    """Split on separator where it is not inside a quoted string or <...>."""
    if '"' not in text and "<" not in text and ">" not in text:
        return text.split(separator)  # nothing to respect: the common case, at C speed
    parts: list[str] = []
    depth = 0
    i = begin = 0
    while i < len(text):
        c = text[i]
        if c == '"':
            _, i = read_quoted_string(text, i)
            continue
        if c == "<":
            depth += 1
        elif c == ">":
            depth = max(0, depth - 1)
        elif c == separator and depth == 0:
            parts.append(text[begin:i])
            begin = i + 1
        i += 1
    parts.append(text[begin:])
    return parts


def parse_generic_params(text: str, where: str) -> tuple[tuple[str, str | None], ...]:
    """`*( SEMI generic-param )` with LWS around ';' and '=' (RFC 3261 §25.1)."""
    params: list[tuple[str, str | None]] = []
    if not text.strip():
        return ()
    stripped = text.strip()
    if not stripped.startswith(";"):
        raise SipSyntaxError(f"{where}: expected ';' before parameters, found {stripped[:30]!r}")
    for piece in split_outside_quotes(stripped[1:], ";"):
        name, eq, value = piece.partition("=")
        name, value = name.strip(), value.strip()
        if not is_token(name):
            raise SipSyntaxError(f"{where}: parameter name {name!r} is not a token")
        if eq:
            if value.startswith('"'):
                unquoted, end = read_quoted_string(value, 0)
                if value[end:].strip():
                    raise SipSyntaxError(f"{where}: junk after quoted value of {name!r}")
                value = unquoted
            elif not value or not all(c in TOKEN_CHARS or c in "[]:" for c in value):
                raise SipSyntaxError(f"{where}: value {value!r} of {name!r} is not a token or host")
        params.append((name, value if eq else None))
    return tuple(params)


@dataclass(frozen=True)
class NameAddress:
    """From/To/Contact/Route value: display name, URI and header parameters (RFC 3261 §20.10)."""

    uri: Uri
    display_name: str | None = None
    params: tuple[tuple[str, str | None], ...] = field(default=())

    def param(self, name: str) -> str | None:
        for key, value in self.params:
            if key.lower() == name.lower():
                return value if value is not None else ""
        return None

    @property
    def tag(self) -> str | None:
        return self.param("tag")

    def with_param(self, name: str, value: str | None) -> NameAddress:
        kept = tuple((k, v) for k, v in self.params if k.lower() != name.lower())
        return replace(self, params=kept + ((name, value),))

    def __str__(self) -> str:
        name = f"{quote(self.display_name)} " if self.display_name else ""
        params = "".join(f";{k}" if v is None else f";{k}={v}" for k, v in self.params)
        return f"{name}<{self.uri}>{params}"


def parse_name_addr(text: str) -> NameAddress:
    """Parse ( name-addr / addr-spec ) *( SEMI param ) as in From, To, Contact, Route."""
    value = text.strip()
    where = f"address {value[:60]!r}"
    display: str | None = None
    if value.startswith('"'):
        display, end = read_quoted_string(value, 0)
        value = value[end:].lstrip()
        if not value.startswith("<"):
            raise SipSyntaxError(f"{where}: quoted display name must be followed by <URI>")
    if "<" in value and (display is not None or not value.startswith(("sip:", "sips:", "tel:"))):
        lt = value.index("<")
        if display is None:
            words = value[:lt].split()
            # RFC 3261 display-name = *(token LWS); RFC 4475 §3.1.1.6 accepts "caller<sip:...>".
            if not all(is_token(w) for w in words):
                raise SipSyntaxError(
                    f"{where}: unquoted display name {value[:lt]!r} has non-token characters"
                )
            display = " ".join(words) or None
        gt = value.find(">", lt)
        if gt < 0:
            raise SipSyntaxError(f"{where}: '<' without matching '>'")
        inner = value[lt + 1 : gt]
        if inner != inner.strip():
            raise SipSyntaxError(f"{where}: whitespace inside <> around the URI")
        uri = parse_uri(inner)
        return NameAddress(uri, display, parse_generic_params(value[gt + 1 :], where))
    # addr-spec form: ';' starts header params, and the URI may not carry '?', ',' (§20.10).
    uri_text, semi, param_text = value.partition(";")
    uri_text = uri_text.strip()
    if "?" in uri_text or "," in uri_text or " " in uri_text:
        raise SipSyntaxError(f"{where}: addr-spec with '?', ',' or spaces must be enclosed in <>")
    return NameAddress(parse_uri(uri_text), None, parse_generic_params(semi + param_text, where))
