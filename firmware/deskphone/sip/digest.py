"""HTTP Digest authentication for SIP (RFC 3261 §22.4, RFC 7616, RFC 8760).

Supports MD5, SHA-256 and SHA-512-256 (and their -sess variants) with qop=auth or no qop
(RFC 2069 compatibility, which RFC 3261 §22.4 keeps). The client picks the strongest algorithm
among the challenges it was offered (RFC 8760 §2.4, RFC 7616 §3.7) and prefers qop=auth.
Passwords never leave this module and are never logged.

Which realms a password may answer is the caller's to say (`choose_challenge(realms=...)`,
`AccountRealms`): a challenge names the realm, nonce and algorithm, so answering any realm would
hand a hostile callee or proxy an MD5 of the password over a nonce of its choosing to crack
offline (RFC 3261 §22.1, §26.3.2.3; RFC 7616 §5.2). The UA answers only the account's configured
realm, or the realms its own registrar accepted its credentials in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass

from deskphone.sip.uri import SipSyntaxError, quote, read_quoted_string

_HASHES = {
    "MD5": lambda data: hashlib.md5(data).hexdigest(),  # noqa: S324 - mandated by RFC 3261 §22.4
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
    "SHA-512-256": lambda data: hashlib.new("sha512_256", data).hexdigest(),
}
# Strongest first (RFC 8760 §2.4: use the preferred algorithm the UAC supports).
PREFERENCE = ("SHA-512-256", "SHA-256", "MD5")


def _supported(algorithm: str) -> bool:
    base = algorithm.upper().removesuffix("-SESS")
    if base == "SHA-512-256":
        try:
            hashlib.new("sha512_256")
        except ValueError:
            return False
    return base in _HASHES


@dataclass(frozen=True)
class Challenge:
    """One WWW-Authenticate / Proxy-Authenticate challenge (RFC 7616 §3.3)."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False
    scheme: str = "Digest"

    @property
    def supported(self) -> bool:
        return self.scheme.lower() == "digest" and _supported(self.algorithm)


def parse_auth_params(text: str) -> dict[str, str]:
    """auth-param *( COMMA auth-param ), values token or quoted-string (RFC 7235 §2.1)."""
    params: dict[str, str] = {}
    i = 0
    n = len(text)
    while i < n:
        while i < n and text[i] in " \t,":
            i += 1
        if i >= n:
            break
        eq = text.find("=", i)
        if eq < 0:
            raise SipSyntaxError(f"auth-param {text[i : i + 30]!r} has no '='")
        name = text[i:eq].strip().lower()
        i = eq + 1
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == '"':
            value, i = read_quoted_string(text, i)
        else:
            end = text.find(",", i)
            end = n if end < 0 else end
            value = text[i:end].strip()
            i = end
        params[name] = value
    return params


def parse_challenge(value: str) -> Challenge:
    scheme, _, rest = value.strip().partition(" ")
    params = parse_auth_params(rest)
    if "nonce" not in params or "realm" not in params:
        raise SipSyntaxError(f"{scheme} challenge lacks realm or nonce: {value[:60]!r}")
    qop = tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip())
    return Challenge(
        realm=params["realm"],
        nonce=params["nonce"],
        algorithm=params.get("algorithm", "MD5").upper(),
        qop=qop,
        opaque=params.get("opaque"),
        stale=params.get("stale", "").lower() == "true",
        scheme=scheme,
    )


def choose_challenge(
    values: list[str], realms: Collection[str] | None = None
) -> Challenge | None:
    """The strongest supported challenge among those offered whose realm is in `realms`
    (None: any realm), or None. Strongest: the hash first (RFC 8760 §2.4), then qop=auth over
    the RFC 2069 form without qop."""
    parsed: list[Challenge] = []
    for value in values:
        try:
            challenge = parse_challenge(value)
        except SipSyntaxError:
            continue
        if challenge.supported and (realms is None or challenge.realm in realms):
            parsed.append(challenge)
    if not parsed:
        return None

    def rank(challenge: Challenge) -> tuple[int, bool]:
        return (PREFERENCE.index(challenge.algorithm.removesuffix("-SESS")),
                "auth" not in challenge.qop)

    return min(parsed, key=rank)


class AccountRealms:
    """The realms each account's password may answer: the configured one, else those its
    registrar accepted credentials in (learned at registration)."""

    def __init__(self) -> None:
        self._learned: dict[str, set[str]] = {}

    def allowed(self, account: str, configured: str | None) -> frozenset[str]:
        if configured:
            return frozenset((configured,))
        return frozenset(self._learned.get(account, ()))

    def learn(self, account: str, realm: str) -> None:
        self._learned.setdefault(account, set()).add(realm)


def digest_response(
    *,
    algorithm: str,
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
) -> str:
    """request-digest per RFC 7616 §3.4.1 (qop=auth) or RFC 2617 §3.2.2.1 (no qop)."""
    upper = algorithm.upper()
    session = upper.endswith("-SESS")
    hash_hex = _HASHES[upper.removesuffix("-SESS")]

    def h(text: str) -> str:
        # surrogateescape: bytes a peer sent that are not UTF-8 (realm="\xff", decoded so by
        # the parser) hash as the very bytes received instead of raising.
        return hash_hex(text.encode("utf-8", "surrogateescape"))

    ha1 = h(f"{username}:{realm}:{password}")
    if session:  # RFC 7616 §3.4.2
        ha1 = h(f"{ha1}:{nonce}:{cnonce}")
    ha2 = h(f"{method}:{uri}")  # RFC 7616 §3.4.3 for qop=auth
    if qop:
        return h(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return h(f"{ha1}:{nonce}:{ha2}")


def authorization_value(
    challenge: Challenge,
    *,
    username: str,
    password: str,
    method: str,
    uri: str,
    nc: int,
    cnonce: str,
) -> str:
    """The Authorization / Proxy-Authorization header value answering `challenge`."""
    qop = "auth" if "auth" in challenge.qop else None
    nc_text = f"{nc:08x}"
    session = challenge.algorithm.upper().endswith("-SESS")
    response = digest_response(
        algorithm=challenge.algorithm,
        username=username,
        realm=challenge.realm,
        password=password,
        method=method,
        uri=uri,
        nonce=challenge.nonce,
        qop=qop,
        nc=nc_text,
        cnonce=cnonce,
    )
    # RFC 7616 §3.4: username, realm, nonce, uri, response, cnonce and opaque are
    # quoted-strings (a '"' or '\\' in a realm or nonce is escaped, never ends the field);
    # algorithm, qop and nc are tokens.
    parts = [
        f"username={quote(username)}",
        f"realm={quote(challenge.realm)}",
        f"nonce={quote(challenge.nonce)}",
        f"uri={quote(uri)}",
        f"response={quote(response)}",
        f"algorithm={challenge.algorithm}",
    ]
    if qop:
        parts += [f"qop={qop}", f"nc={nc_text}"]
    if qop or session:  # RFC 7616 §3.4.2: -sess puts the cnonce into A1, so the server needs it
        parts.append(f"cnonce={quote(cnonce)}")
    if challenge.opaque is not None:
        parts.append(f"opaque={quote(challenge.opaque)}")
    return "Digest " + ", ".join(parts)
