"""Events a ZrtpSession hands to the application (RFC 6189), as frozen dataclasses.

A handshake ends with exactly one of `Secure`, `CacheMismatch` or `NotSecure`. `Securing` comes
first, as soon as the peer's Hello shows that it speaks ZRTP. Secrets never appear in a repr:
SrtpKeys hides its keys and the SAS is left out of every repr (it is shown on the OLED, never
logged).
"""

from __future__ import annotations

from dataclasses import dataclass, field

SRTP_PROFILES = (
    "AES_CM_128_HMAC_SHA1_80",
    "AES_CM_128_HMAC_SHA1_32",
    "AES_256_CM_HMAC_SHA1_80",
    "AES_256_CM_HMAC_SHA1_32",
)


@dataclass(frozen=True)
class SrtpKeys:
    """SRTP master keys from ZRTP (RFC 6189 §4.5.3): "local" protects what we send."""

    profile: str
    local_key: bytes = field(repr=False)
    local_salt: bytes = field(repr=False)
    remote_key: bytes = field(repr=False)
    remote_salt: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if self.profile not in SRTP_PROFILES:
            raise ValueError(f"SRTP profile {self.profile!r} is not one of {SRTP_PROFILES}")


@dataclass(frozen=True)
class ZrtpEvent:
    pass


@dataclass(frozen=True)
class Securing(ZrtpEvent):
    """The peer answered with a ZRTP Hello: key agreement is under way."""


@dataclass(frozen=True)
class Secure(ZrtpEvent):
    """Confirm exchange done (RFC 6189 §4.6): SRTP may start with `srtp`.

    `verified` is True only when both sides had verified the SAS before and the retained secret
    matched (key continuity, §4.6.1 V flag); otherwise the SAS must be read out and compared.
    """

    sas: str = field(repr=False)
    sas_type: str
    verified: bool
    srtp: SrtpKeys
    cipher: str
    hash: str
    auth_tag: str
    key_agreement: str
    peer_zid: bytes


@dataclass(frozen=True)
class CacheMismatch(ZrtpEvent):
    """POSSIBLE MITM: we hold a retained secret for this peer and it did not match (§4.3.2).

    The call is encrypted (same fields as Secure, SRTP may start) but the SAS MUST be verified
    again; the verified flag has been cleared in the cache.
    """

    sas: str = field(repr=False)
    sas_type: str
    srtp: SrtpKeys
    cipher: str
    hash: str
    auth_tag: str
    key_agreement: str
    peer_zid: bytes
    verified: bool = False


@dataclass(frozen=True)
class NotSecure(ZrtpEvent):
    """ZRTP failed or was refused: no SRTP keys; audio must not be sent as if secure."""

    reason: str
