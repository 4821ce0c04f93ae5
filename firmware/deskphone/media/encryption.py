"""The media stream's encryption seam (baresip's `menc`): what a plug-in such as ZRTP sees.

The stream hands its plug-in every key-management packet it demultiplexes (ZRTP, RFC 7983 §7);
the plug-in keys that stream through the commands of `EncryptableStream` and tells its
owner, not the stream, how that went (calls/zrtp_driver.py). Neither side imports the other:
stream.py implements `EncryptableStream`, the call layer's driver implements `MediaEncryption`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from deskphone.media.srtp import SrtpKeysLike


class EncryptableStream(Protocol):
    """The media stream as its encryption plug-in commands it."""

    @property
    def remote(self) -> tuple[str, int] | None:
        """The signalled peer (RFC 4961 symmetric RTP), None before the offer/answer named it."""

    def set_srtp(self, keys: SrtpKeysLike) -> None: ...
    def accept_srtp(self, keys: SrtpKeysLike, on_authenticated: Callable[[], None]) -> None: ...
    def enable_audio(self, on: bool) -> None: ...
    def allow_cleartext(self) -> None: ...
    def send_zrtp(self, packet: bytes) -> None: ...


class MediaEncryption(Protocol):
    """The stream's media-encryption plug-in, e.g. the call layer's ZRTP driver. The stream hands
    it every key-management packet it demultiplexes (ZRTP, RFC 7983) with its source; the plug-in
    keys the stream it is attached to through `set_srtp`, `accept_srtp`, `enable_audio`,
    `allow_cleartext` and `send_zrtp`, and tells its owner, not the stream, how that went."""

    def attach(self, stream: EncryptableStream) -> None: ...
    def receive(self, packet: bytes, source: tuple[str, int]) -> None: ...
    # Whether a key-management packet from a source other than the peer's signalled address
    # proves it comes from the peer (ZRTP: the Hello its SDP's a=zrtp-hash announced): the only
    # packet, before SRTP keys exist, the stream may latch onto (symmetric RTP, receive.py).
    def authenticates(self, packet: bytes) -> bool: ...
