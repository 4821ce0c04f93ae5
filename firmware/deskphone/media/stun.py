"""Answer STUN Binding Requests on the media port (RFC 5389 §7.3.1, §10.1.2, §15).

Peers such as linphone send Binding Requests to our RTP port about every 500 ms (connectivity
checks/keep-alives). We answer each with a Binding success response carrying XOR-MAPPED-ADDRESS
(the address the request came from) and FINGERPRINT, and MESSAGE-INTEGRITY when a short-term
password is configured (RFC 5389 §10.1). A request with an unknown comprehension-required
attribute gets a 420 error (§7.3.1); anything that is not a well-formed request is ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import struct
import zlib

MAGIC_COOKIE = 0x2112A442
HEADER = struct.Struct("!HHI12s")
BINDING_REQUEST = 0x0001
BINDING_SUCCESS = 0x0101
BINDING_ERROR = 0x0111
ATTR_MAPPED_ADDRESS = 0x0001
ATTR_USERNAME = 0x0006
ATTR_MESSAGE_INTEGRITY = 0x0008
ATTR_ERROR_CODE = 0x0009
ATTR_UNKNOWN_ATTRIBUTES = 0x000A
ATTR_XOR_MAPPED_ADDRESS = 0x0020
ATTR_PRIORITY = 0x0024  # RFC 8445 §16.1
ATTR_USE_CANDIDATE = 0x0025
ATTR_SOFTWARE = 0x8022
ATTR_FINGERPRINT = 0x8028
_FINGERPRINT_XOR = 0x5354554E  # RFC 5389 §15.5: "STUN"
_UNDERSTOOD = {
    ATTR_MAPPED_ADDRESS, ATTR_USERNAME, ATTR_MESSAGE_INTEGRITY, ATTR_ERROR_CODE,
    ATTR_UNKNOWN_ATTRIBUTES, ATTR_XOR_MAPPED_ADDRESS, ATTR_PRIORITY, ATTR_USE_CANDIDATE,
}


def _attribute(kind: int, value: bytes) -> bytes:
    return struct.pack("!HH", kind, len(value)) + value + bytes(-len(value) % 4)


def _xor_address(host: str, port: int, transaction_id: bytes) -> bytes:
    # RFC 5389 §15.2: port XOR top 16 bits of the cookie; IPv4 XOR cookie; IPv6 XOR cookie||txid
    address = ipaddress.ip_address(host)
    xport = port ^ (MAGIC_COOKIE >> 16)
    if address.version == 4:
        xaddr = int(address) ^ MAGIC_COOKIE
        return struct.pack("!BBHI", 0, 1, xport, xaddr)
    mask = int.from_bytes(struct.pack("!I", MAGIC_COOKIE) + transaction_id, "big")
    return struct.pack("!BBH", 0, 2, xport) + (int(address) ^ mask).to_bytes(16, "big")


def _finish(message_type: int, transaction_id: bytes, body: bytes, password: bytes | None) -> bytes:
    if password is not None:
        # RFC 5389 §15.4: HMAC over the message up to MESSAGE-INTEGRITY, length covering it.
        header = HEADER.pack(message_type, len(body) + 24, MAGIC_COOKIE, transaction_id)
        mac = hmac.new(password, header + body, hashlib.sha1).digest()
        body += _attribute(ATTR_MESSAGE_INTEGRITY, mac)
    header = HEADER.pack(message_type, len(body) + 8, MAGIC_COOKIE, transaction_id)
    crc = zlib.crc32(header + body) ^ _FINGERPRINT_XOR
    return header + body + _attribute(ATTR_FINGERPRINT, struct.pack("!I", crc & 0xFFFFFFFF))


def parse_attributes(data: bytes) -> list[tuple[int, bytes]] | None:
    """The attributes of a well-formed STUN message (RFC 5389 §6), or None."""
    if len(data) < 20 or data[0] & 0xC0:
        return None
    _, length, cookie, _ = HEADER.unpack_from(data)
    if cookie != MAGIC_COOKIE or length % 4 or 20 + length != len(data):
        return None
    attributes = []
    offset = 20
    while offset + 4 <= len(data):
        kind, size = struct.unpack_from("!HH", data, offset)
        if offset + 4 + size > len(data):
            return None
        attributes.append((kind, bytes(data[offset + 4 : offset + 4 + size])))
        offset += 4 + size + (-size % 4)
    return attributes if offset == len(data) else None


def answer_binding_request(
    data: bytes, source: tuple[str, int], *, password: bytes | None = None
) -> bytes | None:
    """The response to send back to `source`, or None when `data` is not a Binding Request."""
    attributes = parse_attributes(data)
    if attributes is None:
        return None
    message_type, _, _, transaction_id = HEADER.unpack_from(data)
    if message_type != BINDING_REQUEST:
        return None  # responses and indications need no answer (§7.3.2, §7.3.3)
    unknown = [k for k, _ in attributes if k < 0x8000 and k not in _UNDERSTOOD]
    if unknown:
        # RFC 5389 §7.3.1: 420 (Unknown Attribute) listing the comprehension-required ones.
        error = struct.pack("!HBB", 0, 4, 20) + b"Unknown Attribute"
        listed = b"".join(struct.pack("!H", k) for k in unknown)
        body = _attribute(ATTR_ERROR_CODE, error) + _attribute(ATTR_UNKNOWN_ATTRIBUTES, listed)
        return _finish(BINDING_ERROR, transaction_id, body, None)
    integrity = password if any(k == ATTR_MESSAGE_INTEGRITY for k, _ in attributes) else None
    body = _attribute(ATTR_XOR_MAPPED_ADDRESS, _xor_address(source[0], source[1], transaction_id))
    return _finish(BINDING_SUCCESS, transaction_id, body, integrity)


def decode_xor_mapped_address(value: bytes, transaction_id: bytes) -> tuple[str, int]:
    family, xport = value[1], struct.unpack_from("!H", value, 2)[0]
    port = xport ^ (MAGIC_COOKIE >> 16)
    if family == 1:
        (xaddr,) = struct.unpack_from("!I", value, 4)
        return str(ipaddress.IPv4Address(xaddr ^ MAGIC_COOKIE)), port
    mask = int.from_bytes(struct.pack("!I", MAGIC_COOKIE) + transaction_id, "big")
    return str(ipaddress.IPv6Address(int.from_bytes(value[4:20], "big") ^ mask)), port
