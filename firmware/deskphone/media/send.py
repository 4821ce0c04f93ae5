"""The send side of one media stream: the next RTP packet from one captured 20 ms frame.

    handset capture -> resample (device rate -> codec rate) -> encode -> RTP header
    or, while a key is pressed, its telephone-event packet (RFC 4733, dtmf.py) instead

The sender owns our RTP identity and timeline: the SSRC (RFC 3550 §8) and random starts of the
sequence number and timestamp (RFC 3550 §5.1), the marker on the first packet of a talkspurt
(RFC 3551 §4.1), the resampler to the codec and the DTMF sender. The timestamp advances one frame
at every tick, sent or not, so a talkspurt after silence or hold keeps the media clock.

It builds plain RTP and sends nothing: the stream (stream.py) decides whether media may go out
(secure, direction), protects the packet with SRTP, tells RTCP what was sent and hands the packet
to its transport (transport.py). The codec is the stream's; it hands the sender the one in use.
"""

from __future__ import annotations

import random
from typing import NamedTuple

from deskphone.media.codecs import Codec
from deskphone.media.dtmf import DtmfSender
from deskphone.media.resample import Resampler
from deskphone.media.rtp import FIXED_HEADER, PLAIN_V2


class RtpOut(NamedTuple):
    packet: bytes  # plain RTP, header and payload
    timestamp: int
    payload_length: int  # what RTCP's octet count adds (RFC 3550 §6.4.1)


class RtpSender:
    def __init__(self) -> None:
        self.ssrc = random.SystemRandom().getrandbits(32)
        self.sequence = random.SystemRandom().getrandbits(16)  # RFC 3550 §5.1: random start
        self._timestamp = random.SystemRandom().getrandbits(32)
        self._marker_pending = True
        self._codec: Codec | None = None
        self._payload_type = 0
        self._to_codec: Resampler | None = None  # None: device and codec share the rate
        self.dtmf_pt: int | None = None
        self._dtmf_sender: DtmfSender | None = None

    def use_codec(self, codec: Codec, payload_type: int, device_rate: int) -> None:
        """Encode with `codec` under `payload_type`, from frames captured at `device_rate`."""
        self._codec = codec
        self._payload_type = payload_type
        self.use_device_rate(device_rate)

    def use_device_rate(self, device_rate: int) -> None:
        """Frames are captured at `device_rate` from now on (a conference's mixer, the handset)."""
        if self._codec is None:
            return
        rate = self._codec.encode_rate
        self._to_codec = Resampler(device_rate, rate) if device_rate != rate else None

    def use_dtmf(self, payload_type: int | None, clock_rate: int) -> None:
        """The negotiated telephone-event payload type (RFC 4733 §7), None: none agreed."""
        self.dtmf_pt = payload_type
        if payload_type is not None:
            self._dtmf_sender = DtmfSender(clock_rate)

    def press(self, key: str) -> None:
        if self._dtmf_sender is None:
            raise RuntimeError("DTMF requested but no telephone-event payload type was negotiated")
        self._dtmf_sender.press(key)

    def talkspurt(self) -> None:
        """The next audio packet starts a talkspurt (RFC 3551 §4.1: it carries the marker)."""
        self._marker_pending = True

    def next_packet(self, captured: bytes, sending: bool) -> RtpOut | None:
        """This tick's packet, or None when nothing may be sent (the timeline still advances)."""
        codec = self._codec
        assert codec is not None  # the stream ticks the sender only once a codec is agreed
        timestamp = self._timestamp
        self._timestamp = (timestamp + codec.timestamp_increment) & 0xFFFFFFFF
        if not sending:
            self._marker_pending = True
            return None
        sender = self._dtmf_sender
        dtmf = None
        if sender is not None and sender.busy:
            dtmf = sender.next_packet(timestamp, codec.timestamp_increment)
        if dtmf is not None and self.dtmf_pt is not None:
            second = (0x80 if dtmf.marker else 0) | self.dtmf_pt
            timestamp, payload = dtmf.timestamp, dtmf.payload
        else:
            if self._to_codec is not None:
                captured = self._to_codec.process(captured)
            payload = codec.encode(captured)
            # RFC 3551 §4.1: marker on the first packet of a talkspurt
            second = (0x80 if self._marker_pending else 0) | self._payload_type
            self._marker_pending = False
        packet = FIXED_HEADER.pack(PLAIN_V2, second, self.sequence, timestamp, self.ssrc) + payload
        self.sequence = (self.sequence + 1) & 0xFFFF
        return RtpOut(packet, timestamp, len(payload))
