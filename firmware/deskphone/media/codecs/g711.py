"""G.711 µ-law (PCMU, RTP PT 0) and A-law (PCMA, PT 8), ITU-T G.711, in pure Python.

Encoding is one lookup in a 65536-entry table indexed by the 16-bit sample, decoding two
`bytes.translate` passes (low and high octet of each sample): 160 samples per 20 ms frame cost a
few microseconds even on a small ARM core (see bench.py).
"""

from __future__ import annotations

import sys
from array import array
from operator import itemgetter

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


def _encode_table(encode) -> bytes:
    """The code of every 16-bit sample, indexed by its unsigned 16-bit view (0..32767, then
    -32768..-1). G.711 is a monotonic quantiser, so each half is a run of ~128 constant codes:
    find each run's end by bisection instead of calling `encode` 65536 times (this runs when
    the first G.711 call starts; on a small ARM core the brute-force loop took seconds)."""
    table = bytearray()
    for low, high in ((0, 0x7FFF), (-0x8000, -1)):
        start = low
        while start <= high:
            code = encode(start)
            lo, hi = start, high  # last sample with this code lies in [lo, hi]
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if encode(mid) == code:
                    lo = mid
                else:
                    hi = mid - 1
            table += bytes((code,)) * (lo - start + 1)
            start = lo + 1
    return bytes(table)


def _decode_tables(decode) -> tuple[bytes, bytes]:
    """Low and high octets of each code's S16LE sample, for two `bytes.translate` passes."""
    samples = [decode(c) & 0xFFFF for c in range(256)]
    return bytes(v & 0xFF for v in samples), bytes(v >> 8 for v in samples)


ULAW_ENCODE = _encode_table(_ulaw_encode_sample)
ALAW_ENCODE = _encode_table(_alaw_encode_sample)
ULAW_DECODE = _decode_tables(_ulaw_decode_sample)
ALAW_DECODE = _decode_tables(_alaw_decode_sample)
_BIG_ENDIAN = sys.byteorder == "big"


class G711Codec:
    sample_rate = encode_rate = 8000
    frame_samples = 160
    timestamp_increment = 160

    def __init__(self, *, alaw: bool) -> None:
        self.name = "PCMA" if alaw else "PCMU"
        self._table = ALAW_ENCODE if alaw else ULAW_ENCODE
        self._encode = self._table.__getitem__
        self._decode_low, self._decode_high = ALAW_DECODE if alaw else ULAW_DECODE
        self._plc = RepeatFadeConcealer(self.frame_samples)

    def encode(self, pcm: bytes) -> bytes:
        samples = array("H", pcm)
        if _BIG_ENDIAN:
            samples.byteswap()
        if len(samples) < 2:  # itemgetter of one index returns a bare value, not a tuple
            return bytes(map(self._encode, samples))
        # one C-level gather of all 160 codes: about twice as fast as map() over __getitem__
        return bytes(itemgetter(*samples)(self._table))

    def decode(self, payload: bytes) -> bytes:
        pcm = bytearray(2 * len(payload))  # S16LE: interleave low and high octets
        pcm[0::2] = payload.translate(self._decode_low)
        pcm[1::2] = payload.translate(self._decode_high)
        decoded = bytes(pcm)
        self._plc.remember(decoded)
        return decoded

    def conceal(self) -> bytes:
        return self._plc.conceal()

    @staticmethod
    def payload_duration(payload: bytes) -> int | None:
        return len(payload) or None  # one octet per sample, RTP clock = sample rate (RFC 3551)
