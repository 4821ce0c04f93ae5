"""ZRTP algorithm registry (RFC 6189 §5.1.2 - §5.1.6).

Each algorithm is named by its 4-character ZRTP type (as sent in Hello/Commit, space padded):
hash S256/S384, cipher AES1/AES3 (CFB for Confirm and SASrelay, §5.7), SRTP auth tag HS32/HS80,
key agreement DH3k/DH2k/EC25/EC38/X255 (X25519, as bzrtp names it), DPQ1 (our hybrid X25519 +
ML-KEM-768, `pq_kem.py`) and Mult (multistream; parsed, never committed to by us), SAS rendering
B32/B256.
"""

from __future__ import annotations

import hashlib
import hmac
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

from .pq_kem import POST_QUANTUM_KEY_AGREEMENTS

try:  # cryptography >= 47 keeps CFB among the "decrepit" modes; ZRTP §5.7 still mandates it
    from cryptography.hazmat.decrepit.ciphers.modes import CFB
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.modes import CFB

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from cryptography.hazmat.primitives.asymmetric import dh


class InvalidPublicValue(ValueError):
    """The peer's DH/ECDH public value is degenerate or not on the curve (§5.1.5, Error 0x61)."""


# --- Hash (§5.1.2) -----------------------------------------------------------------------------
@dataclass(frozen=True)
class HashAlgorithm:
    name: str
    hashlib_name: str
    length: int  # bytes

    def digest(self, data: bytes) -> bytes:
        return hashlib.new(self.hashlib_name, data).digest()

    def hmac(self, key: bytes, data: bytes) -> bytes:
        return hmac.new(key, data, self.hashlib_name).digest()


HASHES: dict[str, HashAlgorithm] = {
    "S256": HashAlgorithm("S256", "sha256", 32),
    "S384": HashAlgorithm("S384", "sha384", 48),
}


# --- Cipher (§5.1.3): AES key size; Confirm/SASrelay use AES in CFB-128 mode --------------------
@dataclass(frozen=True)
class CipherAlgorithm:
    name: str
    key_length: int  # bytes
    srtp_prefix: str

    def cfb_encrypt(self, key: bytes, iv: bytes, plaintext: bytes) -> bytes:
        encryptor = Cipher(algorithms.AES(key), CFB(iv)).encryptor()
        return encryptor.update(plaintext) + encryptor.finalize()

    def cfb_decrypt(self, key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
        decryptor = Cipher(algorithms.AES(key), CFB(iv)).decryptor()
        return decryptor.update(ciphertext) + decryptor.finalize()


CIPHERS: dict[str, CipherAlgorithm] = {
    "AES1": CipherAlgorithm("AES1", 16, "AES_CM_128"),
    "AES3": CipherAlgorithm("AES3", 32, "AES_256_CM"),
}

# --- SRTP authentication tag (§5.1.4) ----------------------------------------------------------
AUTH_TAGS: dict[str, str] = {"HS32": "HMAC_SHA1_32", "HS80": "HMAC_SHA1_80"}


def srtp_profile(cipher: str, auth_tag: str) -> str:
    """The SRTP protection profile name for a negotiated cipher and auth tag."""
    return f"{CIPHERS[cipher].srtp_prefix}_{AUTH_TAGS[auth_tag]}"


# --- Key agreement (§5.1.5) ---------------------------------------------------------------------
# RFC 3526 MODP groups: DH2k is group 14 (2048 bits), DH3k is group 15 (3072 bits), generator 2.
_MODP_2048 = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
    "15728E5A8AACAA68FFFFFFFFFFFFFFFF",
    16,
)
_MODP_3072 = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
    "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C"
    "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
    16,
)


class KeyAgreement:
    """One side of one key agreement: our public value, then the shared DHResult (§4.4.1.4)."""

    name: str
    pv_length: int

    @property
    def public_value(self) -> bytes:
        raise NotImplementedError

    def shared_secret(self, peer_public_value: bytes) -> bytes:
        raise NotImplementedError


@cache
def _dh_parameters(prime: int) -> dh.DHParameters:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dh.DHParameterNumbers(prime, 2, (prime - 1) // 2).parameters()


class FiniteFieldDH(KeyAgreement):
    def __init__(self, name: str, prime: int) -> None:
        self.name = name
        self._prime = prime
        self.pv_length = (prime.bit_length() + 7) // 8
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._private = _dh_parameters(prime).generate_private_key()
            y = self._private.public_key().public_numbers().y
        self._public = y.to_bytes(self.pv_length, "big")

    @property
    def public_value(self) -> bytes:
        return self._public

    def shared_secret(self, peer_public_value: bytes) -> bytes:
        if len(peer_public_value) != self.pv_length:
            raise InvalidPublicValue(
                f"{self.name} public value is {len(peer_public_value)} bytes, "
                f"expected {self.pv_length}"
            )
        y = int.from_bytes(peer_public_value, "big")
        # RFC 6189 §4.4.1.1 / §5.1.5: pvi/pvr of 0, 1 or p-1 (or >= p) is rejected (Error 0x61).
        if y in (0, 1) or y >= self._prime - 1:
            raise InvalidPublicValue(f"{self.name} public value is degenerate (0, 1, p-1 or >= p)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                peer = dh.DHPublicNumbers(
                    y, _dh_parameters(self._prime).parameter_numbers()
                ).public_key()
                secret = self._private.exchange(peer)
            except (ValueError, UnsupportedAlgorithm) as exc:
                raise InvalidPublicValue(f"{self.name} public value rejected: {exc}") from None
        # DHResult is the shared value padded to the size of p (§4.4.1.4).
        return secret.rjust(self.pv_length, b"\x00")


class EllipticCurveDH(KeyAgreement):
    def __init__(self, name: str, curve: ec.EllipticCurve, coordinate_length: int) -> None:
        self.name = name
        self._curve = curve
        self._coordinate_length = coordinate_length
        self.pv_length = 2 * coordinate_length  # x || y (§5.1.5)
        self._private = ec.generate_private_key(curve)
        numbers = self._private.public_key().public_numbers()
        self._public = numbers.x.to_bytes(coordinate_length, "big") + numbers.y.to_bytes(
            coordinate_length, "big"
        )

    @property
    def public_value(self) -> bytes:
        return self._public

    def shared_secret(self, peer_public_value: bytes) -> bytes:
        if len(peer_public_value) != self.pv_length:
            raise InvalidPublicValue(
                f"{self.name} public value is {len(peer_public_value)} bytes, "
                f"expected {self.pv_length}"
            )
        try:
            peer = ec.EllipticCurvePublicKey.from_encoded_point(
                self._curve, b"\x04" + peer_public_value
            )
            # DHResult is the x coordinate of the shared point (§4.4.1.4).
            return self._private.exchange(ec.ECDH(), peer)
        except ValueError as exc:
            raise InvalidPublicValue(
                f"{self.name} public value is not on the curve: {exc}") from None


class X25519DH(KeyAgreement):
    name = "X255"
    pv_length = 32

    def __init__(self) -> None:
        self._private = x25519.X25519PrivateKey.generate()
        self._public = self._private.public_key().public_bytes_raw()

    @property
    def public_value(self) -> bytes:
        return self._public

    def shared_secret(self, peer_public_value: bytes) -> bytes:
        if len(peer_public_value) != 32:
            raise InvalidPublicValue(
                f"X255 public value is {len(peer_public_value)} bytes, expected 32"
            )
        try:
            peer = x25519.X25519PublicKey.from_public_bytes(peer_public_value)
            return self._private.exchange(peer)  # rejects low-order points (all-zero result)
        except ValueError as exc:
            raise InvalidPublicValue(f"X255 public value rejected: {exc}") from None


KEY_AGREEMENT_FACTORIES: dict[str, Callable[[], KeyAgreement]] = {
    "DH2k": lambda: FiniteFieldDH("DH2k", _MODP_2048),
    "DH3k": lambda: FiniteFieldDH("DH3k", _MODP_3072),
    "EC25": lambda: EllipticCurveDH("EC25", ec.SECP256R1(), 32),
    "EC38": lambda: EllipticCurveDH("EC38", ec.SECP384R1(), 48),
    "X255": X25519DH,
}
KEY_AGREEMENT_PV_LENGTH: dict[str, int] = {
    "DH2k": 256, "DH3k": 384, "EC25": 64, "EC38": 96, "X255": 32,
}
# Fastest first: when both sides' first choices differ the faster one is used (§4.1.2). DPQ1
# costs an X25519 and an ML-KEM-768 operation per side: about twice EC25, far below DH2k.
KEY_AGREEMENT_SPEED_ORDER = ("X255", "EC25", "DPQ1", "DH2k", "EC38", "DH3k")
NON_DH_KEY_AGREEMENTS = ("Mult", "Prsh")


def new_key_agreement(name: str) -> KeyAgreement:
    try:
        return KEY_AGREEMENT_FACTORIES[name]()
    except KeyError:
        raise ValueError(
            f"key agreement {name!r} is not supported; "
            f"expected one of {sorted(KEY_AGREEMENT_FACTORIES)}"
        ) from None


# --- SAS rendering (§5.1.6) ---------------------------------------------------------------------
_B32_ALPHABET = "ybndrfg8ejkmcpqxot1uwisza345h769"  # RFC 6189 §5.1.6, z-base-32 variant


@lru_cache(maxsize=1)
def pgp_word_lists() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(even words, odd words) of the PGP word list, from the package data file pgp_words.txt."""
    text = resources.files("deskphone.zrtp").joinpath("pgp_words.txt").read_text("utf-8")
    rows = [line.split() for line in text.splitlines() if line and not line.startswith("#")]
    if len(rows) != 256 or any(len(row) != 2 for row in rows):
        raise RuntimeError(f"pgp_words.txt must hold 256 rows of 2 words, found {len(rows)} rows")
    return tuple(row[0] for row in rows), tuple(row[1] for row in rows)


def render_sas(sas_type: str, sas_value: bytes) -> str:
    """Render the 32-bit sasvalue (§4.5.2) as shown to the user (§5.1.6).

    B32: the leftmost 20 bits as 4 base-32 characters. B256: the leftmost 16 bits as two PGP words,
    the first byte from the even (two-syllable) list, the second from the odd list, as "word:word".
    """
    if len(sas_value) < 4:
        raise ValueError(f"sasvalue must be 4 bytes, got {len(sas_value)}")
    if sas_type == "B32":
        bits = int.from_bytes(sas_value[:4], "big") >> 12
        return "".join(_B32_ALPHABET[(bits >> shift) & 0x1F] for shift in (15, 10, 5, 0))
    if sas_type == "B256":
        even, odd = pgp_word_lists()
        return f"{even[sas_value[0]]}:{odd[sas_value[1]]}"
    raise ValueError(f"SAS type {sas_type!r} is not supported; expected 'B32' or 'B256'")


SAS_TYPES = ("B32", "B256")

# Mandatory algorithms (§5.1.2 - §5.1.6), implied in every Hello even when not listed.
MANDATORY = {
    "hash": ("S256",),
    "cipher": ("AES1",),
    "auth_tag": ("HS32", "HS80"),
    "key_agreement": ("DH3k",),
    "sas": ("B32",),
}
SUPPORTED = {
    "hash": tuple(HASHES),
    "cipher": tuple(CIPHERS),
    "auth_tag": tuple(AUTH_TAGS),
    "key_agreement": (*POST_QUANTUM_KEY_AGREEMENTS, *KEY_AGREEMENT_FACTORIES),
    "sas": SAS_TYPES,
}
