"""Thin helpers over PyAV shared by the G.722 and Opus codecs (imported lazily)."""

from __future__ import annotations

from typing import Any


def open_encoder(name: str, rate: int, *, bit_rate: int = 0, options: dict[str, str] | None = None):
    import av

    ctx: Any = av.CodecContext.create(name, "w")
    ctx.sample_rate = rate
    ctx.layout = "mono"
    ctx.format = "s16"
    if bit_rate:
        ctx.bit_rate = bit_rate
    if options:
        ctx.options = options
    ctx.open()
    return ctx


def open_decoder(name: str, rate: int):
    import av

    ctx: Any = av.CodecContext.create(name, "r")
    ctx.sample_rate = rate
    ctx.layout = "mono"
    ctx.open()
    return ctx


class AvFrameCodec:
    """Encodes exactly one packet per 20 ms frame and decodes packets to S16LE mono."""

    def __init__(self, encoder: Any, decoder: Any, frame_samples: int) -> None:
        from av.audio.frame import AudioFrame
        from av.packet import Packet

        self._encoder = encoder
        self._decoder = decoder
        self._frame_cls = AudioFrame
        self._packet_cls = Packet
        self._frame_samples = frame_samples
        self._pts = 0
        self.decode_errors = 0

    def encode_frame(self, pcm: bytes) -> bytes:
        frame = self._frame_cls(format="s16", layout="mono", samples=self._frame_samples)
        frame.sample_rate = self._encoder.sample_rate
        frame.planes[0].update(pcm)
        frame.pts = self._pts
        self._pts += self._frame_samples
        return b"".join(bytes(p) for p in self._encoder.encode(frame))

    def decode_packet(self, payload: bytes) -> bytes:
        import av

        if not payload:
            return b""
        try:
            frames = self._decoder.decode(self._packet_cls(payload))
        except (av.FFmpegError, ValueError):
            self.decode_errors += 1
            return b""
        return b"".join(_s16_bytes(f) if f.format.name == "s16" else _to_s16(f) for f in frames)


def _s16_bytes(frame: Any) -> bytes:
    """The samples of an interleaved S16 frame, read straight from its plane.

    Not `frame.to_ndarray()`: that imports numpy on first use, and the first decode runs inside
    a 20 ms tick — a ~130 ms stall on a desktop core (far more on a Pi) that holds up the send
    path too, so the peer's jitter buffer learns a fake 200 ms spread (see media/bench.py). The
    plane is padded (libopus: 5760 samples), so only `samples * channels` values are taken."""
    size = 2 * frame.samples * len(frame.layout.channels)
    return bytes(memoryview(frame.planes[0])[:size])


def _to_s16(frame: Any) -> bytes:
    """Any other sample format, via numpy. FFmpeg's libopus and g722 decoders give s16 mono, so
    this fallback (and its first-use numpy import) is not on the path of a call."""
    import numpy as np

    data = frame.to_ndarray().reshape(-1)
    if data.dtype.kind == "f":
        data = np.clip(data * 32768.0, -32768, 32767)
    return data.astype("<i2").tobytes()
