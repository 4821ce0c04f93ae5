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

All transitions live in `_HANDLERS` at the end of this file: {state: {message type: handler}}. A
message that is not in the table for the current state is dropped and counted in
`stats.dropped_unexpected`. The handlers live one module per phase and take the session first:

    discovery.py     Hello, HelloACK (§4.1)
    commit.py        becoming initiator, Commit and contention (§4.2)
    dh_exchange.py   DHPart1, DHPart2, s0 and the session keys (§4.3-§4.5)
    confirm.py       Confirm1, Confirm2, Conf2ACK, then Secure or CacheMismatch (§4.6)
    any_state.py     Error/ErrorACK, Ping/PingACK; GoClear, SASrelay once secure (§5.9-§5.16)
    retransmit.py    timers T1 and T2 and their caps (§6)
    states.py        the state names
"""

from __future__ import annotations

import hmac
import logging
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from . import any_state, commit, confirm, dh_exchange, discovery, packets
from .algorithms import KeyAgreement, new_key_agreement
from .cache import NEVER_EXPIRES, RetainedSecrets, ZrtpCache
from .events import NotSecure, ZrtpEvent
from .hashchain import HashChain, implicit_hash, implicit_mac
from .kdf import SessionKeys
from .negotiation import AlgorithmChoice, our_offer
from .packets import ZRTP_VERSION
from .retransmit import (
    HANDSHAKE_TIMEOUT,
    T1_CAP,
    T1_MAX_RETRANSMISSIONS,
    T2_CAP,
    T2_MAX_RETRANSMISSIONS,
    Retransmission,
)
from .states import State

__all__ = [
    "HANDSHAKE_TIMEOUT", "T1_CAP", "T1_MAX_RETRANSMISSIONS", "T2_CAP", "T2_MAX_RETRANSMISSIONS",
    "ZRTP_VERSION", "State", "ZrtpConfig", "ZrtpSession", "ZrtpStats",
]

log = logging.getLogger(__name__)


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
        self._retransmission: Retransmission | None = None
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
        self._retransmission = Retransmission.on_t1(self._hello_bytes, now, self.config.t1,
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
        if timer is None or not timer.is_due(now):
            return
        if timer.exhausted:
            self._retransmission = None
            if self.state is State.DISCOVERY and self._peer_hello is None:
                self._fail("no ZRTP answer from the peer (Hello not acknowledged)")
            elif self.state is State.FAILED:
                pass  # our Error was never acknowledged; nothing more to do
            else:
                self._fail_with_error(packets.ERROR_PROTOCOL_TIMEOUT, now,
                                      f"timed out waiting for {timer.what}")
            return
        timer.back_off(now)
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


    # --- sending, timers, failure ----------------------------------------------------------------
    def _send(self, message: bytes) -> None:
        self._sequence = (self._sequence + 1) & 0xFFFF
        self._outbox.append(packets.encode_packet(self._sequence, self._ssrc, message))
        self.stats.sent += 1

    def _arm_t2(self, message: bytes, now: float, what: str) -> None:
        """Retransmit `message` on timer T2 until `what` arrives (§6)."""
        self._retransmission = Retransmission.on_t2(message, now, self.config.t2, what)

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
        self._arm_t2(error, now, "ErrorACK")

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

    # --- shared by the handlers ------------------------------------------------------------------
    def _is_duplicate(self, raw: bytes, previous: bytes) -> bool:
        if raw == previous:
            self.stats.duplicates += 1
            return True
        return False

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


def _on_ignored_duplicate(session: ZrtpSession, packet, message, now: float) -> None:
    """A retransmission whose answer is already on its way (we retransmit on our timer)."""
    session.stats.duplicates += 1


_Handler = Callable[..., None]

# The state table: {state: {message type block: handler}}; anything else is dropped and counted.
_HANDLERS: dict[State, dict[bytes, _Handler]] = {
    State.DISCOVERY: {
        b"Hello   ": discovery.on_hello,
        b"HelloACK": discovery.on_hello_ack,
        b"Commit  ": commit.on_commit,
    },
    State.COMMIT_SENT: {
        b"Hello   ": discovery.on_hello_in_handshake,
        b"HelloACK": _on_ignored_duplicate,
        b"Commit  ": commit.on_commit,  # contention (§4.2)
        b"DHPart1 ": dh_exchange.on_dhpart1,
    },
    State.DHPART1_SENT: {
        b"Hello   ": discovery.on_hello_in_handshake,
        b"Commit  ": commit.on_commit_again,
        b"DHPart2 ": dh_exchange.on_dhpart2,
    },
    State.DHPART2_SENT: {
        b"DHPart1 ": _on_ignored_duplicate,
        b"Confirm1": confirm.on_confirm1,
    },
    State.CONFIRM1_SENT: {
        b"DHPart2 ": dh_exchange.on_dhpart2_again,
        b"Confirm2": confirm.on_confirm2,
    },
    State.CONFIRM2_SENT: {
        b"Confirm1": _on_ignored_duplicate,
        b"Conf2ACK": confirm.on_conf2ack,
    },
    State.SECURE: {
        b"Confirm2": confirm.on_confirm2_again,
        b"Confirm1": _on_ignored_duplicate,
        b"Conf2ACK": _on_ignored_duplicate,
        b"GoClear ": any_state.on_goclear,
        b"SASrelay": any_state.on_sasrelay,
    },
    State.FAILED: {},
}
_ANY_STATE: dict[bytes, _Handler] = {
    b"Error   ": any_state.on_error,
    b"ErrorACK": any_state.on_error_ack,
    b"Ping    ": any_state.on_ping,
}
