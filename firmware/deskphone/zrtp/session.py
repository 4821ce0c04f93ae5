"""The ZRTP session state machine (RFC 6189 §4), sans-IO.

Theory of operation
-------------------
Both endpoints start by sending Hello (retransmitted on timer T1, §6) and answer the peer's Hello
with HelloACK. An endpoint that holds the peer's Hello and an acknowledgement of its own (HelloACK,
or a Commit, which implies it) becomes a candidate initiator: it prepares its DHPart2 first (hvi
commits to it, §4.4.1.1) and sends Commit on timer T2. Both sides usually do this at once
(linphone does in every call): Commit contention (§4.2) keeps the Commit with the larger hvi and
the other side turns responder. Then:

    initiator                                    responder
    Commit          ------------------------->
                    <-------------------------   DHPart1      (reveals H1)
    DHPart2         ------------------------->   (hvi checked, s0 and keys derived)
                    <-------------------------   Confirm1     (H0 under CFB, MAC)
    Confirm2        ------------------------->
                    <-------------------------   Conf2ACK     -> secure on both sides

Only the initiator retransmits (Commit, DHPart2, Confirm2 on T2); the responder answers a
retransmission by resending its last reply. Every received message is checked against the hash
chain (§9) and the MAC keyed by the preimage the next message reveals, so a forged or tampered
packet is dropped and counted, never acted upon.

All transitions live in `_HANDLERS`: {state: {message type: handler}}. A message that is not in the
table for the current state is dropped and counted in `stats.dropped_unexpected`.
"""

from __future__ import annotations

import enum
import hmac
import logging
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from . import packets
from .algorithms import (
    CIPHERS,
    HASHES,
    InvalidPublicValue,
    KeyAgreement,
    new_key_agreement,
    srtp_profile,
)
from .algorithms import render_sas as render_sas_value
from .cache import NEVER_EXPIRES, RetainedSecrets, ZrtpCache
from .events import CacheMismatch, NotSecure, Secure, Securing, SrtpKeys, ZrtpEvent
from .hashchain import HashChain, implicit_hash, implicit_mac, preimage_matches
from .kdf import SessionKeys, derive_session_keys, kdf_context, s0_dh_mode, total_hash
from .negotiation import (
    AlgorithmChoice,
    NegotiationError,
    check_commit,
    choose,
    match_retained_secret,
    our_offer,
    our_secret_ids,
)

log = logging.getLogger(__name__)

ZRTP_VERSION = "1.10"
T1_CAP = 0.2  # §6: Hello retransmission interval doubles up to 200 ms
T1_MAX_RETRANSMISSIONS = 20
T2_CAP = 1.2  # §6: Commit/DHPart2/Confirm2 interval doubles up to 1200 ms
T2_MAX_RETRANSMISSIONS = 10
HANDSHAKE_TIMEOUT = 30.0  # guard for a peer that acknowledged our Hello and then went silent


@dataclass(frozen=True)
class ZrtpConfig:
    zid: bytes
    client_id: str = "deskphone 0.1"
    hashes: tuple[str, ...] = ("S256", "S384")
    ciphers: tuple[str, ...] = ("AES1", "AES3")
    auth_tags: tuple[str, ...] = ("HS80", "HS32")
    key_agreements: tuple[str, ...] = ("DH3k", "X255", "EC25", "DH2k", "EC38")
    sas_types: tuple[str, ...] = ("B32", "B256")
    t1: float = 0.05
    t2: float = 0.2
    pbx_enrolled: frozenset[bytes] = frozenset()

    def __post_init__(self) -> None:
        if len(self.zid) != 12:
            raise ValueError(f"ZID must be 12 bytes (96 bits, §4.9), got {len(self.zid)}")


@dataclass
class ZrtpStats:
    received: int = 0
    sent: int = 0
    retransmitted: int = 0
    dropped_crc: int = 0
    dropped_malformed: int = 0
    dropped_mac: int = 0
    dropped_hash_chain: int = 0
    dropped_unexpected: int = 0
    dropped_hello_hash: int = 0
    dropped_version: int = 0
    duplicates: int = 0
    commit_contentions: int = 0
    errors_sent: int = 0
    errors_received: int = 0
    goclear_refused: int = 0
    sasrelay_refused: int = 0


class State(enum.Enum):
    IDLE = "idle"
    DISCOVERY = "discovery"  # sending Hello, waiting for the peer's Hello and our HelloACK
    COMMIT_SENT = "commit sent"  # candidate initiator
    DHPART1_SENT = "DHPart1 sent"  # responder
    DHPART2_SENT = "DHPart2 sent"  # initiator
    CONFIRM1_SENT = "Confirm1 sent"  # responder
    CONFIRM2_SENT = "Confirm2 sent"  # initiator
    SECURE = "secure"
    FAILED = "failed"


@dataclass
class _Retransmission:
    message: bytes = field(repr=False)
    deadline: float
    interval: float
    cap: float
    remaining: int
    what: str


class ZrtpSession:
    def __init__(self, config: ZrtpConfig, cache: ZrtpCache, ssrc: int,
                 rng: Callable[[int], bytes] = os.urandom) -> None:
        self.config = config
        self.stats = ZrtpStats()
        self.state = State.IDLE
        self.role: str | None = None
        self._cache = cache
        self._ssrc = ssrc & 0xFFFFFFFF
        self._rng = rng
        self._sequence = int.from_bytes(rng(2), "big") & 0x7FFF
        self._chain = HashChain.generate(rng)
        hello = packets.Hello(
            version=ZRTP_VERSION, client_id=config.client_id, h3=self._chain.h3, zid=config.zid,
            hashes=our_offer("hash", config.hashes), ciphers=our_offer("cipher", config.ciphers),
            auth_tags=our_offer("auth_tag", config.auth_tags),
            key_agreements=our_offer("key_agreement", config.key_agreements),
            sas_types=our_offer("sas", config.sas_types),
        )
        unsigned = hello.encode()
        self._hello = hello
        self._hello_bytes = unsigned[:-8] + implicit_mac(self._chain.h2, unsigned[:-8])
        self._events: deque[ZrtpEvent] = deque()
        self._outbox: list[bytes] = []
        self._retransmission: _Retransmission | None = None
        self._guard_deadline: float | None = None
        self._expected_peer_hello_hash: bytes | None = None
        self._peer_hello: packets.Hello | None = None
        self._peer_hello_bytes = b""
        self._hello_acknowledged = False
        self._choice: AlgorithmChoice | None = None
        self._key_agreements: dict[str, KeyAgreement] = {}
        self._retained: RetainedSecrets | None = None
        self._commit_bytes = b""  # the Commit that won (ours or the peer's)
        self._our_commit: packets.Commit | None = None
        self._peer_commit: packets.Commit | None = None
        self._our_dhpart_bytes = b""
        self._peer_dhpart: packets.DHPart | None = None
        self._peer_dhpart_bytes = b""
        self._keys: SessionKeys | None = None
        self._cache_mismatch = False
        self._local_verified = False
        self._peer_verified = False
        self._peer_cache_expiration = NEVER_EXPIRES
        self._last_reply = b""  # responder: resent when the initiator retransmits
        self._last_peer_message = b""
        self._seen_peer_messages: set[bytes] = set()
        self._finished_event: ZrtpEvent | None = None
        self.peer_zid: bytes | None = None

    # --- public API ------------------------------------------------------------------------------
    def hello_hash(self) -> str:
        """§8.1: "1.10 <hex SHA-256 of our Hello message>" for SDP a=zrtp-hash."""
        return f"{ZRTP_VERSION} {implicit_hash(self._hello_bytes).hex()}"

    def set_peer_hello_hash(self, value: str) -> None:
        """The peer's a=zrtp-hash from SDP (§8.1.1); its Hello must hash to it."""
        version, _, digest = value.strip().partition(" ")
        try:
            expected = bytes.fromhex(digest.strip())
        except ValueError:
            raise ValueError(f"a=zrtp-hash {value!r} is not '<version> <64 hex digits>'") from None
        if len(expected) != 32 or not version:
            raise ValueError(f"a=zrtp-hash {value!r} is not '<version> <64 hex digits>'")
        self._expected_peer_hello_hash = expected
        if self._peer_hello is not None and not hmac.compare_digest(
                implicit_hash(self._peer_hello_bytes), expected):
            self._fail("the peer's Hello does not match its SDP a=zrtp-hash (possible MiTM)")

    def start(self, now: float) -> None:
        if self.state is not State.IDLE:
            return
        self.state = State.DISCOVERY
        self._guard_deadline = now + HANDSHAKE_TIMEOUT
        self._send(self._hello_bytes)
        self._arm(self._hello_bytes, now, self.config.t1, T1_CAP, T1_MAX_RETRANSMISSIONS,
                  "HelloACK")

    def receive_datagram(self, data: bytes, now: float) -> None:
        self.stats.received += 1
        try:
            packet = packets.decode_packet(data)
            message = packets.parse_message(packet.message)
        except packets.BadCrc:
            self.stats.dropped_crc += 1
            return
        except packets.MalformedPacket as exc:
            self.stats.dropped_malformed += 1
            log.debug("dropped malformed ZRTP packet: %s", exc)
            return
        self._dispatch(packet, message, now)

    def datagrams_to_send(self, now: float) -> list[bytes]:
        out, self._outbox = self._outbox, []
        return out

    def get_timer(self) -> float | None:
        deadlines = [self._guard_deadline] if self._guard_deadline is not None else []
        if self._retransmission is not None:
            deadlines.append(self._retransmission.deadline)
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> None:
        if self._guard_deadline is not None and now >= self._guard_deadline:
            self._guard_deadline = None
            if self.state not in (State.SECURE, State.FAILED):
                self._fail_with_error(packets.ERROR_PROTOCOL_TIMEOUT, now,
                                      f"ZRTP handshake did not finish in {HANDSHAKE_TIMEOUT:g} s")
                return
        timer = self._retransmission
        if timer is None or now < timer.deadline:
            return
        if timer.remaining <= 0:
            self._retransmission = None
            if self.state is State.DISCOVERY and self._peer_hello is None:
                self._fail("no ZRTP answer from the peer (Hello not acknowledged)")
            elif self.state is State.FAILED:
                pass  # our Error was never acknowledged; nothing more to do
            else:
                self._fail_with_error(packets.ERROR_PROTOCOL_TIMEOUT, now,
                                      f"timed out waiting for {timer.what}")
            return
        timer.remaining -= 1
        timer.interval = min(2 * timer.interval, timer.cap)
        timer.deadline = now + timer.interval
        self.stats.retransmitted += 1
        self._send(timer.message)

    def next_event(self) -> ZrtpEvent | None:
        return self._events.popleft() if self._events else None

    def confirm_sas(self) -> None:
        """The user compared the SAS and it matched: remember it for key continuity (§4.6.1)."""
        if self.peer_zid is not None and self.state is State.SECURE:
            self._cache.set_verified(self.peer_zid, True)
            self._local_verified = True

    def reject_sas(self) -> None:
        """The SAS did not match (or the user withdrew trust): clear the verified flag."""
        if self.peer_zid is not None and self.state is State.SECURE:
            self._cache.set_verified(self.peer_zid, False)
            self._local_verified = False

    @property
    def is_secure(self) -> bool:
        return self.state is State.SECURE

    @property
    def algorithms(self) -> AlgorithmChoice | None:
        """What the winning Commit chose (§4.1.2), once secure; None before (a candidate
        initiator's own choice may still lose the Commit contention, §4.2). Not secret."""
        return self._choice if self.state is State.SECURE else None

    @property
    def peer_hello_hash_verified(self) -> bool:
        """True once the peer's Hello was accepted against the a=zrtp-hash its SDP carried
        (§8.1.1); False without one (the SDP had none, or no Hello yet)."""
        return self._expected_peer_hello_hash is not None and self._peer_hello is not None

    @property
    def peer_client_id(self) -> str | None:
        """The peer's Hello client identifier (§5.2, e.g. "BZRTPv1.1"), once its Hello arrived."""
        if self._peer_hello is None:
            return None
        return self._peer_hello.client_id.rstrip(" \x00")  # bzrtp pads with NULs, §5.2 spaces

    # --- sending ---------------------------------------------------------------------------------
    def _send(self, message: bytes) -> None:
        self._sequence = (self._sequence + 1) & 0xFFFF
        self._outbox.append(packets.encode_packet(self._sequence, self._ssrc, message))
        self.stats.sent += 1

    def _arm(self, message: bytes, now: float, initial: float, cap: float, count: int,
             what: str) -> None:
        self._retransmission = _Retransmission(message, now + initial, initial, cap, count, what)

    def _stop_timer(self) -> None:
        self._retransmission = None

    def _fail(self, reason: str) -> None:
        if self.state is State.FAILED:
            return
        self.state = State.FAILED
        self._guard_deadline = None
        self._retransmission = None
        log.info("ZRTP failed: %s", reason)
        self._events.append(NotSecure(reason))

    def _fail_with_error(self, code: int, now: float, reason: str) -> None:
        """Send Error (§5.9), retransmitted on T2 until ErrorACK, and report NotSecure."""
        if self.state is State.FAILED:
            return
        self._fail(f"{reason} (sent Error 0x{code:x})")
        error = packets.ErrorMessage(code).encode()
        self.stats.errors_sent += 1
        self._send(error)
        self._arm(error, now, self.config.t2, T2_CAP, T2_MAX_RETRANSMISSIONS, "ErrorACK")

    # --- dispatch --------------------------------------------------------------------------------
    def _dispatch(self, packet: packets.ZrtpPacket, message: packets.Message, now: float) -> None:
        kind = packets.message_type(packet.message)
        handler = _HANDLERS.get(self.state, {}).get(kind) or _ANY_STATE.get(kind)
        if handler is None or self.state is State.IDLE:
            if implicit_hash(packet.message) in self._seen_peer_messages:
                self.stats.duplicates += 1
            else:
                self.stats.dropped_unexpected += 1
            return
        handler(self, packet, message, now)

    def _is_duplicate(self, raw: bytes, previous: bytes) -> bool:
        if raw == previous:
            self.stats.duplicates += 1
            return True
        return False

    # --- discovery (§4.1) ------------------------------------------------------------------------
    def _on_hello(self, packet, hello: packets.Hello, now: float) -> None:
        if self._peer_hello is not None:
            if self._is_duplicate(packet.message, self._peer_hello_bytes):
                self._send(packets.HELLO_ACK.encode())  # our HelloACK was lost
            else:
                self.stats.dropped_unexpected += 1  # a different Hello in the same session
            return
        # §4.1.1 version negotiation: we speak 1.10; a higher version waits for the peer to fall
        # back to ours, a lower one is refused with Error 0x30.
        if hello.version[:3] > ZRTP_VERSION[:3]:
            self.stats.dropped_version += 1
            return
        if hello.version[:3] < ZRTP_VERSION[:3]:
            self._fail_with_error(packets.ERROR_UNSUPPORTED_VERSION, now,
                                  f"peer speaks ZRTP {hello.version!r}, we need 1.1x")
            return
        if hello.zid == self.config.zid:
            self._fail_with_error(packets.ERROR_EQUAL_ZID, now, "peer uses our own ZID")
            return
        if self._expected_peer_hello_hash is not None and not hmac.compare_digest(
                implicit_hash(packet.message), self._expected_peer_hello_hash):
            self.stats.dropped_hello_hash += 1  # §8.1.1: not the Hello the signalling announced
            return
        self._peer_hello = hello
        self._peer_hello_bytes = packet.message
        self._accept(packet.message)
        self.peer_zid = hello.zid
        self._send(packets.HELLO_ACK.encode())
        self._events.append(Securing())
        self._maybe_commit(now)

    def _on_hello_ack(self, packet, message, now: float) -> None:
        if self._hello_acknowledged:
            self.stats.duplicates += 1
            return
        self._hello_acknowledged = True
        self._stop_timer()
        self._maybe_commit(now)

    def _on_hello_in_handshake(self, packet, hello, now: float) -> None:
        if self._is_duplicate(packet.message, self._peer_hello_bytes):
            if self.state is State.COMMIT_SENT or self.role == "responder":
                self._send(packets.HELLO_ACK.encode())
        else:
            self.stats.dropped_unexpected += 1

    def _maybe_commit(self, now: float) -> None:
        if self.state is not State.DISCOVERY or self._peer_hello is None:
            return
        if not self._hello_acknowledged:
            return
        try:
            choice = choose(self._hello, self._peer_hello)
        except NegotiationError as exc:
            self._fail_with_error(exc.error_code, now, str(exc))
            return
        self._choice = choice
        h = HASHES[choice.hash]
        self._retained = self._lookup_retained()
        rs1, rs2 = self._retained_pair()
        rs1_id, rs2_id = our_secret_ids(h, rs1, rs2, True, self._rng)
        key_agreement = self._key_agreement(choice.key_agreement)
        # §4.4.1.1: DHPart2 is built first; hvi = hash(DHPart2 || responder's Hello).
        self._our_dhpart_bytes = self._build_dhpart(2, rs1_id, rs2_id, key_agreement.public_value)
        hvi = h.digest(self._our_dhpart_bytes + self._peer_hello_bytes)[:32]
        commit = packets.Commit(
            h2=self._chain.h2, zid=self.config.zid, hash=choice.hash, cipher=choice.cipher,
            auth_tag=choice.auth_tag, key_agreement=choice.key_agreement,
            sas_type=choice.sas_type, hvi=hvi,
        )
        unsigned = commit.encode()[:-8]
        self._our_commit = commit
        self._commit_bytes = unsigned + implicit_mac(self._chain.h1, unsigned)
        self.state = State.COMMIT_SENT
        self.role = "initiator"
        self._send(self._commit_bytes)
        self._arm(self._commit_bytes, now, self.config.t2, T2_CAP, T2_MAX_RETRANSMISSIONS,
                  "DHPart1")

    # --- Commit and contention (§4.2) ------------------------------------------------------------
    def _on_commit(self, packet, commit: packets.Commit, now: float) -> None:
        peer_hello = self._peer_hello
        if peer_hello is None:
            self.stats.dropped_unexpected += 1  # need the Hello to check the hash chain
            return
        if commit.zid != peer_hello.zid:
            self.stats.dropped_malformed += 1
            return
        # §9: H2 must hash to the Hello's H3, and the Hello's MAC is keyed by H2.
        if not preimage_matches(commit.h2, peer_hello.h3):
            self.stats.dropped_hash_chain += 1
            return
        if not hmac.compare_digest(implicit_mac(commit.h2, self._peer_hello_bytes[:-8]),
                                   peer_hello.mac):
            self.stats.dropped_mac += 1
            return
        if commit.key_agreement == "Prsh":
            self._fail_with_error(packets.ERROR_NO_SHARED_SECRET, now,
                                  "peer asked for Preshared mode; we only do DH mode")
            return
        if commit.key_agreement == "Mult":
            self._fail_with_error(packets.ERROR_KEY_AGREEMENT_UNSUPPORTED, now,
                                  "peer asked for Multistream mode without a DH session")
            return
        self._hello_acknowledged = True  # a Commit implies HelloACK (§4.1)
        if self.state is State.COMMIT_SENT:
            self.stats.commit_contentions += 1
            assert self._our_commit is not None
            # §4.2: both DH mode, the Commit with the larger hvi (as a big unsigned integer) wins.
            if int.from_bytes(self._our_commit.hvi, "big") >= int.from_bytes(commit.hvi, "big"):
                return  # we stay initiator and keep retransmitting our Commit
        try:
            choice = check_commit(commit, self._hello)
        except NegotiationError as exc:
            self._fail_with_error(exc.error_code, now, str(exc))
            return
        self._stop_timer()
        self._choice = choice
        self.role = "responder"
        self._our_commit = None
        self._peer_commit = commit
        self._commit_bytes = packet.message
        self._accept(packet.message)
        h = HASHES[choice.hash]
        self._retained = self._lookup_retained()
        rs1, rs2 = self._retained_pair()
        rs1_id, rs2_id = our_secret_ids(h, rs1, rs2, False, self._rng)
        key_agreement = self._key_agreement(choice.key_agreement)
        self._our_dhpart_bytes = self._build_dhpart(1, rs1_id, rs2_id, key_agreement.public_value)
        self.state = State.DHPART1_SENT
        self._last_reply = self._our_dhpart_bytes
        self._send(self._our_dhpart_bytes)

    def _on_commit_again(self, packet, commit, now: float) -> None:
        """Responder: the initiator retransmitted its Commit, so our DHPart1 was lost."""
        if self._is_duplicate(packet.message, self._commit_bytes):
            self._send(self._last_reply)
        else:
            self.stats.dropped_unexpected += 1

    # --- DH exchange (§4.4.1) --------------------------------------------------------------------
    def _on_dhpart1(self, packet, message, now: float) -> None:
        """Initiator: the responder's DHPart1 answers our Commit."""
        assert self._choice is not None and self._peer_hello is not None
        dhpart = self._parse_dhpart(packet.message)
        if dhpart is None:
            return
        # §9: H1 hashes twice to the responder's H3; its Hello MAC is keyed by H2 = hash(H1).
        if not preimage_matches(dhpart.h1, self._peer_hello.h3, steps=2):
            self.stats.dropped_hash_chain += 1
            return
        if not hmac.compare_digest(
                implicit_mac(implicit_hash(dhpart.h1), self._peer_hello_bytes[:-8]),
                self._peer_hello.mac):
            self.stats.dropped_mac += 1
            return
        if not self._derive_keys(dhpart, packet.message, now,
                                 responder_hello=self._peer_hello_bytes,
                                 dhpart1=packet.message, dhpart2=self._our_dhpart_bytes):
            return
        self.state = State.DHPART2_SENT
        self._send(self._our_dhpart_bytes)
        self._arm(self._our_dhpart_bytes, now, self.config.t2, T2_CAP, T2_MAX_RETRANSMISSIONS,
                  "Confirm1")

    def _on_dhpart2(self, packet, message, now: float) -> None:
        """Responder: the initiator's DHPart2; hvi must match what its Commit promised."""
        assert self._choice is not None and self._peer_commit is not None
        dhpart = self._parse_dhpart(packet.message)
        if dhpart is None:
            return
        if not preimage_matches(dhpart.h1, self._peer_commit.h2):
            self.stats.dropped_hash_chain += 1
            return
        if not hmac.compare_digest(implicit_mac(dhpart.h1, self._commit_bytes[:-8]),
                                   self._peer_commit.mac):
            self.stats.dropped_mac += 1
            return
        h = HASHES[self._choice.hash]
        # §4.4.1.1: hvi = hash(initiator's DHPart2 || responder's Hello), truncated to 256 bits.
        hvi = h.digest(packet.message + self._hello_bytes)[:32]
        if not hmac.compare_digest(hvi, self._peer_commit.hvi):
            self._fail_with_error(packets.ERROR_HVI_MISMATCH, now,
                                  "DHPart2 does not match the hvi of the peer's Commit")
            return
        if not self._derive_keys(dhpart, packet.message, now, responder_hello=self._hello_bytes,
                                 dhpart1=self._our_dhpart_bytes, dhpart2=packet.message):
            return
        assert self._keys is not None
        confirm1 = self._build_confirm(1, self._keys.mac_key_responder,
                                       self._keys.zrtp_key_responder)
        self.state = State.CONFIRM1_SENT
        self._last_reply = confirm1
        self._send(confirm1)

    def _on_dhpart2_again(self, packet, message, now: float) -> None:
        if self._is_duplicate(packet.message, self._peer_dhpart_bytes):
            self._send(self._last_reply)  # our Confirm1 was lost
        else:
            self.stats.dropped_unexpected += 1

    def _parse_dhpart(self, raw: bytes) -> packets.DHPart | None:
        assert self._choice is not None
        try:
            return packets.DHPart.parse(raw, self._choice.key_agreement)
        except packets.MalformedPacket:
            self.stats.dropped_malformed += 1
            return None

    def _derive_keys(self, dhpart: packets.DHPart, raw: bytes, now: float, *,
                     responder_hello: bytes, dhpart1: bytes, dhpart2: bytes) -> bool:
        """DHResult, s1 (§4.3), total_hash and s0 (§4.4.1.4), then every key (§4.5)."""
        assert self._choice is not None and self.peer_zid is not None
        choice = self._choice
        h = HASHES[choice.hash]
        try:
            dh_result = self._key_agreement(choice.key_agreement).shared_secret(
                dhpart.public_value)
        except InvalidPublicValue as exc:
            self._fail_with_error(packets.ERROR_BAD_PUBLIC_VALUE, now, str(exc))
            return False
        is_initiator = self.role == "initiator"
        rs1, rs2 = self._retained_pair()
        s1 = match_retained_secret(h, rs1, rs2, dhpart.rs1_id, dhpart.rs2_id, is_initiator)
        # §4.3.2: we hold a secret for this ZID and none matched: possible MiTM.
        self._cache_mismatch = s1 is None and (rs1 is not None or rs2 is not None)
        self._local_verified = bool(self._retained and self._retained.verified) and s1 is not None
        zid_i, zid_r = ((self.config.zid, self.peer_zid) if is_initiator
                        else (self.peer_zid, self.config.zid))
        total = total_hash(h, responder_hello, self._commit_bytes, dhpart1, dhpart2)
        s0 = s0_dh_mode(h, dh_result, zid_i, zid_r, total, s1, None, None)
        self._keys = derive_session_keys(choice.hash, choice.cipher, s0,
                                         kdf_context(zid_i, zid_r, total))
        self._peer_dhpart = dhpart
        self._peer_dhpart_bytes = raw
        self._accept(raw)
        self._stop_timer()
        return True

    # --- Confirm (§4.6, §5.7) --------------------------------------------------------------------
    def _build_confirm(self, part: int, mac_key: bytes, zrtp_key: bytes) -> bytes:
        assert self._choice is not None
        plaintext = packets.ConfirmPlaintext(
            h0=self._chain.h0, sas_verified=self._local_verified and not self._cache_mismatch,
            cache_expiration=NEVER_EXPIRES,
        ).encode()
        iv = self._rng(16)
        encrypted = CIPHERS[self._choice.cipher].cfb_encrypt(zrtp_key, iv, plaintext)
        confirm_mac = HASHES[self._choice.hash].hmac(mac_key, encrypted)[:8]
        return packets.Confirm(part, confirm_mac, iv, encrypted).encode()

    def _open_confirm(self, confirm: packets.Confirm, mac_key: bytes,
                      zrtp_key: bytes) -> packets.ConfirmPlaintext | None:
        assert self._choice is not None and self._peer_dhpart is not None
        expected_mac = HASHES[self._choice.hash].hmac(mac_key, confirm.encrypted)[:8]
        if not hmac.compare_digest(expected_mac, confirm.confirm_mac):
            self.stats.dropped_mac += 1
            return None
        try:
            plaintext = packets.ConfirmPlaintext.parse(
                CIPHERS[self._choice.cipher].cfb_decrypt(zrtp_key, confirm.iv, confirm.encrypted))
        except packets.MalformedPacket:
            self.stats.dropped_malformed += 1
            return None
        # §9: H0 hashes to the peer's DHPart H1, and that DHPart's MAC is keyed by H0.
        if not preimage_matches(plaintext.h0, self._peer_dhpart.h1):
            self.stats.dropped_hash_chain += 1
            return None
        if not hmac.compare_digest(implicit_mac(plaintext.h0, self._peer_dhpart_bytes[:-8]),
                                   self._peer_dhpart.mac):
            self.stats.dropped_mac += 1
            return None
        self._peer_verified = plaintext.sas_verified
        self._peer_cache_expiration = plaintext.cache_expiration
        return plaintext

    def _on_confirm1(self, packet, confirm: packets.Confirm, now: float) -> None:
        assert self._keys is not None
        if self._open_confirm(confirm, self._keys.mac_key_responder,
                              self._keys.zrtp_key_responder) is None:
            return
        self._accept(packet.message)
        confirm2 = self._build_confirm(2, self._keys.mac_key_initiator,
                                       self._keys.zrtp_key_initiator)
        self.state = State.CONFIRM2_SENT
        self._send(confirm2)
        self._arm(confirm2, now, self.config.t2, T2_CAP, T2_MAX_RETRANSMISSIONS, "Conf2ACK")

    def _on_confirm2(self, packet, confirm: packets.Confirm, now: float) -> None:
        assert self._keys is not None
        if self._open_confirm(confirm, self._keys.mac_key_initiator,
                              self._keys.zrtp_key_initiator) is None:
            return
        self._accept(packet.message)
        self._last_reply = packets.CONF2_ACK.encode()
        self._send(self._last_reply)
        self._finish()

    def _on_confirm2_again(self, packet, message, now: float) -> None:
        if self.role == "responder" and self._is_duplicate(packet.message,
                                                            self._last_peer_message):
            self._send(self._last_reply)  # our Conf2ACK was lost
        else:
            self.stats.dropped_unexpected += 1

    def _on_conf2ack(self, packet, message, now: float) -> None:
        self._stop_timer()
        self._finish()

    def _finish(self) -> None:
        assert self._keys is not None and self._choice is not None and self.peer_zid is not None
        keys, choice = self._keys, self._choice
        self.state = State.SECURE
        self._guard_deadline = None
        self._stop_timer()
        # §4.6.1: rs2 = rs1, rs1 = KDF(s0, "retained secret"); keep the shorter expiry of the two.
        self._cache.store_secret(self.peer_zid, keys.new_rs1, verified=self._local_verified,
                                 expiration_interval=self._peer_cache_expiration)
        if self.role == "initiator":
            local = (keys.srtp_key_initiator, keys.srtp_salt_initiator)
            remote = (keys.srtp_key_responder, keys.srtp_salt_responder)
        else:
            local = (keys.srtp_key_responder, keys.srtp_salt_responder)
            remote = (keys.srtp_key_initiator, keys.srtp_salt_initiator)
        srtp = SrtpKeys(srtp_profile(choice.cipher, choice.auth_tag), local[0], local[1],
                        remote[0], remote[1])
        sas = keys.render_sas(choice.sas_type)
        if self._cache_mismatch:
            log.warning("ZRTP retained secret mismatch with peer %s: SAS must be verified",
                        self.peer_zid.hex())
            self._events.append(CacheMismatch(
                sas=sas, sas_type=choice.sas_type, srtp=srtp, cipher=choice.cipher,
                hash=choice.hash, auth_tag=choice.auth_tag, key_agreement=choice.key_agreement,
                peer_zid=self.peer_zid))
        else:
            self._events.append(Secure(
                sas=sas, sas_type=choice.sas_type,
                verified=self._local_verified and self._peer_verified, srtp=srtp,
                cipher=choice.cipher, hash=choice.hash, auth_tag=choice.auth_tag,
                key_agreement=choice.key_agreement, peer_zid=self.peer_zid))
        self._finished_event = self._events[-1]

    # --- in any state: Error, Ping, GoClear, SASrelay --------------------------------------------
    def _on_error(self, packet, error: packets.ErrorMessage, now: float) -> None:
        self.stats.errors_received += 1
        self._send(packets.ERROR_ACK.encode())
        if self.state is State.SECURE:
            return  # an unauthenticated Error cannot tear down keys already confirmed
        self._fail(f"peer sent ZRTP Error 0x{error.code:x} ({error.description})")

    def _on_error_ack(self, packet, message, now: float) -> None:
        if self.state is State.FAILED:
            self._stop_timer()
        else:
            self.stats.dropped_unexpected += 1

    def _on_ping(self, packet, ping: packets.Ping, now: float) -> None:
        ack = packets.PingAck(ZRTP_VERSION, implicit_hash(self.config.zid)[:8],
                              ping.endpoint_hash, packet.ssrc)
        self._send(ack.encode())

    def _peer_keys(self) -> tuple[bytes, bytes]:
        """(mac key, zrtp key) the peer uses for what it sends."""
        assert self._keys is not None
        if self.role == "initiator":
            return self._keys.mac_key_responder, self._keys.zrtp_key_responder
        return self._keys.mac_key_initiator, self._keys.zrtp_key_initiator

    def _on_goclear(self, packet, goclear: packets.GoClear, now: float) -> None:
        """§5.11: we never go clear. An authentic GoClear gets Error 0x100; SRTP continues."""
        assert self._choice is not None
        mac_key, _ = self._peer_keys()
        expected = HASHES[self._choice.hash].hmac(mac_key, b"GoClear ")[:8]
        if not hmac.compare_digest(expected, goclear.clear_mac):
            self.stats.dropped_mac += 1
            return
        self.stats.goclear_refused += 1
        self.stats.errors_sent += 1
        self._send(packets.ErrorMessage(packets.ERROR_GOCLEAR_NOT_ALLOWED).encode())

    def _on_sasrelay(self, packet, relay: packets.SasRelay, now: float) -> None:
        """§5.13 / §7.3: a PBX relays the SAS of its other leg; only from an enrolled PBX."""
        assert self._choice is not None and self.peer_zid is not None
        mac_key, zrtp_key = self._peer_keys()
        expected = HASHES[self._choice.hash].hmac(mac_key, relay.encrypted)[:8]
        if not hmac.compare_digest(expected, relay.mac):
            self.stats.dropped_mac += 1
            return
        peer_is_pbx = bool(self._peer_hello and self._peer_hello.mitm)
        if not peer_is_pbx or self.peer_zid not in self.config.pbx_enrolled:
            self.stats.sasrelay_refused += 1
            self.stats.errors_sent += 1
            self._send(packets.ErrorMessage(packets.ERROR_UNTRUSTED_MITM).encode())
            return
        plaintext = CIPHERS[self._choice.cipher].cfb_decrypt(zrtp_key, relay.iv, relay.encrypted)
        if len(plaintext) < 40:
            self.stats.dropped_malformed += 1
            return
        scheme = packets._algorithm_name(plaintext[4:8])
        trusted_sas_hash = plaintext[8:40]
        self._send(packets.RELAY_ACK.encode())
        if scheme not in ("B32", "B256") or not any(trusted_sas_hash):
            return  # an all-zero hash means "no relayed SAS" (§5.13)
        previous = self._finished_event
        if isinstance(previous, Secure | CacheMismatch):
            self._events.append(Secure(
                sas=render_sas_value(scheme, trusted_sas_hash[:4]), sas_type=scheme,
                verified=False, srtp=previous.srtp, cipher=previous.cipher, hash=previous.hash,
                auth_tag=previous.auth_tag, key_agreement=previous.key_agreement,
                peer_zid=previous.peer_zid))

    def _on_ignored_duplicate(self, packet, message, now: float) -> None:
        """A retransmission whose answer is already on its way (we retransmit on our timer)."""
        self.stats.duplicates += 1

    # --- helpers ---------------------------------------------------------------------------------
    def _accept(self, raw: bytes) -> None:
        """Remember a processed peer message: a later copy is a duplicate, not an attack."""
        self._last_peer_message = raw
        self._seen_peer_messages.add(implicit_hash(raw))

    def _lookup_retained(self) -> RetainedSecrets | None:
        assert self.peer_zid is not None
        return self._cache.lookup(self.peer_zid)

    def _retained_pair(self) -> tuple[bytes | None, bytes | None]:
        if self._retained is None:
            return None, None
        return self._retained.rs1, self._retained.rs2

    def _key_agreement(self, name: str) -> KeyAgreement:
        if name not in self._key_agreements:
            self._key_agreements[name] = new_key_agreement(name)
        return self._key_agreements[name]

    def _build_dhpart(self, part: int, rs1_id: bytes, rs2_id: bytes, public_value: bytes) -> bytes:
        unsigned = packets.DHPart(
            part=part, h1=self._chain.h1, rs1_id=rs1_id, rs2_id=rs2_id,
            auxsecret_id=self._rng(8), pbxsecret_id=self._rng(8), public_value=public_value,
        ).encode()[:-8]
        return unsigned + implicit_mac(self._chain.h0, unsigned)


_Handler = Callable[..., None]

# The state table: {state: {message type block: handler}}; anything else is dropped and counted.
_HANDLERS: dict[State, dict[bytes, _Handler]] = {
    State.DISCOVERY: {
        b"Hello   ": ZrtpSession._on_hello,
        b"HelloACK": ZrtpSession._on_hello_ack,
        b"Commit  ": ZrtpSession._on_commit,
    },
    State.COMMIT_SENT: {
        b"Hello   ": ZrtpSession._on_hello_in_handshake,
        b"HelloACK": ZrtpSession._on_ignored_duplicate,
        b"Commit  ": ZrtpSession._on_commit,  # contention (§4.2)
        b"DHPart1 ": ZrtpSession._on_dhpart1,
    },
    State.DHPART1_SENT: {
        b"Hello   ": ZrtpSession._on_hello_in_handshake,
        b"Commit  ": ZrtpSession._on_commit_again,
        b"DHPart2 ": ZrtpSession._on_dhpart2,
    },
    State.DHPART2_SENT: {
        b"DHPart1 ": ZrtpSession._on_ignored_duplicate,
        b"Confirm1": ZrtpSession._on_confirm1,
    },
    State.CONFIRM1_SENT: {
        b"DHPart2 ": ZrtpSession._on_dhpart2_again,
        b"Confirm2": ZrtpSession._on_confirm2,
    },
    State.CONFIRM2_SENT: {
        b"Confirm1": ZrtpSession._on_ignored_duplicate,
        b"Conf2ACK": ZrtpSession._on_conf2ack,
    },
    State.SECURE: {
        b"Confirm2": ZrtpSession._on_confirm2_again,
        b"Confirm1": ZrtpSession._on_ignored_duplicate,
        b"Conf2ACK": ZrtpSession._on_ignored_duplicate,
        b"GoClear ": ZrtpSession._on_goclear,
        b"SASrelay": ZrtpSession._on_sasrelay,
    },
    State.FAILED: {},
}
_ANY_STATE: dict[bytes, _Handler] = {
    b"Error   ": ZrtpSession._on_error,
    b"ErrorACK": ZrtpSession._on_error_ack,
    b"Ping    ": ZrtpSession._on_ping,
}
