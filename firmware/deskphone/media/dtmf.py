"""RFC 4733 telephone-events (DTMF) in RTP: a sender that paces packets per 20 ms tick and a
receiver that reports each key once, however many retransmitted packets carry it.

Payload (RFC 4733 §2.3): event(8) | E(1) R(1) volume(6) | duration(16, timestamp units).
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass

from deskphone.media.rtp import RtpPacket, ts_delta

EVENT_CODES = {**{str(d): d for d in range(10)}, "*": 10, "#": 11,
               "A": 12, "B": 13, "C": 14, "D": 15}
KEYS_BY_CODE = {code: key for key, code in EVENT_CODES.items()}
DEFAULT_VOLUME = 10  # -10 dBm0, RFC 4733 §2.3.4
TONE_MS = 100  # a keypress lasts 100 ms on the wire (≥ 40 ms, RFC 4733 §2.5.1.2 / ITU Q.24)
END_REPEATS = 3  # RFC 4733 §2.5.1.4: the final packet is sent three times


@dataclass(frozen=True, slots=True)
class DtmfPacket:
    payload: bytes
    marker: bool
    timestamp: int  # RTP timestamp of the event start: every packet of one event shares it


def encode_event(code: int, end: bool, volume: int, duration: int) -> bytes:
    return struct.pack("!BBH", code, (0x80 if end else 0) | (volume & 0x3F), min(duration, 0xFFFF))


class DtmfSender:
    """Call `next_packet(timestamp, frame_samples)` every 20 ms tick before sending audio: it
    returns the telephone-event packet to send instead of audio, or None."""

    def __init__(self, clock_rate: int, *, tone_ms: int = TONE_MS) -> None:
        self.clock_rate = clock_rate
        self.tone_samples = clock_rate * tone_ms // 1000
        self._queue: deque[int] = deque()
        self._code: int | None = None
        self._start = 0
        self._elapsed = 0
        self._ends_left = 0

    def press(self, key: str) -> None:
        code = EVENT_CODES.get(key.upper())
        if code is None:
            raise ValueError(f"DTMF key {key!r} unknown, expected one of 0-9 * # A-D")
        self._queue.append(code)

    @property
    def busy(self) -> bool:
        return self._code is not None or bool(self._queue)

    def next_packet(self, timestamp: int, frame_samples: int) -> DtmfPacket | None:
        if self._code is None:
            if not self._queue:
                return None
            self._code = self._queue.popleft()
            self._start = timestamp
            self._elapsed = frame_samples
            self._ends_left = END_REPEATS
            # RFC 4733 §2.5.1.2: the first packet of an event carries the marker bit.
            return DtmfPacket(encode_event(self._code, False, DEFAULT_VOLUME, self._elapsed),
                              True, self._start)
        if self._elapsed < self.tone_samples:
            self._elapsed += frame_samples
            end = self._elapsed >= self.tone_samples
            if not end:
                return DtmfPacket(encode_event(self._code, False, DEFAULT_VOLUME, self._elapsed),
                                  False, self._start)
        packet = DtmfPacket(encode_event(self._code, True, DEFAULT_VOLUME, self._elapsed),
                            False, self._start)
        self._ends_left -= 1
        if self._ends_left == 0:
            self._code = None
        return packet


class DtmfReceiver:
    """Reports each event once (RFC 4733 §2.5.2): a new event is a new RTP timestamp."""

    def __init__(self) -> None:
        self._last_timestamp: int | None = None
        self._last_ssrc: int | None = None
        self.malformed = 0

    def receive(self, packet: RtpPacket) -> str | None:
        if len(packet.payload) < 4:
            self.malformed += 1
            return None
        code = packet.payload[0]
        key = KEYS_BY_CODE.get(code)
        if key is None:
            return None  # other telephone events (§3.2 tones, flash...) are not keys
        same_source = packet.ssrc == self._last_ssrc
        if (same_source and self._last_timestamp is not None
                and ts_delta(packet.timestamp, self._last_timestamp) <= 0):
            return None  # a later packet or retransmission of an event already reported
        self._last_timestamp = packet.timestamp
        self._last_ssrc = packet.ssrc
        return key
