"""ZRTP packet fragmentation, in bzrtp's layout (bzrtp >= 5.3, which added it for its KEMs).

RFC 6189 carries each message in one UDP datagram. DPQ1's Commit (pq_kem.py) is 1348 bytes, so
a path whose MTU is below ~1400 bytes would have the kernel fragment it at the IP layer, and a
firewall that drops IP fragments would lose it. When a packet would exceed the configured MTU
(`ZrtpConfig.mtu`) the message is sent as fragments instead, each a packet of its own:

    0x11 0x00, 16-bit sequence number, "ZRTP", SSRC           (12 bytes, as §5 Figure 2)
    message id (16 bits), total message length (16 bits, words)
    offset of this fragment (16 bits, words), fragment length (16 bits, words)
    the fragment, then the CRC-32C over everything before it  (§5)

A retransmitted message keeps its message id, so fragments from different copies combine. The
receiver keeps a few messages in reassembly at once, bounded in size, and hands a complete
message on as if it had come in one packet; everything else about it (hash chain, MACs) is
checked as usual. Small messages are never fragmented: the minimum MTU, 600 as bzrtp's, is above
every classical ZRTP packet (DH3k's DHPart is 484 bytes), so peers without fragmentation support
never see one.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from dataclasses import dataclass, field

from .packets import (
    CRC_LENGTH,
    HEADER_LENGTH,
    MAGIC_COOKIE,
    PREAMBLE,
    BadCrc,
    MalformedPacket,
    crc32c_bytes,
)

FRAGMENT_FIRST_BYTE = 0x11
FRAGMENT_HEADER_LENGTH = HEADER_LENGTH + 8  # 20
MINIMUM_MTU = 600
DEFAULT_MTU = 1452  # bzrtp's default: 1500 minus IPv6 (40) and UDP (8)
MAX_MESSAGE_LENGTH = 4096  # bytes; our largest message is the 1332-byte DPQ1 Commit
MAX_IN_REASSEMBLY = 4  # messages; the oldest is dropped to make room


def is_fragment(data: bytes) -> bool:
    return len(data) >= 1 and data[0] == FRAGMENT_FIRST_BYTE


def split(message: bytes, mtu: int) -> list[tuple[int, bytes]]:
    """(offset in words, piece) covering `message`, each piece fitting a packet of `mtu`."""
    if mtu < MINIMUM_MTU:
        raise ValueError(f"ZRTP MTU {mtu} is below the minimum {MINIMUM_MTU}")
    piece = (mtu - FRAGMENT_HEADER_LENGTH - CRC_LENGTH) // 4 * 4
    return [(offset // 4, message[offset:offset + piece])
            for offset in range(0, len(message), piece)]


def encode_fragment(sequence_number: int, ssrc: int, message_id: int, total_words: int,
                    offset_words: int, piece: bytes) -> bytes:
    body = (struct.pack("!BBH4sI", FRAGMENT_FIRST_BYTE, 0x00, sequence_number & 0xFFFF,
                        MAGIC_COOKIE, ssrc & 0xFFFFFFFF)
            + struct.pack("!HHHH", message_id & 0xFFFF, total_words, offset_words,
                          len(piece) // 4)
            + piece)
    return body + crc32c_bytes(body)


@dataclass(frozen=True)
class Fragment:
    sequence_number: int
    ssrc: int
    message_id: int
    total_words: int
    offset_words: int
    piece: bytes


def decode_fragment(data: bytes) -> Fragment:
    """Raises MalformedPacket (BadCrc for a wrong CRC) naming what is wrong."""
    if len(data) < FRAGMENT_HEADER_LENGTH + 4 + CRC_LENGTH:
        raise MalformedPacket(f"ZRTP fragment of {len(data)} bytes is shorter than the minimum 28")
    if data[:2] != bytes([FRAGMENT_FIRST_BYTE, 0]) or data[4:8] != MAGIC_COOKIE:
        raise MalformedPacket(f"ZRTP fragment header {data[:8].hex()}, expected 1100....5a525450")
    if crc32c_bytes(data[:-CRC_LENGTH]) != data[-CRC_LENGTH:]:
        raise BadCrc(f"CRC-32C {data[-4:].hex()} does not match the fragment")
    sequence_number, ssrc, message_id, total, offset, length = struct.unpack(
        "!H4xIHHHH", data[2:FRAGMENT_HEADER_LENGTH])
    piece = data[FRAGMENT_HEADER_LENGTH:-CRC_LENGTH]
    if 4 * length != len(piece):
        raise MalformedPacket(f"ZRTP fragment length field says {4 * length} bytes, the packet "
                              f"carries {len(piece)}")
    if 4 * total > MAX_MESSAGE_LENGTH or offset + length > total:
        raise MalformedPacket(f"ZRTP fragment at word {offset} (+{length}) does not fit a message "
                              f"of {total} words (at most {MAX_MESSAGE_LENGTH // 4})")
    return Fragment(sequence_number, ssrc, message_id, total, offset, piece)


@dataclass
class _Partial:
    total_words: int
    pieces: dict[int, bytes] = field(default_factory=dict)  # offset in words -> piece
    stored: int = 0  # bytes held; pieces at odd offsets must not grow it without bound

    def complete(self) -> bytes | None:
        message, offset = b"", 0
        while offset < self.total_words:
            piece = self.pieces.get(offset)
            if piece is None:
                return None
            message += piece
            offset += len(piece) // 4
        return message


class Reassembler:
    """Collects fragments per message id; bounded in messages and bytes."""

    def __init__(self) -> None:
        self._partial: OrderedDict[int, _Partial] = OrderedDict()

    def add(self, fragment: Fragment) -> bytes | None:
        """The whole message (preamble to end) once its last missing piece arrives, else None.
        Raises MalformedPacket when a piece contradicts what came before (the message is
        forgotten: its retransmission starts over)."""
        partial = self._partial.get(fragment.message_id)
        if partial is not None and partial.total_words != fragment.total_words:
            del self._partial[fragment.message_id]
            raise MalformedPacket(f"ZRTP fragment of message {fragment.message_id} says "
                                  f"{fragment.total_words} words, earlier ones "
                                  f"{partial.total_words}")
        if partial is None:
            while len(self._partial) >= MAX_IN_REASSEMBLY:
                self._partial.popitem(last=False)
            partial = self._partial[fragment.message_id] = _Partial(fragment.total_words)
        known = partial.pieces.get(fragment.offset_words)
        if known is not None and known != fragment.piece:
            del self._partial[fragment.message_id]
            raise MalformedPacket(f"ZRTP fragment at word {fragment.offset_words} of message "
                                  f"{fragment.message_id} differs from an earlier copy")
        if known is None:
            partial.stored += len(fragment.piece)
            if partial.stored > 8 * partial.total_words:  # twice the message
                del self._partial[fragment.message_id]
                raise MalformedPacket(f"ZRTP fragments of message {fragment.message_id} overlap "
                                      "beyond twice its length")
        partial.pieces[fragment.offset_words] = fragment.piece
        message = partial.complete()
        if message is None:
            return None
        del self._partial[fragment.message_id]
        if message[:2] != PREAMBLE or 4 * struct.unpack("!H", message[2:4])[0] != len(message):
            raise MalformedPacket(f"reassembled ZRTP message {fragment.message_id} has no valid "
                                  "preamble and length")
        return message
