"""ZRTP packets and messages (RFC 6189 §5): parse and build, strict lengths, CRC-32C.

A packet (§5, Figure 2) is: 0x10 0x00, 16-bit sequence number, magic cookie "ZRTP", 32-bit source
identifier (SSRC), the message, CRC-32C (RFC 4960 Appendix B, transmitted least significant byte
first, as SCTP does). A message is: preamble 0x505a, 16-bit length in 32-bit words (the whole
message, CRC and packet header excluded), 8-character message type block, then the body.

Parsing raises `MalformedPacket` (or `BadCrc`) naming what was wrong; it never raises anything else
for any input, which the fuzz tests check.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import google_crc32c

from .algorithms import KEY_AGREEMENT_PV_LENGTH
from .pq_kem import COMMIT_VALUE_LENGTH, DHPART1_VALUE_LENGTH, NONCE_LENGTH, PQ_KEY_AGREEMENT

HEADER_LENGTH = 12
CRC_LENGTH = 4
MAGIC_COOKIE = b"ZRTP"
PREAMBLE = b"\x50\x5a"
MAX_PACKET_LENGTH = 1500  # one UDP datagram; the largest, a DPQ1 Commit, is 1348 (fragments.py)
MAC_LENGTH = 8
ZRTP_VERSION = "1.10"  # §4.1.1, §5.2: the version we speak, written in our Hello and PingAck


class MalformedPacket(ValueError):
    """The bytes are not a well-formed ZRTP packet/message (Error 0x10 territory, §5.9)."""


class BadCrc(MalformedPacket):
    """The CRC-32C does not match (§5: such packets are silently discarded)."""


# Error codes (§5.9).
ERROR_MALFORMED = 0x10
ERROR_SOFTWARE = 0x20
ERROR_UNSUPPORTED_VERSION = 0x30
ERROR_HELLO_MISMATCH = 0x40
ERROR_HASH_UNSUPPORTED = 0x51
ERROR_CIPHER_UNSUPPORTED = 0x52
ERROR_KEY_AGREEMENT_UNSUPPORTED = 0x53
ERROR_AUTH_TAG_UNSUPPORTED = 0x54
ERROR_SAS_UNSUPPORTED = 0x55
ERROR_NO_SHARED_SECRET = 0x56
ERROR_BAD_PUBLIC_VALUE = 0x61
ERROR_HVI_MISMATCH = 0x62
ERROR_UNTRUSTED_MITM = 0x63
ERROR_BAD_CONFIRM_MAC = 0x70
ERROR_NONCE_REUSE = 0x80
ERROR_EQUAL_ZID = 0x90
ERROR_SSRC_COLLISION = 0x91
ERROR_SERVICE_UNAVAILABLE = 0xA0
ERROR_PROTOCOL_TIMEOUT = 0xB0
ERROR_GOCLEAR_NOT_ALLOWED = 0x100

ERROR_DESCRIPTIONS = {
    0x10: "malformed packet", 0x20: "critical software error", 0x30: "unsupported ZRTP version",
    0x40: "Hello components mismatch", 0x51: "hash type not supported",
    0x52: "cipher type not supported", 0x53: "public key exchange not supported",
    0x54: "SRTP auth tag not supported", 0x55: "SAS rendering scheme not supported",
    0x56: "no shared secret available, DH mode required", 0x61: "bad DH public value",
    0x62: "hvi does not match hashed data", 0x63: "relayed SAS from untrusted MiTM",
    0x70: "bad Confirm MAC", 0x80: "nonce reuse", 0x90: "equal ZIDs in Hello",
    0x91: "SSRC collision", 0xA0: "service unavailable", 0xB0: "protocol timeout",
    0x100: "GoClear not allowed",
}


# --- packet framing ----------------------------------------------------------------------------
def crc32c_bytes(data: bytes) -> bytes:
    return google_crc32c.value(data).to_bytes(4, "little")


def encode_packet(sequence_number: int, ssrc: int, message: bytes) -> bytes:
    header = struct.pack("!BBH4sI", 0x10, 0x00, sequence_number & 0xFFFF, MAGIC_COOKIE,
                         ssrc & 0xFFFFFFFF)
    body = header + message
    return body + crc32c_bytes(body)


@dataclass(frozen=True)
class ZrtpPacket:
    sequence_number: int
    ssrc: int
    message: bytes  # from the preamble to the end of the message (what MACs and hashes cover)


def looks_like_zrtp(data: bytes) -> bool:
    """RFC 7983 demultiplexing plus the magic cookie: first byte 16..19 and "ZRTP" at offset 4."""
    return len(data) >= 8 and 16 <= data[0] <= 19 and data[4:8] == MAGIC_COOKIE


def decode_packet(data: bytes) -> ZrtpPacket:
    if len(data) < HEADER_LENGTH + 12 + CRC_LENGTH:
        raise MalformedPacket(f"ZRTP packet of {len(data)} bytes is shorter than the minimum 28")
    if len(data) > MAX_PACKET_LENGTH:
        raise MalformedPacket(f"ZRTP packet of {len(data)} bytes exceeds {MAX_PACKET_LENGTH}")
    if data[0] != 0x10 or data[1] != 0x00:
        raise MalformedPacket(f"ZRTP header starts {data[:2].hex()}, expected 1000")
    if data[4:8] != MAGIC_COOKIE:
        raise MalformedPacket(f"magic cookie {data[4:8]!r}, expected b'ZRTP'")
    if crc32c_bytes(data[:-CRC_LENGTH]) != data[-CRC_LENGTH:]:
        raise BadCrc(f"CRC-32C {data[-4:].hex()} does not match the packet")
    sequence_number, ssrc = struct.unpack("!H4xI", data[2:HEADER_LENGTH])
    message = data[HEADER_LENGTH:-CRC_LENGTH]
    if message[:2] != PREAMBLE:
        raise MalformedPacket(f"message preamble {message[:2].hex()}, expected 505a")
    words = struct.unpack("!H", message[2:4])[0]
    if 4 * words != len(message):
        raise MalformedPacket(f"message length field says {4 * words} bytes, packet carries "
                              f"{len(message)}")
    return ZrtpPacket(sequence_number, ssrc, message)


def message_type(message: bytes) -> bytes:
    return message[4:12]


def _frame(type_block: bytes, body: bytes) -> bytes:
    length = 12 + len(body)
    if length % 4:
        raise ValueError(f"{type_block!r} message body of {len(body)} bytes is not word aligned")
    return PREAMBLE + struct.pack("!H", length // 4) + type_block + body


def _expect_length(name: str, message: bytes, expected: int) -> None:
    if len(message) != expected:
        raise MalformedPacket(f"{name} message is {len(message)} bytes, expected {expected}")


# Text fields are decoded as Latin-1 so that any received bytes survive a parse/encode round trip;
# unknown algorithm names then simply match nothing we support.
def _algorithm_name(raw: bytes) -> str:
    return raw.decode("latin-1").rstrip(" ")


def _algorithm_block(name: str) -> bytes:
    return name.encode("latin-1").ljust(4, b" ")[:4]


# --- messages ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hello:
    """§5.2. The MAC (key H2, implicit hash) covers the message up to the MAC."""

    version: str
    client_id: str
    h3: bytes
    zid: bytes
    hashes: tuple[str, ...]
    ciphers: tuple[str, ...]
    auth_tags: tuple[str, ...]
    key_agreements: tuple[str, ...]
    sas_types: tuple[str, ...]
    mac: bytes = field(default=b"\x00" * 8, repr=False)
    signature_capable: bool = False
    mitm: bool = False
    passive: bool = False

    TYPE = b"Hello   "

    def encode(self) -> bytes:
        lists = (self.hashes, self.ciphers, self.auth_tags, self.key_agreements, self.sas_types)
        if any(len(values) > 7 for values in lists):
            raise ValueError("a Hello lists at most 7 algorithms of each type (§5.2)")
        flags = (self.signature_capable << 6) | (self.mitm << 5) | (self.passive << 4)
        counts = 0
        for values in lists:
            counts = (counts << 4) | len(values)
        body = (
            self.version.encode("latin-1")[:4].ljust(4, b" ")
            + self.client_id.encode("latin-1", "replace")[:16].ljust(16, b" ")
            + self.h3 + self.zid
            + struct.pack("!B", flags) + counts.to_bytes(3, "big")
            + b"".join(_algorithm_block(name) for values in lists for name in values)
            + self.mac
        )
        return _frame(self.TYPE, body)

    @classmethod
    def parse(cls, message: bytes) -> Hello:
        if len(message) < 88:
            raise MalformedPacket(f"Hello message is {len(message)} bytes, expected at least 88")
        flags = message[76]
        counts = int.from_bytes(message[77:80], "big")
        count_list = [(counts >> shift) & 0xF for shift in (16, 12, 8, 4, 0)]
        if any(count > 7 for count in count_list):
            raise MalformedPacket(f"Hello algorithm counts {count_list} exceed 7 (§5.2)")
        expected = 88 + 4 * sum(count_list)
        _expect_length("Hello", message, expected)
        offset = 80
        lists = []
        for count in count_list:
            lists.append(tuple(_algorithm_name(message[offset + 4 * i: offset + 4 * i + 4])
                               for i in range(count)))
            offset += 4 * count
        try:
            version = message[12:16].decode("ascii")
        except UnicodeDecodeError:
            raise MalformedPacket(f"Hello version {message[12:16].hex()} is not ASCII") from None
        return cls(
            version=version,
            client_id=message[16:32].decode("latin-1").rstrip(" "),
            h3=message[32:64], zid=message[64:76],
            hashes=lists[0], ciphers=lists[1], auth_tags=lists[2], key_agreements=lists[3],
            sas_types=lists[4], mac=message[-8:],
            signature_capable=bool(flags & 0x40), mitm=bool(flags & 0x20),
            passive=bool(flags & 0x10),
        )


@dataclass(frozen=True)
class Commit:
    """§5.4. DH mode carries hvi (32 bytes); Mult carries a 16-byte nonce; Prsh nonce + key ID.
    DPQ1 (KEM, bzrtp's layout) carries hvi then the initiator's key shares (`pq_kem.py`)."""

    h2: bytes
    zid: bytes
    hash: str
    cipher: str
    auth_tag: str
    key_agreement: str
    sas_type: str
    hvi: bytes = b""
    nonce: bytes = b""
    key_id: bytes = b""
    public_value: bytes = b""  # DPQ1 only
    mac: bytes = field(default=b"\x00" * 8, repr=False)

    TYPE = b"Commit  "

    @property
    def is_dh_mode(self) -> bool:
        return self.key_agreement not in ("Mult", "Prsh")

    def encode(self) -> bytes:
        body = (
            self.h2 + self.zid
            + b"".join(_algorithm_block(name) for name in (
                self.hash, self.cipher, self.auth_tag, self.key_agreement, self.sas_type))
            + (self.hvi + self.public_value if self.is_dh_mode else self.nonce + self.key_id)
            + self.mac
        )
        return _frame(self.TYPE, body)

    @classmethod
    def parse(cls, message: bytes) -> Commit:
        if len(message) < 76:
            raise MalformedPacket(f"Commit message is {len(message)} bytes, expected at least 76")
        names = [_algorithm_name(message[56 + 4 * i: 60 + 4 * i]) for i in range(5)]
        key_agreement = names[3]
        expected = {"Mult": 100, "Prsh": 108,
                    PQ_KEY_AGREEMENT: 116 + COMMIT_VALUE_LENGTH}.get(key_agreement, 116)
        _expect_length(f"Commit ({key_agreement})", message, expected)
        variable = message[76:-8]
        if key_agreement == "Mult":
            hvi, nonce, key_id = b"", variable, b""
        elif key_agreement == "Prsh":
            hvi, nonce, key_id = b"", variable[:16], variable[16:]
        else:
            hvi, nonce, key_id = variable[:32], b"", b""
        return cls(h2=message[12:44], zid=message[44:56], hash=names[0], cipher=names[1],
                   auth_tag=names[2], key_agreement=key_agreement, sas_type=names[4], hvi=hvi,
                   nonce=nonce, key_id=key_id, public_value=variable[32:] if hvi else b"",
                   mac=message[-8:])


@dataclass(frozen=True)
class DHPart:
    """§5.5 (DHPart1, responder) and §5.6 (DHPart2, initiator); both MACed with H0."""

    part: int  # 1 or 2
    h1: bytes
    rs1_id: bytes
    rs2_id: bytes
    auxsecret_id: bytes
    pbxsecret_id: bytes
    public_value: bytes
    mac: bytes = field(default=b"\x00" * 8, repr=False)

    def encode(self) -> bytes:
        type_block = b"DHPart1 " if self.part == 1 else b"DHPart2 "
        body = (self.h1 + self.rs1_id + self.rs2_id + self.auxsecret_id + self.pbxsecret_id
                + self.public_value + self.mac)
        return _frame(type_block, body)

    @classmethod
    def parse(cls, message: bytes, key_agreement: str | None = None) -> DHPart:
        part = 1 if message_type(message) == b"DHPart1 " else 2
        if len(message) < 84 + 4:
            raise MalformedPacket(f"DHPart{part} message is {len(message)} bytes, too short")
        public_value = message[76:-8]
        if key_agreement is not None:
            expected = (KEY_AGREEMENT_PV_LENGTH.get(key_agreement)
                        if key_agreement != PQ_KEY_AGREEMENT  # ciphertext or nonce, pq_kem.py
                        else DHPART1_VALUE_LENGTH if part == 1 else NONCE_LENGTH)
            if expected is not None and len(public_value) != expected:
                raise MalformedPacket(f"DHPart{part} public value is {len(public_value)} bytes, "
                                      f"{key_agreement} needs {expected}")
        elif len(public_value) not in (*KEY_AGREEMENT_PV_LENGTH.values(), DHPART1_VALUE_LENGTH,
                                       NONCE_LENGTH):
            raise MalformedPacket(f"DHPart{part} public value of {len(public_value)} bytes "
                                  "fits no key agreement")
        return cls(part=part, h1=message[12:44], rs1_id=message[44:52], rs2_id=message[52:60],
                   auxsecret_id=message[60:68], pbxsecret_id=message[68:76],
                   public_value=public_value, mac=message[-8:])


@dataclass(frozen=True)
class ConfirmPlaintext:
    """The encrypted part of Confirm1/Confirm2 (§5.7)."""

    h0: bytes = field(repr=False)
    pbx_enrollment: bool = False  # E
    sas_verified: bool = False  # V
    allow_clear: bool = False  # A
    disclosure: bool = False  # D
    cache_expiration: int = 0xFFFFFFFF  # seconds; 0xFFFFFFFF never expires, 0 do not cache
    signature: bytes = b""

    def encode(self) -> bytes:
        flags = (self.pbx_enrollment << 3) | (self.sas_verified << 2) | (self.allow_clear << 1) \
            | self.disclosure
        # §5.7 figure 10: 15 unused bits, sig len (9 bits, in words), 4 zero bits, E V A D.
        signature_words = len(self.signature) // 4
        word = (signature_words << 8) | flags
        return self.h0 + struct.pack("!II", word, self.cache_expiration) + self.signature

    @classmethod
    def parse(cls, plaintext: bytes) -> ConfirmPlaintext:
        if len(plaintext) < 40:
            raise MalformedPacket(f"Confirm plaintext is {len(plaintext)} bytes, expected >= 40")
        word, expiration = struct.unpack("!II", plaintext[32:40])
        signature_length = 4 * ((word >> 8) & 0x1FF)  # §5.7 figure 10: bits 8-16
        if len(plaintext) != 40 + signature_length:
            raise MalformedPacket(
                f"Confirm signature length says {signature_length} bytes, "
                f"{len(plaintext) - 40} present"
            )
        return cls(h0=plaintext[:32], pbx_enrollment=bool(word & 8), sas_verified=bool(word & 4),
                   allow_clear=bool(word & 2), disclosure=bool(word & 1),
                   cache_expiration=expiration, signature=plaintext[40:])


@dataclass(frozen=True)
class Confirm:
    """§5.7 Confirm1/Confirm2: confirm_mac || CFB IV || encrypted(ConfirmPlaintext)."""

    part: int
    confirm_mac: bytes = field(repr=False)
    iv: bytes
    encrypted: bytes = field(repr=False)

    def encode(self) -> bytes:
        type_block = b"Confirm1" if self.part == 1 else b"Confirm2"
        return _frame(type_block, self.confirm_mac + self.iv + self.encrypted)

    @classmethod
    def parse(cls, message: bytes) -> Confirm:
        part = 1 if message_type(message) == b"Confirm1" else 2
        if len(message) < 76:
            raise MalformedPacket(f"Confirm{part} message is {len(message)} bytes, expected >= 76")
        return cls(part=part, confirm_mac=message[12:20], iv=message[20:36],
                   encrypted=message[36:])


@dataclass(frozen=True)
class SasRelay:
    """§5.13: MAC || CFB IV || encrypted(flags, rendering scheme, trusted SAS hash, signature)."""

    mac: bytes = field(repr=False)
    iv: bytes
    encrypted: bytes = field(repr=False)

    TYPE = b"SASrelay"

    def encode(self) -> bytes:
        return _frame(self.TYPE, self.mac + self.iv + self.encrypted)

    @classmethod
    def parse(cls, message: bytes) -> SasRelay:
        if len(message) < 76:
            raise MalformedPacket(f"SASrelay message is {len(message)} bytes, expected >= 76")
        return cls(mac=message[12:20], iv=message[20:36], encrypted=message[36:])


@dataclass(frozen=True)
class SimpleMessage:
    """HelloACK, Conf2ACK, ErrorACK, ClearACK, RelayACK: just the type block (§5.3 etc.)."""

    type_block: bytes

    def encode(self) -> bytes:
        return _frame(self.type_block, b"")


@dataclass(frozen=True)
class ErrorMessage:
    """§5.9."""

    code: int
    TYPE = b"Error   "

    def encode(self) -> bytes:
        return _frame(self.TYPE, struct.pack("!I", self.code))

    @property
    def description(self) -> str:
        return ERROR_DESCRIPTIONS.get(self.code, "unknown error")


@dataclass(frozen=True)
class GoClear:
    """§5.11; clear_mac proves it comes from the peer (we refuse to go clear anyway)."""

    clear_mac: bytes = field(repr=False)
    TYPE = b"GoClear "

    def encode(self) -> bytes:
        return _frame(self.TYPE, self.clear_mac)


@dataclass(frozen=True)
class Ping:
    """§5.15."""

    version: str
    endpoint_hash: bytes
    TYPE = b"Ping    "

    def encode(self) -> bytes:
        return _frame(self.TYPE, self.version.encode("latin-1")[:4].ljust(4) + self.endpoint_hash)


@dataclass(frozen=True)
class PingAck:
    """§5.16."""

    version: str
    sender_endpoint_hash: bytes
    received_endpoint_hash: bytes
    received_ssrc: int
    TYPE = b"PingACK "

    def encode(self) -> bytes:
        return _frame(self.TYPE, self.version.encode("latin-1")[:4].ljust(4)
                      + self.sender_endpoint_hash + self.received_endpoint_hash
                      + struct.pack("!I", self.received_ssrc))


HELLO_ACK = SimpleMessage(b"HelloACK")
CONF2_ACK = SimpleMessage(b"Conf2ACK")
ERROR_ACK = SimpleMessage(b"ErrorACK")
CLEAR_ACK = SimpleMessage(b"ClearACK")
RELAY_ACK = SimpleMessage(b"RelayACK")
_SIMPLE_TYPES = {m.type_block: m for m in (HELLO_ACK, CONF2_ACK, ERROR_ACK, CLEAR_ACK, RELAY_ACK)}

Message = (Hello | Commit | DHPart | Confirm | SasRelay | SimpleMessage | ErrorMessage | GoClear
           | Ping | PingAck)


def parse_message(message: bytes) -> Message:
    """Parse one message (preamble to end). Raises MalformedPacket for anything malformed."""
    if len(message) < 12 or message[:2] != PREAMBLE or 4 * struct.unpack(
            "!H", message[2:4])[0] != len(message):
        raise MalformedPacket("message framing (preamble/length) is invalid")
    kind = message_type(message)
    if kind in _SIMPLE_TYPES:
        _expect_length(kind.decode().strip(), message, 12)
        return _SIMPLE_TYPES[kind]
    if kind == Hello.TYPE:
        return Hello.parse(message)
    if kind == Commit.TYPE:
        return Commit.parse(message)
    if kind in (b"DHPart1 ", b"DHPart2 "):
        return DHPart.parse(message)
    if kind in (b"Confirm1", b"Confirm2"):
        return Confirm.parse(message)
    if kind == SasRelay.TYPE:
        return SasRelay.parse(message)
    if kind == ErrorMessage.TYPE:
        _expect_length("Error", message, 16)
        return ErrorMessage(struct.unpack("!I", message[12:16])[0])
    if kind == GoClear.TYPE:
        _expect_length("GoClear", message, 20)
        return GoClear(message[12:20])
    if kind == Ping.TYPE:
        _expect_length("Ping", message, 24)
        return Ping(message[12:16].decode("latin-1"), message[16:24])
    if kind == PingAck.TYPE:
        _expect_length("PingACK", message, 36)
        return PingAck(message[12:16].decode("latin-1"), message[16:24],
                       message[24:32], struct.unpack("!I", message[32:36])[0])
    raise MalformedPacket(f"unknown ZRTP message type {kind!r}")
