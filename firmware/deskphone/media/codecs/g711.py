"""G.711 µ-law (PCMU, RTP PT 0) and A-law (PCMA, PT 8), ITU-T G.711, in pure Python.

Encoding is one lookup in a 65536-entry table indexed by the 16-bit sample, decoding one lookup
in a 256-entry table: 160 samples per 20 ms frame cost a few microseconds even on a small ARM
core (see bench.py).
"""

from __future__ import annotations

import sys
from array import array

from deskphone.media.codecs.conceal import RepeatFadeConcealer

_ULAW_BIAS = 0x84
_ULAW_CLIP = 32635


def _ulaw_encode_sample(sample: int) -> int:
    # G.711 §2 / the classic Sun reference: sign, biased magnitude, segment, 4-bit mantissa.
    sign = 0x80 if sample < 0 else 0
    magnitude = min(-sample if sample < 0 else sample, _ULAW_CLIP) + _ULAW_BIAS
    exponent = max(0, magnitude.bit_length() - 8)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def _ulaw_decode_sample(code: int) -> int:
    code = ~code & 0xFF
    magnitude = ((((code & 0x0F) << 3) + _ULAW_BIAS) << ((code >> 4) & 0x07)) - _ULAW_BIAS
    return -magnitude if code & 0x80 else magnitude


def _alaw_encode_sample(sample: int) -> int:
    sign = 0x80 if sample >= 0 else 0  # A-law: bit 7 set for positive values
    magnitude = min(-sample - 1 if sample < 0 else sample, 32767) >> 3  # 13-bit magnitude
    if magnitude < 32:
        code = magnitude >> 1
    else:
        exponent = magnitude.bit_length() - 5
        code = (exponent << 4) | ((magnitude >> exponent) & 0x0F)
    return (sign | code) ^ 0x55  # even bits inverted (G.711 Table 1a)


def _alaw_decode_sample(code: int) -> int:
    code ^= 0x55
    exponent = (code >> 4) & 0x07
    mantissa = code & 0x0F
    if exponent == 0:
        magnitude = (mantissa << 4) + 8
    else:
        magnitude = ((mantissa << 4) + 0x108) << (exponent - 1)
    return magnitude if code & 0x80 else -magnitude


def _tables(encode, decode) -> tuple[bytes, list[bytes]]:
    # index by the unsigned 16-bit view of the sample: 0..32767 then -32768..-1
    enc = bytes(encode(i if i < 0x8000 else i - 0x10000) for i in range(0x10000))
    dec = [decode(c).to_bytes(2, "little", signed=True) for c in range(256)]
    return enc, dec


ULAW_ENCODE, ULAW_DECODE = _tables(_ulaw_encode_sample, _ulaw_decode_sample)
ALAW_ENCODE, ALAW_DECODE = _tables(_alaw_encode_sample, _alaw_decode_sample)
_BIG_ENDIAN = sys.byteorder == "big"


class G711Codec:
    sample_rate = 8000
    frame_samples = 160
    timestamp_increment = 160

    def __init__(self, *, alaw: bool) -> None:
        self.name = "PCMA" if alaw else "PCMU"
        self._encode = (ALAW_ENCODE if alaw else ULAW_ENCODE).__getitem__
        self._decode = (ALAW_DECODE if alaw else ULAW_DECODE).__getitem__
        self._plc = RepeatFadeConcealer(self.frame_samples)

    def encode(self, pcm: bytes) -> bytes:
        samples = array("H", pcm)
        if _BIG_ENDIAN:
            samples.byteswap()
        return bytes(map(self._encode, samples))

    def decode(self, payload: bytes) -> bytes:
        pcm = b"".join(map(self._decode, payload))
        self._plc.remember(pcm)
        return pcm

    def conceal(self) -> bytes:
        return self._plc.conceal()
