"""The dial plan: what the digits a person keyed in mean, and where the call goes (sans-IO).

Theory of operation
-------------------
The `[dialplan]` table of the configuration holds ordered rules and speed dials:

    [[dialplan.rules]]
    name = "office"              # optional; errors name it (default "rule 1", "rule 2", ...)
    match = "2XX"                # a dial pattern, or a regular expression starting with ^
    strip = 0                    # digits removed from the front
    prepend = ""                 # digits added in front afterwards (+, 0-9, *, #)
    to = "sip:{number}@pbx.example.com"   # URI template; {number} is the rewritten number
    via = "office"               # an account name, "direct" (no server) or "lan" (DNS-SD)

    [dialplan.speed_dial]
    "1" = "sip:alice@10.0.0.5"
    "2" = "Front desk"           # a contact's name (contacts file): dials that contact

Dial patterns (the notation of Asterisk and most PBXes): a digit, `*` or `#` stands for itself,
`X` any digit, `Z` 1-9, `N` 2-9, `[1-5]`/`[147]` a class; a trailing `.` means one or more
further characters, a trailing `!` zero or more. A pattern without `.`/`!` has a fixed length,
which lets the phone dial as soon as the number is complete (`completion`). A regular expression
must match the whole number; its groups are not used, strip/prepend do the rewriting.

A `sip:`/`sips:` URI whose host[:port] is an account's domain (one of its registrars) goes
through that account, so its registrar's digest challenge is answered (issue 13 F8); another
URI with an IP literal host is called directly; any other uses the default account.

Lookup order for `route(dialled)`: a raw `sip:`/`sips:` URI; an IPv4 address keyed as
`10*0*0*5` (`*` for the dot, the usual desk-phone convention) or typed as text; a speed dial
(a sip: URI is called as it is, a number — a contact's, see `resolve_speed_dials` — goes
through the rules);
the rules in order; finally an extension announced on the LAN (discovery). `via="lan"` rules
resolve the rewritten number in the LAN directory. Errors are `DialPlanError` naming the rule or
input; a bad plan fails at load (`DialPlan.from_config`), never at dial time.
"""

from __future__ import annotations

import enum
import ipaddress
import re
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

DIRECT = "direct"
LAN = "lan"
MAX_DIALLED_LENGTH = 64       # ITU-T E.164 allows 15 digits; leave room for prefixes and codes
_DIALLED = re.compile(r"[0-9*#+]{1,64}\Z")
_PREPEND = re.compile(r"[0-9*#+]{0,16}\Z")
_SIP_URI = re.compile(r"sips?:[^\s<>\"]{1,255}\Z", re.IGNORECASE)
_ACCOUNT = re.compile(r"[A-Za-z0-9_\-]{1,32}\Z")
_KEYED_IP_PREFIX = re.compile(r"\d{1,3}(\*\d{0,3}){0,3}\Z")
_RULE_KEYS = {"name", "match", "strip", "prepend", "to", "via"}
# A speed dial may name a contact (phone/contacts.py: 1 to 40 printable characters, no '=').
_CONTACT_NAME = re.compile(r"[^=\x00-\x1f\x7f]{1,40}\Z")


class DialPlanError(ValueError):
    """A dial plan rule that is invalid, or a number no rule can route."""


@dataclass(frozen=True)
class Route:
    """Where a dialled number goes."""

    target_uri: str
    via: str | None              # account name, "direct", or None for the default account
    rule: str | None = None      # the rule, speed dial or source that produced it
    expected_zid: str | None = None   # LAN peers: the ZRTP ZID they announced (hex)


class Completion(enum.Enum):
    COMPLETE = "complete"        # a fixed-length pattern matches and nothing longer could
    INCOMPLETE = "incomplete"    # more digits could still match something: keep waiting
    INVALID = "invalid"          # no pattern can ever match: the caller may play reorder tone


class PeerLike(Protocol):
    """A LAN peer as the dial plan reads it (routing.peers.Peer, frozen: read-only here too)."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def zid(self) -> str: ...


PeerLookup = Callable[[str], PeerLike | None]


# --- dial patterns ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pattern:
    """A compiled dial pattern: one character class per position, plus an open tail."""

    classes: tuple[frozenset[str], ...]
    tail_min: int | None         # None: fixed length; 0 for "!", 1 for "."

    def matches(self, number: str) -> bool:
        if len(number) < len(self.classes):
            return False
        if self.tail_min is None and len(number) != len(self.classes):
            return False
        if self.tail_min is not None and len(number) - len(self.classes) < self.tail_min:
            return False
        return all(ch in cls for ch, cls in zip(number, self.classes, strict=False))

    def could_extend(self, prefix: str) -> bool:
        """Could some longer string starting with prefix still match?"""
        if self.tail_min is not None:
            head = prefix[: len(self.classes)]
            return all(ch in cls for ch, cls in zip(head, self.classes, strict=False))
        if len(prefix) >= len(self.classes):
            return False
        return all(ch in cls for ch, cls in zip(prefix, self.classes, strict=False))


_DIGITS = frozenset("0123456789")
_PATTERN_LETTERS = {
    "X": _DIGITS,
    "Z": frozenset("123456789"),
    "N": frozenset("23456789"),
}


def _compile_pattern(text: str, where: str) -> _Pattern:
    classes: list[frozenset[str]] = []
    tail: int | None = None
    index = 0
    while index < len(text):
        ch = text[index].upper()
        if tail is not None:
            raise DialPlanError(f"{where}: match {text!r}: '.' or '!' must be the last character")
        if ch in _PATTERN_LETTERS:
            classes.append(_PATTERN_LETTERS[ch])
        elif ch in "0123456789*#+":
            classes.append(frozenset(ch))
        elif ch == "[":
            end = text.find("]", index)
            if end < 0:
                raise DialPlanError(f"{where}: match {text!r}: '[' without ']'")
            members = _expand_class(text[index + 1 : end], text, where)
            classes.append(members)
            index = end
        elif ch in ".!":
            tail = 1 if ch == "." else 0
        else:
            raise DialPlanError(
                f"{where}: match {text!r}: unexpected {text[index]!r}, expected digits, * # +, "
                "X Z N, [classes], a final . or !, or a regular expression starting with ^"
            )
        index += 1
    if not classes:
        raise DialPlanError(f"{where}: match {text!r}: expected at least one digit position")
    return _Pattern(tuple(classes), tail)


def _expand_class(body: str, text: str, where: str) -> frozenset[str]:
    members: set[str] = set()
    index = 0
    while index < len(body):
        ch = body[index]
        if index + 2 < len(body) and body[index + 1] == "-":
            low, high = ch, body[index + 2]
            if not (low.isdigit() and high.isdigit() and low <= high):
                raise DialPlanError(f"{where}: match {text!r}: bad range {low}-{high}")
            members.update(str(d) for d in range(int(low), int(high) + 1))
            index += 3
            continue
        if ch not in "0123456789*#":
            raise DialPlanError(f"{where}: match {text!r}: {ch!r} in a [class]")
        members.add(ch)
        index += 1
    if not members:
        raise DialPlanError(f"{where}: match {text!r}: empty [class]")
    return frozenset(members)


# --- rules -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    name: str
    match: str
    strip: int
    prepend: str
    to: str
    via: str | None
    _regex: re.Pattern[str] | None
    _pattern: _Pattern | None

    def matches(self, number: str) -> bool:
        if self._regex is not None:
            return self._regex.fullmatch(number) is not None
        assert self._pattern is not None
        return self._pattern.matches(number)

    def rewrite(self, number: str) -> str:
        return self.prepend + number[self.strip :]


def _escape_user(number: str) -> str:
    # RFC 3261 §25.1: '#' is not allowed unescaped in the user part; '*' and '+' are.
    return number.replace("#", "%23")


def _rule(raw: Any, index: int, accounts: frozenset[str]) -> Rule:
    where = f"dialplan rule {index + 1}"
    if not isinstance(raw, Mapping):
        raise DialPlanError(f"{where}: expected a table [[dialplan.rules]], got {raw!r}")
    name = raw.get("name", f"rule {index + 1}")
    if not isinstance(name, str) or not name.strip():
        raise DialPlanError(f"{where}: name {name!r}: expected a non-empty string")
    where = f"dialplan rule {name!r}"
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise DialPlanError(
            f"{where}: unknown keys {sorted(unknown)}, expected {sorted(_RULE_KEYS)}")
    match = raw.get("match")
    if not isinstance(match, str) or not match:
        raise DialPlanError(f"{where}: match {match!r}: expected a dial pattern or ^regex")
    regex = pattern = None
    if match.startswith("^"):
        try:
            regex = re.compile(match)
        except re.error as exc:
            raise DialPlanError(f"{where}: match {match!r} is not a regular expression: {exc}") \
                from None
    else:
        pattern = _compile_pattern(match, where)
    strip = raw.get("strip", 0)
    if not isinstance(strip, int) or isinstance(strip, bool) or not 0 <= strip <= 32:
        raise DialPlanError(f"{where}: strip {strip!r}: expected a whole number 0-32")
    prepend = raw.get("prepend", "")
    if not isinstance(prepend, str) or not _PREPEND.match(prepend):
        raise DialPlanError(f"{where}: prepend {prepend!r}: expected up to 16 of 0-9 * # +")
    via = raw.get("via")
    if via is not None and (not isinstance(via, str) or (via not in (DIRECT, LAN)
                                                         and via not in accounts)):
        known = ", ".join(sorted(accounts)) or "none configured"
        raise DialPlanError(
            f"{where}: via {via!r}: expected 'direct', 'lan' or an account name ({known})")
    to = raw.get("to", "" if via == LAN else None)
    if via == LAN:
        if to:
            raise DialPlanError(f"{where}: to {to!r}: a via='lan' rule takes its target from "
                                "the LAN directory, leave 'to' out")
    else:
        _check_template(to, where)
    return Rule(name, match, strip, prepend, to or "", via, regex, pattern)


def _check_template(to: Any, where: str) -> None:
    if not isinstance(to, str) or not _SIP_URI.match(to):
        raise DialPlanError(f"{where}: to {to!r}: expected a sip:/sips: URI template such as "
                            "'sip:{number}@pbx.example.com'")
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(to) if f is not None]
    except ValueError as exc:
        raise DialPlanError(f"{where}: to {to!r}: {exc}") from None
    if any(f != "number" for f in fields):
        raise DialPlanError(f"{where}: to {to!r}: only the placeholder {{number}} is known")


def _ip_from_keypad(dialled: str) -> str | None:
    """'10*0*0*5' or '10.0.0.5' or '[2001:db8::5]' → the address, else None."""
    text = dialled.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    elif text.count("*") == 3 and "." not in text:
        text = text.replace("*", ".")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return f"[{address}]" if address.version == 6 else str(address)


class DialPlan:
    """Ordered rules + speed dials + the LAN directory; built once at startup."""

    def __init__(self, rules: Iterable[Rule] = (), speed_dials: Mapping[str, str] | None = None,
                 peers: PeerLookup | None = None,
                 account_domains: Mapping[str, Iterable[str]] | None = None) -> None:
        self.rules = tuple(rules)
        self.speed_dials = dict(speed_dials or {})
        self.peers = peers
        # (host, port) → account name, from each account's registrars (host[:port] or URI).
        self.account_hosts: dict[tuple[str, int], str] = {}
        for name, registrars in (account_domains or {}).items():
            for registrar in registrars:
                key = _host_port(registrar)
                if key is not None:
                    self.account_hosts.setdefault(key, name)

    @classmethod
    def from_config(cls, table: Mapping[str, Any] | None, accounts: Iterable[str] = (),
                    peers: PeerLookup | None = None,
                    account_domains: Mapping[str, Iterable[str]] | None = None) -> DialPlan:
        """Validate the `[dialplan]` table; raises DialPlanError naming the first bad rule."""
        table = dict(table or {})
        account_names = frozenset(accounts)
        unknown = set(table) - {"rules", "speed_dial"}
        if unknown:
            raise DialPlanError(f"dialplan: unknown keys {sorted(unknown)}, "
                                "expected 'rules' and 'speed_dial'")
        raw_rules = table.get("rules", [])
        if not isinstance(raw_rules, list):
            raise DialPlanError(f"dialplan.rules: {raw_rules!r}: expected [[dialplan.rules]]")
        rules = [_rule(raw, i, account_names) for i, raw in enumerate(raw_rules)]
        names = [r.name for r in rules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise DialPlanError(f"dialplan rules: names {duplicates} used twice, expected unique")
        speed = table.get("speed_dial", {})
        if not isinstance(speed, Mapping):
            raise DialPlanError(f"dialplan.speed_dial: {speed!r}: expected a table")
        for key, uri in speed.items():
            if not isinstance(key, str) or not _DIALLED.match(key):
                raise DialPlanError(f"dialplan speed dial {key!r}: expected keypad keys 0-9 * #")
            if not isinstance(uri, str) or not (_SIP_URI.match(uri) or _DIALLED.match(uri)
                                                or _CONTACT_NAME.match(uri.strip())):
                raise DialPlanError(f"dialplan speed dial {key!r}: {uri!r}: expected a sip: "
                                    "URI, a number or a contact's name")
        return cls(rules, speed, peers, account_domains)

    @classmethod
    def from_toml(cls, text: str, accounts: Iterable[str] = (),
                  peers: PeerLookup | None = None) -> DialPlan:
        import tomllib

        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise DialPlanError(f"dial plan TOML: {exc}") from None
        return cls.from_config(document.get("dialplan", {}), accounts, peers)

    # --- dialling --------------------------------------------------------------------------

    def route(self, dialled: str) -> Route:
        """The route for a complete number; raises DialPlanError when nothing matches."""
        dialled = dialled.strip()
        if _SIP_URI.match(dialled):
            return Route(dialled, self._via_for_uri(dialled), rule="sip uri")
        if not dialled or len(dialled) > MAX_DIALLED_LENGTH:
            raise DialPlanError(f"dialled {dialled[:20]!r}: expected 1-{MAX_DIALLED_LENGTH} keys")
        address = _ip_from_keypad(dialled)
        if address is not None:
            return Route(f"sip:{address}", DIRECT, rule="ip address")
        if not _DIALLED.match(dialled):
            raise DialPlanError(f"dialled {dialled!r}: expected keypad keys 0-9 * # + or a "
                                "sip: URI")
        if dialled in self.speed_dials:
            uri = self.speed_dials[dialled]
            if _SIP_URI.match(uri):
                return Route(uri, self._via_for_uri(uri), rule=f"speed dial {dialled}")
            if _DIALLED.match(uri):  # a contact's number: the rules route it (no speed dials:
                return self._by_rules(uri)  # a speed dial never leads to another one)
            raise DialPlanError(f"dialplan speed dial {dialled!r}: {uri!r} names no contact")
        return self._by_rules(dialled)

    def _by_rules(self, dialled: str) -> Route:
        for rule in self.rules:
            if rule.matches(dialled):
                number = rule.rewrite(dialled)
                if rule.via == LAN:
                    route = self._lan_route(number, rule.name)
                    if route is None:
                        raise DialPlanError(f"dialplan rule {rule.name!r}: extension {number!r} "
                                            "is not announced on the LAN")
                    return route
                target = rule.to.format(number=_escape_user(number))
                return Route(target, rule.via, rule=rule.name)
        route = self._lan_route(dialled, "lan")
        if route is not None:
            return route
        raise DialPlanError(f"dialled {dialled!r}: no dial plan rule, speed dial or LAN "
                            "extension matches")

    def _via_for_uri(self, uri: str) -> str | None:
        key = _host_port(uri)
        if key is not None and key in self.account_hosts:
            return self.account_hosts[key]
        return _via_for_uri(uri)

    def _lan_route(self, number: str, rule: str) -> Route | None:
        peer = self.peers(number) if self.peers is not None else None
        if peer is None:
            return None
        host = f"[{peer.host}]" if ":" in peer.host else peer.host
        return Route(f"sip:{_escape_user(number)}@{host}:{peer.port}", DIRECT, rule=rule,
                     expected_zid=peer.zid)

    def completion(self, digits: str) -> Completion:
        """Whether the keyed digits form a complete number (dial without waiting for #)."""
        if not digits or not _DIALLED.match(digits):
            return Completion.INCOMPLETE if not digits else Completion.INVALID
        complete = could_extend = False
        for rule in self.rules:
            if rule._pattern is None:
                # A regex cannot tell us whether longer input could match: wait for # or timeout.
                could_extend = True
                continue
            if rule._pattern.matches(digits) and rule._pattern.tail_min is None:
                complete = True
            if rule._pattern.could_extend(digits):
                could_extend = True
        for key in self.speed_dials:
            if key == digits:
                complete = True
            elif key.startswith(digits):
                could_extend = True
        if self.peers is not None and self.peers(digits) is not None:
            complete = True
        if "*" in digits and _KEYED_IP_PREFIX.match(digits):
            # An address being keyed as 10*0*0*5: it can always grow, wait for # or the timeout.
            could_extend = True
        if complete and not could_extend:
            return Completion.COMPLETE
        if could_extend or complete:
            return Completion.INCOMPLETE
        return Completion.INVALID

    def is_complete(self, digits: str) -> bool:
        return self.completion(digits) is Completion.COMPLETE


def resolve_speed_dials(table: Mapping[str, Any] | None,
                        contacts: Mapping[str, str], source: str) -> dict[str, Any]:
    """The `[dialplan]` table with each speed dial that names a contact replaced by the
    contact's target (`contacts`: name → number or URI, from the contacts file `source`).
    An unknown name is a DialPlanError naming the key, at start, never at dialling time."""
    table = dict(table or {})
    speed = table.get("speed_dial")
    if not isinstance(speed, Mapping):
        return table
    resolved: dict[str, Any] = {}
    for key, value in speed.items():
        if isinstance(value, str) and not (_SIP_URI.match(value) or _DIALLED.match(value)):
            name = value.strip()
            if name not in contacts:
                raise DialPlanError(f"dialplan speed dial {key!r}: {value!r} is no sip: URI, "
                                    f"no number and no contact's name in {source}")
            value = contacts[name]
            if value.lower().startswith("tel:"):  # RFC 3966: the number, without separators
                value = re.sub(r"[-.()]", "", value[4:].split(";", 1)[0])
                if not _DIALLED.match(value):
                    raise DialPlanError(f"dialplan speed dial {key!r}: contact {name!r} has "
                                        f"{contacts[name]!r}, which is no number to dial")
        resolved[key] = value
    table["speed_dial"] = resolved
    return table


def _host_port(text: str) -> tuple[str, int] | None:
    """(lower-case host, port) of a sip:/sips: URI or a host[:port]; None when unparsable."""
    if not re.match(r"sips?:", text, re.IGNORECASE):
        text = f"sip:{text}"
    secure = text[:5].lower() == "sips:"
    host = text.split(":", 1)[1]
    host = host.split("@", 1)[1] if "@" in host else host
    host = re.split(r"[;?>]", host, maxsplit=1)[0]
    port_text = ""
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            return None
        host, port_text = host[1:end], host[end + 1 :].removeprefix(":")
    elif host.count(":") == 1:
        host, port_text = host.split(":")
    if port_text and not (port_text.isascii() and port_text.isdigit() and len(port_text) <= 5):
        return None
    return host.lower(), int(port_text) if port_text else (5061 if secure else 5060)


def _via_for_uri(uri: str) -> str | None:
    """A URI whose host is an IP literal is called directly; a domain uses the default account."""
    host = uri.split(":", 1)[1]
    host = host.split("@", 1)[1] if "@" in host else host
    host = re.split(r"[;?>]", host, maxsplit=1)[0]
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else host
    else:
        host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return DIRECT
