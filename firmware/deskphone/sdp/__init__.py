"""SDP: RFC 4566 session descriptions and RFC 3264 offer/answer (sans-IO)."""

from deskphone.sdp.codecs import SUPPORTED_CODECS, CodecChoice
from deskphone.sdp.errors import SdpError
from deskphone.sdp.ice import IceAttributes
from deskphone.sdp.offer_answer import LocalMedia, Negotiated, OfferAnswer
from deskphone.sdp.session import (
    Attribute,
    Connection,
    MediaDescription,
    Origin,
    RtpMap,
    SessionDescription,
)

__all__ = [
    "SUPPORTED_CODECS",
    "Attribute",
    "CodecChoice",
    "IceAttributes",
    "Connection",
    "LocalMedia",
    "MediaDescription",
    "Negotiated",
    "OfferAnswer",
    "Origin",
    "RtpMap",
    "SdpError",
    "SessionDescription",
]
