"""Events a ZrtpSession hands to the application (RFC 6189), as frozen dataclasses.

A handshake ends with exactly one of `Secure`, `CacheMismatch` or `NotSecure`, never repeated for
the same keys. `Securing` comes first, as soon as the peer's Hello shows that it speaks ZRTP. An
initiator also gets `SrtpReceiveReady` once Confirm1 verified (RFC 6189 §4.6): SRTP from the
responder may be decrypted before Conf2ACK, and `ZrtpSession.peer_srtp_authenticated` then stands
in for a lost Conf2ACK. `CacheWriteFailed` may follow a Secure/CacheMismatch: the keys are good, but
key continuity for the next call could not be saved. Secrets never appear in a repr:
SrtpKeys hides its keys and the SAS is left out of every repr (it is shown on the OLED, never
logged).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .pq_kem import is_post_quantum

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

    @property
    def post_quantum(self) -> bool:
        """The key agreement resists a future quantum computer (DPQ1, pq_kem.py)."""
        return is_post_quantum(self.key_agreement)


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
    """ZRTP failed or was refused: no SRTP keys; audio must not be sent as if secure.

    `possible_attack` is set when the failure is evidence of an attack rather than a mere
    failure: the peer's Hello did not match the a=zrtp-hash its signalling announced (§8.1.1).
    The screen should say so at once ("POSSIBLE ATTACK"), not a generic "not secure".
    """

    reason: str
    possible_attack: bool = False


@dataclass(frozen=True)
class SrtpReceiveReady(ZrtpEvent):
    """Initiator: the responder's Confirm1 verified (§4.6), so the responder may already send SRTP
    with these keys. Decrypt with them (do not send yet); when a packet authenticates, call
    `ZrtpSession.peer_srtp_authenticated(now)` (an implicit Conf2ACK). The Secure or CacheMismatch
    that follows carries the same keys: the SRTP context built now must be kept, not rebuilt."""

    srtp: SrtpKeys


@dataclass(frozen=True)
class CacheWriteFailed(ZrtpEvent):
    """The retained secret of this call could not be saved (§4.9): the call is encrypted, but
    the next call with this peer may raise a cache mismatch. Show it; do not drop SRTP."""

    reason: str
