"""ZRTP key derivation (RFC 6189 §4.4.1.4, §4.5).

    KDF(KI, Label, Context, L) = HMAC(KI, i || Label || 0x00 || Context || L)   (§4.5.1)

truncated to the leftmost L bits, with i = 1 (32 bits) and L a 32-bit bit count; HMAC uses the
negotiated hash. KDF_Context = ZIDi || ZIDr || total_hash.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from .algorithms import CIPHERS, HASHES, HashAlgorithm, render_sas

SALT_BITS = 112  # SRTP master salt (§4.5.3)


def kdf(hash_algorithm: HashAlgorithm, ki: bytes, label: bytes, context: bytes, bits: int) -> bytes:
    """RFC 6189 §4.5.1 key derivation function; returns bits/8 bytes."""
    if bits <= 0 or bits % 8 or bits > 8 * hash_algorithm.length:
        raise ValueError(
            f"KDF length {bits} bits must be a positive multiple of 8 up to the hash length "
            f"{8 * hash_algorithm.length}"
        )
    data = struct.pack("!I", 1) + label + b"\x00" + context + struct.pack("!I", bits)
    return hash_algorithm.hmac(ki, data)[: bits // 8]


def kdf_context(zid_initiator: bytes, zid_responder: bytes, total_hash: bytes) -> bytes:
    return zid_initiator + zid_responder + total_hash


def total_hash(
    hash_algorithm: HashAlgorithm, responder_hello: bytes, commit: bytes, dhpart1: bytes,
    dhpart2: bytes,
) -> bytes:
    """§4.4.1.4: hash(Hello of responder || Commit || DHPart1 || DHPart2), whole messages."""
    return hash_algorithm.digest(responder_hello + commit + dhpart1 + dhpart2)


def s0_dh_mode(
    hash_algorithm: HashAlgorithm, dh_result: bytes, zid_initiator: bytes, zid_responder: bytes,
    total_hash_value: bytes, s1: bytes | None, s2: bytes | None, s3: bytes | None,
) -> bytes:
    """§4.4.1.4: s0 = hash(counter || DHResult || "ZRTP-HMAC-KDF" || ZIDi || ZIDr || total_hash
    || len(s1) || s1 || len(s2) || s2 || len(s3) || s3); an absent secret has length 0."""
    parts = [struct.pack("!I", 1), dh_result, b"ZRTP-HMAC-KDF", zid_initiator, zid_responder,
             total_hash_value]
    for secret in (s1, s2, s3):
        parts.append(struct.pack("!I", len(secret or b"")))
        parts.append(secret or b"")
    return hash_algorithm.digest(b"".join(parts))


@dataclass(frozen=True)
class SessionKeys:
    """Everything derived from s0 for one ZRTP session (§4.5.2, §4.5.3). Never logged."""

    srtp_key_initiator: bytes = field(repr=False)
    srtp_salt_initiator: bytes = field(repr=False)
    srtp_key_responder: bytes = field(repr=False)
    srtp_salt_responder: bytes = field(repr=False)
    mac_key_initiator: bytes = field(repr=False)
    mac_key_responder: bytes = field(repr=False)
    zrtp_key_initiator: bytes = field(repr=False)
    zrtp_key_responder: bytes = field(repr=False)
    zrtp_session_key: bytes = field(repr=False)
    sas_hash: bytes = field(repr=False)
    new_rs1: bytes = field(repr=False)

    @property
    def sas_value(self) -> bytes:
        """§4.5.2: the leftmost 32 bits of sashash."""
        return self.sas_hash[:4]

    def render_sas(self, sas_type: str) -> str:
        return render_sas(sas_type, self.sas_value)


def derive_session_keys(hash_name: str, cipher_name: str, s0: bytes, context: bytes) -> SessionKeys:
    """§4.5.2 / §4.5.3: SRTP keys and salts per role, MAC and ZRTP keys, ZRTPSess, SAS hash, rs1."""
    h = HASHES[hash_name]
    key_bits = 8 * CIPHERS[cipher_name].key_length
    hash_bits = 8 * h.length

    def derive(label: str, bits: int) -> bytes:
        return kdf(h, s0, label.encode("ascii"), context, bits)

    return SessionKeys(
        srtp_key_initiator=derive("Initiator SRTP master key", key_bits),
        srtp_salt_initiator=derive("Initiator SRTP master salt", SALT_BITS),
        srtp_key_responder=derive("Responder SRTP master key", key_bits),
        srtp_salt_responder=derive("Responder SRTP master salt", SALT_BITS),
        mac_key_initiator=derive("Initiator HMAC key", hash_bits),
        mac_key_responder=derive("Responder HMAC key", hash_bits),
        zrtp_key_initiator=derive("Initiator ZRTP key", key_bits),
        zrtp_key_responder=derive("Responder ZRTP key", key_bits),
        zrtp_session_key=derive("ZRTP Session Key", hash_bits),
        sas_hash=derive("SAS", 256),
        new_rs1=derive("retained secret", 256),  # §4.6.1
    )


def secret_id(hash_algorithm: HashAlgorithm, secret: bytes, role_label: bytes) -> bytes:
    """§4.3.1: rs1IDr = MAC(rs1, "Responder") etc., truncated to 64 bits."""
    return hash_algorithm.hmac(secret, role_label)[:8]
