"""Post-quantum hybrid key agreement "DPQ1": X25519 + ML-KEM-768 (FIPS 203) inside RFC 6189.

RFC 6189 only knows Diffie-Hellman: each side sends a public value in its DHPart and both compute
DHResult. A KEM is asymmetric (one side's public key, the other side's ciphertext), so it is
fitted in the way bzrtp (>= 5.2) fits its KEMs, which keeps every other part of the protocol:

    Commit  (initiator)  hvi || X25519 share (32) || ML-KEM-768 encapsulation key (1184)
    DHPart1 (responder)  X25519 share (32) || ML-KEM-768 ciphertext (1088)
    DHPart2 (initiator)  a 16-byte random nonce in place of the public value

The initiator still builds DHPart2 before Commit and hvi = hash(DHPart2 || responder's Hello)
(§4.4.1.1) still commits to it, so Commit contention (§4.2) and the hvi check work unchanged; the
nonce keeps each DHPart2, hence each hvi, unique. Both key shares travel in messages that
total_hash covers (§4.4.1.4), so s0 binds them.

DHResult is a hybrid combiner over both shared secrets (in the spirit of X-Wing, draft-connolly-
cfrg-xwing-kem): hash(label || ss_ML-KEM || ss_X25519 || X25519 share of the responder || X25519
share of the initiator), with the negotiated hash (S384, which DPQ1 requires). It is unpredictable
as long as either secret is: ML-KEM-768 against a future quantum computer, X25519 should ML-KEM
turn out weak. The X25519 shares are hashed in because X25519 on its own does not bind the
public values to the secret; ML-KEM's Fujisaki-Okamoto transform already binds its ciphertext.

This module knows only the cryptography; the ZRTP phase modules decide when each step happens.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

PQ_KEY_AGREEMENT = "DPQ1"  # ours: bzrtp's are KYB1-3, HQD1-3, X1K1, X1H1, X3K3, X3H3, XKR1, XKR3
POST_QUANTUM_KEY_AGREEMENTS = (PQ_KEY_AGREEMENT,)

X25519_LENGTH = 32
MLKEM768_ENCAPSULATION_KEY_LENGTH = 1184
MLKEM768_CIPHERTEXT_LENGTH = 1088
NONCE_LENGTH = 16  # DHPart2's nonce, as bzrtp's ZRTP_KEMPART2_NONCE_SIZE
COMMIT_VALUE_LENGTH = X25519_LENGTH + MLKEM768_ENCAPSULATION_KEY_LENGTH  # 1216, word aligned
DHPART1_VALUE_LENGTH = X25519_LENGTH + MLKEM768_CIPHERTEXT_LENGTH  # 1120, word aligned
# What DPQ1 asks of the rest of the suite: 192-bit-class security like EC38 (§5.1.5), so SHA-384
# for every hash and KDF and 256-bit AES for SRTP and Confirm.
REQUIRED_HASH = "S384"
REQUIRED_CIPHER = "AES3"
COMBINER_LABEL = b"deskphone ZRTP DPQ1 X25519+ML-KEM-768"


class InvalidKemValue(ValueError):
    """The peer's KEM key share or ciphertext is malformed (answered with Error 0x61, §5.9)."""


def is_post_quantum(key_agreement: str | None) -> bool:
    return key_agreement in POST_QUANTUM_KEY_AGREEMENTS


def combine(digest, ss_mlkem: bytes, ss_x25519: bytes, x25519_responder: bytes,
            x25519_initiator: bytes) -> bytes:
    """DHResult of DPQ1 (see the module docstring); `digest` is the negotiated hash function."""
    return digest(COMBINER_LABEL + ss_mlkem + ss_x25519 + x25519_responder + x25519_initiator)


def _x25519_secret(private: x25519.X25519PrivateKey, peer_share: bytes) -> bytes:
    try:
        peer = x25519.X25519PublicKey.from_public_bytes(peer_share)
        return private.exchange(peer)  # rejects low-order points (all-zero result)
    except ValueError as exc:
        raise InvalidKemValue(f"DPQ1 X25519 share rejected: {exc}") from None


@dataclass(eq=False, repr=False)
class HybridKemInitiator:
    """The initiator's side: key shares for the Commit, then decapsulation of DHPart1's value."""

    _x25519: x25519.X25519PrivateKey = field(default_factory=x25519.X25519PrivateKey.generate)
    _mlkem: mlkem.MLKEM768PrivateKey = field(default_factory=mlkem.MLKEM768PrivateKey.generate)

    @property
    def commit_value(self) -> bytes:
        return (self._x25519.public_key().public_bytes_raw()
                + self._mlkem.public_key().public_bytes_raw())

    def shared_secret(self, digest, dhpart1_value: bytes) -> bytes:
        if len(dhpart1_value) != DHPART1_VALUE_LENGTH:
            raise InvalidKemValue(f"DPQ1 DHPart1 value is {len(dhpart1_value)} bytes, expected "
                                  f"{DHPART1_VALUE_LENGTH}")
        x_responder = dhpart1_value[:X25519_LENGTH]
        ciphertext = dhpart1_value[X25519_LENGTH:]
        ss_x25519 = _x25519_secret(self._x25519, x_responder)
        try:  # FIPS 203 §7.3: a wrong ciphertext yields the implicit-rejection secret, no error
            ss_mlkem = self._mlkem.decapsulate(ciphertext)
        except ValueError as exc:
            raise InvalidKemValue(f"DPQ1 ML-KEM ciphertext rejected: {exc}") from None
        x_initiator = self._x25519.public_key().public_bytes_raw()
        return combine(digest, ss_mlkem, ss_x25519, x_responder, x_initiator)

    def __repr__(self) -> str:
        return "HybridKemInitiator()"


@dataclass(eq=False, repr=False)
class HybridKemResponder:
    """The responder's side: encapsulates to the Commit's keys at once (DHPart1 carries the
    result); the secret is ready before DHPart2 arrives."""

    dhpart1_value: bytes
    _ss_mlkem: bytes
    _ss_x25519: bytes
    _x_initiator: bytes

    @classmethod
    def encapsulate(cls, commit_value: bytes) -> HybridKemResponder:
        if len(commit_value) != COMMIT_VALUE_LENGTH:
            raise InvalidKemValue(f"DPQ1 Commit value is {len(commit_value)} bytes, expected "
                                  f"{COMMIT_VALUE_LENGTH}")
        x_initiator = commit_value[:X25519_LENGTH]
        try:  # FIPS 203 §7.2: the encapsulation key's modulus check
            peer_key = mlkem.MLKEM768PublicKey.from_public_bytes(commit_value[X25519_LENGTH:])
        except ValueError as exc:
            raise InvalidKemValue(f"DPQ1 ML-KEM encapsulation key rejected: {exc}") from None
        private = x25519.X25519PrivateKey.generate()
        ss_x25519 = _x25519_secret(private, x_initiator)
        ss_mlkem, ciphertext = peer_key.encapsulate()
        share = private.public_key().public_bytes_raw()
        return cls(share + ciphertext, ss_mlkem, ss_x25519, x_initiator)

    def shared_secret(self, digest) -> bytes:
        return combine(digest, self._ss_mlkem, self._ss_x25519,
                       self.dhpart1_value[:X25519_LENGTH], self._x_initiator)

    def __repr__(self) -> str:
        return "HybridKemResponder()"
