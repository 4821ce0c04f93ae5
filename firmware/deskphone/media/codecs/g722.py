"""G.722 (ITU-T G.722 SB-ADPCM, 64 kbit/s) through PyAV.

16 kHz audio on an 8 kHz RTP clock: RFC 3551 §4.5.2 keeps G.722's RTP clock at 8000 Hz for
historical reasons, so a 20 ms frame is 320 samples of PCM but advances the timestamp by 160.
"""

from __future__ import annotations

from deskphone.media.codecs._av import AvFrameCodec, open_decoder, open_encoder
from deskphone.media.codecs.conceal import RepeatFadeConcealer


class G722Codec:
    name = "G722"
    sample_rate = encode_rate = 16000
    frame_samples = 320
    timestamp_increment = 160  # RFC 3551 §4.5.2

    def __init__(self) -> None:
        self._av = AvFrameCodec(
            open_encoder("g722", 16000), open_decoder("g722", 16000), self.frame_samples
        )
        self._plc = RepeatFadeConcealer(self.frame_samples)

    def encode(self, pcm: bytes) -> bytes:
        return self._av.encode_frame(pcm)

    def decode(self, payload: bytes) -> bytes:
        pcm = self._av.decode_packet(payload)
        if not payload or len(pcm) != 4 * len(payload):  # one octet = two 16 kHz samples
            return self.conceal()
        self._plc.remember(pcm)
        return pcm

    def conceal(self) -> bytes:
        return self._plc.conceal()

    @staticmethod
    def payload_duration(payload: bytes) -> int | None:
        # 64 kbit/s = 8000 octets/s on the 8000 Hz RTP clock (RFC 3551 §4.5.2)
        return len(payload) or None
