"""Playout of one media stream: the jitter buffer's due frames into one handset frame per tick.

    jitter buffer -> decode / PLC (codec) -> residue -> 20 ms (codec rate) -> resample -> handset

Packets of any duration the codec allows (a=ptime 10..120 ms) are decoded whole; what this tick
does not play waits in the residue: the decoded audio, at the codec rate, of [play_ts,
covered_until) of the jitter buffer (jitterbuffer.py). Lost packets are concealed by the codec
(PLC), a hold plays a concealed frame outside the timeline, and a playout (re)start drops the
residue. One `Playout` per codec: the stream builds a new one with the codec and jitter buffer.
It runs once per 20 ms tick on the audio path: the common case (one 20 ms packet, no residue)
decodes and returns without touching the residue.
"""

from __future__ import annotations

from deskphone.media.codecs import Codec
from deskphone.media.jitterbuffer import FrameKind, JitterBuffer
from deskphone.media.resample import Resampler


class Playout:
    def __init__(self, codec: Codec, jitter: JitterBuffer, clock_rate: int,
                 device_rate: int) -> None:
        self._codec = codec
        self._jitter = jitter
        rate = codec.sample_rate
        self._to_device = Resampler(rate, device_rate) if device_rate != rate else None
        self._frame_bytes = 2 * codec.frame_samples  # one 20 ms frame of PCM at the codec rate
        self._bytes_per_unit = 2 * rate // clock_rate  # PCM octets per RTP timestamp unit
        self._silence = bytes(2 * device_rate * 20 // 1000)
        self._residue = b""

    def frame(self, now: float, muted: bool) -> bytes:
        """The handset's frame for the tick at `now` (device rate); silence when `muted` (the
        stream's direction or security rule), the timeline advancing all the same."""
        jitter, codec = self._jitter, self._codec
        pieces = jitter.pop(now)
        frame = self._frame_bytes
        if len(pieces) == 1 and not self._residue and not muted:
            piece = pieces[0]  # the common case: one 20 ms packet, nothing left over
            if piece.kind is FrameKind.AUDIO:
                pcm = codec.decode(piece.payload)
                if len(pcm) == frame:
                    return self._to_device.process(pcm) if self._to_device else pcm
                self._residue = self._fit(pcm, piece.duration * self._bytes_per_unit)
                pieces = []
        hold = False
        for piece in pieces:
            if piece.kind is FrameKind.AUDIO:
                self._residue += self._fit(codec.decode(piece.payload),
                                           piece.duration * self._bytes_per_unit)
            elif piece.kind is FrameKind.LOST:
                self._residue += self._concealed(piece.duration * self._bytes_per_unit)
            elif piece.kind is FrameKind.HOLD:
                hold = True
            else:  # SILENCE: playout stopped or restarted, what was left over is stale
                self._residue = b""
                return self._silence
        if hold:
            pcm = self._concealed(frame)  # played outside the timeline: the residue waits
        else:
            pcm, self._residue = self._fit(self._residue[:frame], frame), self._residue[frame:]
        if muted:
            return self._silence
        return self._to_device.process(pcm) if self._to_device else pcm

    @staticmethod
    def _fit(pcm: bytes, size: int) -> bytes:
        """Exactly `size` octets: a decoder that returned more or less must not shift the
        timeline of everything after it."""
        if len(pcm) == size:
            return pcm
        return pcm[:size] if len(pcm) > size else pcm + bytes(size - len(pcm))

    def _concealed(self, size: int) -> bytes:
        pcm = self._codec.conceal()
        while len(pcm) < size:
            more = self._codec.conceal()
            if not more:
                break
            pcm += more
        return self._fit(pcm, size)
