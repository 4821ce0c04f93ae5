"""ZRTP's asyncio adapter, the counterpart of `SipEndpoint`: one per call.

The ZRTP session (deskphone.zrtp, sans-IO) is driven only from here: packets in, packets out,
its timer (RFC 6189 §6: T1/T2 retransmissions) armed on the loop. The driver is the media
stream's encryption plug-in (`MediaStream.set_encryption`, baresip's `menc`): the stream hands
it the ZRTP packets it demultiplexes and the driver keys the stream itself, so media and ZRTP
never pass through the call layer. What came of it goes to `events`, an asyncio queue the call
layer reads exactly as it reads `SipEndpoint.events`:

    Securing                 the peer's Hello: key agreement is under way
    SrtpReceiveReady         initiator, Confirm1 verified: the stream decrypts the responder's
                             SRTP (sends nothing yet); the first packet that authenticates is
                             handed back to the session as an implicit Conf2ACK (RFC 6189 §4.6,
                             §5.8), so a lost Conf2ACK costs no retransmission rounds
    Secure / CacheMismatch   SRTP keys already set on the stream and audio turned on (SRTP
                             first: only then may audio flow, RFC 6189 §4.6)
    NotSecure                ZRTP failed: the stream is let into the clear only when NOT SECURE
                             calls are allowed; otherwise it stays mute and the call layer ends
                             the call

When ZRTP starts is the call layer's word (`start`, or `start_on_first_packet` for a callee
whose ACK may still be on its way): RFC 6189 §4.1, Hellos sent before the peer has our SDP would
exhaust their retransmissions (§6) before it listens.

Early ZRTP. A caller's media port is open before the answer names the peer's address, so ZRTP
from anyone reaches it while the far phone rings. Packets that come before `start` are kept with
their source and replayed only if that source is the address the answer signalled: an off-path
host that guesses the port cannot plant a Hello (which would fail the a=zrtp-hash check of
RFC 6189 §8.1.1 and end the handshake) or anything else. Dropped ones are counted
(`dropped_early_foreign` in `info`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from deskphone.media.encryption import EncryptableStream
from deskphone.zrtp import events as zev
from deskphone.zrtp.session import ZrtpSession

log = logging.getLogger(__name__)

EARLY_ZRTP_PACKETS = 8  # ZRTP packets kept while the answer is on its way


class ZrtpDriver:
    def __init__(self, session: ZrtpSession, clock: Callable[[], float],
                 loop: asyncio.AbstractEventLoop, *, allow_cleartext: bool) -> None:
        self.session = session
        self.events: asyncio.Queue[zev.ZrtpEvent] = asyncio.Queue()
        self._clock = clock
        self._loop = loop
        self._allow_cleartext = allow_cleartext
        self._stream: EncryptableStream | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._started = False
        self._start_on_packet = False
        self._early: list[tuple[bytes, tuple[str, int]]] = []
        self._dropped_early_foreign = 0
        self._closed = False

    # -- the media-encryption seam (deskphone.media.encryption.MediaEncryption) -----------------

    def attach(self, stream: EncryptableStream) -> None:
        self._stream = stream

    def receive(self, packet: bytes, source: tuple[str, int]) -> None:
        if self._closed:
            return
        if not self._started:
            remote = self._stream.remote if self._stream is not None else None
            if remote is not None and source != remote:
                self._drop_early_foreign()
                return
            if self._start_on_packet:
                # We answered and the caller is already speaking ZRTP: it has our answer.
                self._early.append((packet, source))
                self.start()
                return
            # The peer started ZRTP as soon as it sent its answer, which can reach us after its
            # Hello: keep a few packets rather than wait for a retransmission (RFC 6189 §6:
            # T1 = 50 ms). Their source is checked at `start` (module docstring), and the Hello
            # against the answer's a=zrtp-hash all the same.
            if len(self._early) < EARLY_ZRTP_PACKETS:
                self._early.append((packet, source))
            return
        self.session.receive_datagram(packet, self._clock())
        self._pump()

    def _drop_early_foreign(self) -> None:
        self._dropped_early_foreign += 1
        log.warning("ZRTP packet before the answer from an address the signalling did not name:"
                    " dropped")

    # -- commands from the call layer ------------------------------------------------------------

    def authenticates(self, packet: bytes) -> bool:
        """The stream asks before latching onto a new source (symmetric RTP, issue 14 item 3):
        True only for the Hello the peer's SDP announced (RFC 6189 §8.1.1)."""
        return self.session.is_announced_hello(packet)

    def hello_hash(self) -> str:
        return self.session.hello_hash()

    def set_peer_hello_hash(self, value: str) -> None:
        """RFC 6189 §8.1: the peer's Hello must hash to what its SDP promised (ValueError when
        the a=zrtp-hash is unusable)."""
        self.session.set_peer_hello_hash(value)

    def start(self) -> None:
        """Begin ZRTP (RFC 6189 §4.1): the peer is known to have our SDP."""
        if self._started or self._closed:
            return
        self.session.start(self._clock())
        self._started = True
        early, self._early = self._early, []
        remote = self._stream.remote if self._stream is not None else None
        for packet, source in early:  # a Hello that overtook the answer or the ACK
            if source != remote:
                self._drop_early_foreign()  # not from the peer the answer named
                continue
            self.session.receive_datagram(packet, self._clock())
        self._pump()

    def start_on_first_packet(self) -> None:
        """Callee: our 200 OK is out; the caller's first ZRTP packet proves it arrived."""
        self._start_on_packet = True

    def confirm_sas(self) -> None:
        self.session.confirm_sas()

    def reject_sas(self) -> None:
        self.session.reject_sas()

    def cache_write_failed(self, reason: str) -> None:
        """The retained-secret store could not write: the session ends its handshake."""
        self.session.cache_write_failed(reason)
        self._pump()

    def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def info(self) -> dict[str, Any]:
        """What `state` reports of ZRTP: names and counters only, never keys or the SAS."""
        session = self.session
        chosen = session.algorithms
        names = ("hash", "cipher", "auth_tag", "key_agreement", "sas_type")
        return {"state": session.state.name.lower(), "role": session.role,
                "peer_client_id": session.peer_client_id,
                "peer_hello_hash_verified": session.peer_hello_hash_verified,
                "dropped_early_foreign": self._dropped_early_foreign,
                **{name: getattr(chosen, name, None) if chosen else None for name in names},
                **_counters(session)}

    # -- pumping ------------------------------------------------------------------------------

    def _pump(self) -> None:
        stream = self._stream
        if self._closed or stream is None:
            return
        for packet in self.session.datagrams_to_send(self._clock()):
            stream.send_zrtp(packet)
        while (event := self.session.next_event()) is not None:
            if isinstance(event, zev.SrtpReceiveReady):
                stream.accept_srtp(event.srtp, self._peer_srtp_authenticated)
            elif isinstance(event, zev.Secure | zev.CacheMismatch):
                # SRTP first: only then may audio flow. The keys of a SrtpReceiveReady keep
                # their context (RFC 3711 §9.1, media/srtp_keying.py).
                stream.set_srtp(event.srtp)
                stream.enable_audio(True)
            elif isinstance(event, zev.NotSecure) and self._allow_cleartext:
                stream.allow_cleartext()
                stream.enable_audio(True)
            self.events.put_nowait(event)
        self._arm_timer()

    def _peer_srtp_authenticated(self) -> None:
        """The stream: the responder's SRTP authenticated under the new keys (§4.6, §5.8)."""
        if not self._closed:
            self.session.peer_srtp_authenticated(self._clock())
            self._pump()

    def _arm_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        when = self.session.get_timer()
        if when is not None and not self._closed:
            self._timer = self._loop.call_later(max(0.0, when - self._clock()), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if not self._closed:
            self.session.handle_timer(self._clock())
            self._pump()


def _counters(session: ZrtpSession) -> dict[str, Any]:
    return dataclasses.asdict(session.stats)
