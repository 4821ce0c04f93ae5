"""The ZRTP hash chain H0..H3 (RFC 6189 §9).

H0 is a 256-bit random nonce; H1 = hash(H0), H2 = hash(H1), H3 = hash(H2), always with the implicit
hash SHA-256 (§5.1.2.1), since H3 travels in the Hello before any hash is negotiated. Each message
reveals the next preimage (Hello: H3, Commit: H2, DHPart: H1, Confirm: H0) and is MACed with the
preimage revealed by the following message, so a peer can check every message once the next arrives.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field


def implicit_hash(data: bytes) -> bytes:
    """SHA-256, the implicit hash of RFC 6189 §5.1.2.1."""
    return hashlib.sha256(data).digest()


def implicit_mac(key: bytes, data: bytes) -> bytes:
    """HMAC-SHA-256 truncated to 64 bits: the MAC of Hello, Commit and DHPart (§5.2, §5.4, §5.5)."""
    return hmac.new(key, data, hashlib.sha256).digest()[:8]


@dataclass(frozen=True)
class HashChain:
    h0: bytes = field(repr=False)
    h1: bytes = field(repr=False)
    h2: bytes = field(repr=False)
    h3: bytes = field(repr=False)

    @classmethod
    def from_h0(cls, h0: bytes) -> HashChain:
        if len(h0) != 32:
            raise ValueError(f"H0 must be 32 bytes, got {len(h0)}")
        h1 = implicit_hash(h0)
        h2 = implicit_hash(h1)
        return cls(h0, h1, h2, implicit_hash(h2))

    @classmethod
    def generate(cls, rng: Callable[[int], bytes]) -> HashChain:
        return cls.from_h0(rng(32))


def preimage_matches(preimage: bytes, image: bytes, steps: int = 1) -> bool:
    """True if hashing `preimage` `steps` times gives `image` (constant-time compare)."""
    value = preimage
    for _ in range(steps):
        value = implicit_hash(value)
    return hmac.compare_digest(value, image)
