"""Opus (RFC 6716, RTP payload RFC 7587) mono at 48 kHz through PyAV's libopus.

Constant bitrate is the default on a secure call: with VBR, packet sizes follow the spoken
phonemes and leak content through encryption (RFC 6562 §3, RFC 7587 §7.1 `cbr`).
Loss concealment is libopus's own PLC: RFC 6716 §3.2.1 lets a frame of length 0 stand for a lost
frame, so a one-octet packet holding only the last TOC byte (code 0: one frame, no data) makes
the decoder synthesise 20 ms, the same as calling opus_decode() with no data.

Encoder input at the capture device's rate. libopus takes PCM at 8, 12, 16, 24 or 48 kHz
(RFC 6716 §2: the encoder's input rate is independent of the coded bandwidth and of the 48 kHz
RTP clock, RFC 7587 §4.1), so an 8 kHz handset's frames go in as they are: upsampling them to
48 kHz in Python (resample.py) cost more per frame than the encoder itself, and added nothing
the microphone had captured (issue 19). FFmpeg's libopus decoder always produces 48 kHz, so the
playout side still resamples down to the handset.

Encoder complexity (libopus OPUS_SET_COMPLEXITY, 0..10, FFmpeg's `compression_level`; libopus
defaults to 10). Measured here on 20 ms frames of 8 kHz speech at 24 kb/s (issue 19): 10 costs
~250-340 µs per frame, 2-8 ~180-290 µs, 1 ~70 µs, 0 ~67 µs; at 10 the encoder alone is more than
a whole G.711 call's CPU (~220 µs per frame). Complexity 1 keeps SILK's full coding with simpler
pitch and noise-shaping analysis: for a narrowband handset the loss is small and the call stays
within 1.5x a G.711 call on a Pi's core. `complexity` chooses otherwise.
"""

from __future__ import annotations

from deskphone.media.codecs._av import AvFrameCodec, open_decoder, open_encoder

# RFC 6716 §3.1 Table 2: frame size in 48 kHz samples by TOC config 0..31.
_SILK = (480, 960, 1920, 2880)  # 10, 20, 40, 60 ms (configs 0-11)
_HYBRID = (480, 960)  # 10, 20 ms (configs 12-15)
_CELT = (120, 240, 480, 960)  # 2.5, 5, 10, 20 ms (configs 16-31)
_FRAME_SAMPLES = tuple(
    _SILK[c % 4] if c < 12 else _HYBRID[c % 2] if c < 16 else _CELT[c % 4] for c in range(32)
)
COMPLEXITY = 1  # see the module docstring
ENCODER_RATES = (8000, 12000, 16000, 24000, 48000)  # RFC 6716 §2: what libopus takes as input
MAX_PACKET_SAMPLES = 5760  # RFC 6716 §3.2.5: at most 120 ms of audio per packet


def packet_samples(payload: bytes) -> int | None:
    """48 kHz samples in an Opus packet from its TOC (RFC 6716 §3.1, §3.2), None if malformed."""
    if not payload:
        return None
    toc = payload[0]
    code = toc & 0x03
    if code == 0:
        count = 1
    elif code in (1, 2):
        count = 2
    else:  # code 3: the frame count byte follows (RFC 6716 §3.2.5)
        if len(payload) < 2 or not payload[1] & 0x3F:
            return None
        count = payload[1] & 0x3F
    samples = count * _FRAME_SAMPLES[toc >> 3]
    return samples if samples <= MAX_PACKET_SAMPLES else None


class OpusCodec:
    name = "opus"
    sample_rate = 48000
    frame_samples = 960
    timestamp_increment = 960  # RFC 7587 §4.1: the RTP clock is always 48 kHz

    def __init__(self, *, bitrate: int = 24000, cbr: bool = True,
                 capture_rate: int = 48000, complexity: int = COMPLEXITY) -> None:
        if not 0 <= complexity <= 10:
            raise ValueError(f"Opus complexity {complexity!r} outside 0..10")
        options = {"application": "voip", "frame_duration": "20", "vbr": "off" if cbr else "on",
                   "compression_level": str(complexity)}
        self.cbr = cbr
        # a rate libopus does not take is resampled to 48 kHz by the stream, as before
        self.encode_rate = capture_rate if capture_rate in ENCODER_RATES else self.sample_rate
        self._av = AvFrameCodec(
            open_encoder("libopus", self.encode_rate, bit_rate=bitrate, options=options),
            open_decoder("libopus", self.sample_rate),
            self.encode_rate // 50,
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

    @staticmethod
    def payload_duration(payload: bytes) -> int | None:
        return packet_samples(payload)  # RFC 7587 §4.1: the RTP clock is 48 kHz

    def conceal(self) -> bytes:
        if self._last_toc is None:
            return bytes(2 * self.frame_samples)
        pcm = self._av.decode_packet(bytes((self._last_toc,)))
        return pcm if pcm else bytes(2 * self.frame_samples)
