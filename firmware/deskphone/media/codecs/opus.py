"""Opus (RFC 6716, RTP payload RFC 7587) mono at 48 kHz through PyAV's libopus.

Constant bitrate is the default on a secure call: with VBR, packet sizes follow the spoken
phonemes and leak content through encryption (RFC 6562 §3, RFC 7587 §7.1 `cbr`).
Loss concealment is libopus's own PLC: RFC 6716 §3.2.1 lets a frame of length 0 stand for a lost
frame, so a one-octet packet holding only the last TOC byte (code 0: one frame, no data) makes
the decoder synthesise 20 ms, the same as calling opus_decode() with no data.
"""

from __future__ import annotations

from deskphone.media.codecs._av import AvFrameCodec, open_decoder, open_encoder


class OpusCodec:
    name = "opus"
    sample_rate = 48000
    frame_samples = 960
    timestamp_increment = 960  # RFC 7587 §4.1: the RTP clock is always 48 kHz

    def __init__(self, *, bitrate: int = 24000, cbr: bool = True) -> None:
        options = {"application": "voip", "frame_duration": "20", "vbr": "off" if cbr else "on"}
        self.cbr = cbr
        self._av = AvFrameCodec(
            open_encoder("libopus", 48000, bit_rate=bitrate, options=options),
            open_decoder("libopus", 48000),
            self.frame_samples,
        )
        self._last_toc: int | None = None

    def encode(self, pcm: bytes) -> bytes:
        return self._av.encode_frame(pcm)

    def decode(self, payload: bytes) -> bytes:
        pcm = self._av.decode_packet(payload)
        if not pcm:
            return self.conceal()
        self._last_toc = payload[0] & 0xFC  # keep config and stereo bit, code 0 (one frame)
        return pcm

    def conceal(self) -> bytes:
        if self._last_toc is None:
            return bytes(2 * self.frame_samples)
        pcm = self._av.decode_packet(bytes((self._last_toc,)))
        return pcm if pcm else bytes(2 * self.frame_samples)
