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

All transitions live in `TRANSITIONS` at the end of this file, h11-style: {state: {message type:
(handler, next state)}}, so the table says where each message leads. A handler checks and computes
on the handshake state (`handshake.Handshake`, a dataclass it is handed) and returns a `Step`: the
next state, which must be the one the table names (or FAILED, or None to stay put when it drops a
packet), and the actions for the session to carry out (send, arm T1/T2, stop the timer, fail,
emit, store a retained secret; `actions.py`). A message that is not in the table for the current
state is a protocol error naming state and message: logged, counted in `stats.dropped_unexpected`
and dropped (an unauthenticated packet must never be able to end a handshake). No phase module
touches the session; the retained-secret cache comes in as two callables (`retained.py`), so the
core does no file I/O. The handlers live one module per phase:

    discovery.py     Hello, HelloACK (§4.1)
    commit.py        becoming initiator, Commit and contention (§4.2)
    dh_exchange.py   DHPart1, DHPart2, s0 and the session keys (§4.3-§4.5)
    confirm.py       Confirm1, Confirm2, Conf2ACK, then Secure or CacheMismatch (§4.6)
    any_state.py     Error/ErrorACK, Ping/PingACK; GoClear, SASrelay once secure (§5.9-§5.16)
    retransmit.py    timers T1 and T2 and their caps, the handshake guard (§6)
    handshake.py     the handshake state the handlers are given
    actions.py       what a handler asks the session to do
    states.py        the state names
    fragments.py     messages above the ZRTP MTU sent and received as fragments (bzrtp's layout)
    pq_kem.py        DPQ1, the X25519 + ML-KEM-768 hybrid (Commit, DHPart1, DHPart2 nonce)
"""

from __future__ import annotations

import hmac
import logging
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from . import any_state, commit, confirm, dh_exchange, discovery, fragments, packets, retransmit
from .actions import Action, ArmT1, ArmT2, Emit, Fail, Send, Step, StopTimer, StoreSecret, fail
from .config import ZrtpConfig, ZrtpStats
from .events import CacheMismatch, CacheWriteFailed, NotSecure, Secure, ZrtpEvent
from .handshake import Handshake
from .hashchain import implicit_hash
from .negotiation import AlgorithmChoice
from .packets import ZRTP_VERSION
from .retained import CacheWriteError, SecretLookup, SecretStore, SecretUpdate
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
    "TRANSITIONS", "ZRTP_VERSION", "State", "ZrtpConfig", "ZrtpSession", "ZrtpStats",
]

log = logging.getLogger(__name__)


class ZrtpSession:
    """One ZRTP endpoint for one media stream. `lookup_secrets(peer_zid)` and
    `store_secrets(update)` are the retained-secret storage (see `retained.py`)."""

    def __init__(self, config: ZrtpConfig, ssrc: int, *, lookup_secrets: SecretLookup,
                 store_secrets: SecretStore,
                 rng: Callable[[int], bytes] = os.urandom) -> None:
        self.config = config
        self._store_secrets = store_secrets
        self._ssrc = ssrc & 0xFFFFFFFF
        self._sequence = int.from_bytes(rng(2), "big") & 0x7FFF
        self._handshake = Handshake.new(config, rng, lookup_secrets)
        self._events: deque[ZrtpEvent] = deque()
        self._outbox: list[bytes] = []
        self._retransmission: Retransmission | None = None
        self._guard_deadline: float | None = None
        self._keys_emitted = False  # a Secure/CacheMismatch went out: never a second one
        self._reassembler = fragments.Reassembler()
        # message id per fragmented message (its retransmissions reuse it); a few recent ones
        self._message_ids: dict[bytes, int] = {}
        self._next_message_id = int.from_bytes(rng(2), "big")

    # --- read-only views of the handshake ---------------------------------------------------------
    @property
    def state(self) -> State:
        return self._handshake.state

    @property
    def role(self) -> str | None:
        return self._handshake.role

    @property
    def stats(self) -> ZrtpStats:
        return self._handshake.stats

    @property
    def peer_zid(self) -> bytes | None:
        return self._handshake.peer_zid

    # --- public API ------------------------------------------------------------------------------
    def hello_hash(self) -> str:
        """§8.1: "1.10 <hex SHA-256 of our Hello message>" for SDP a=zrtp-hash."""
        return f"{ZRTP_VERSION} {implicit_hash(self._handshake.hello_bytes).hex()}"

    def set_peer_hello_hash(self, value: str) -> None:
        """The peer's a=zrtp-hash from SDP (§8.1.1); its Hello must hash to it."""
        version, _, digest = value.strip().partition(" ")
        try:
            expected = bytes.fromhex(digest.strip())
        except ValueError:
            raise ValueError(f"a=zrtp-hash {value!r} is not '<version> <64 hex digits>'") from None
        if len(expected) != 32 or not version:
            raise ValueError(f"a=zrtp-hash {value!r} is not '<version> <64 hex digits>'")
        hs = self._handshake
        hs.expected_peer_hello_hash = expected
        if hs.peer_hello is not None and not hmac.compare_digest(
                implicit_hash(hs.peer_hello_bytes), expected):
            hs.stats.dropped_hello_hash += 1
            self._apply(fail(discovery.HELLO_HASH_MISMATCH, packets.ERROR_HELLO_MISMATCH,
                             possible_attack=True), 0.0)

    def is_announced_hello(self, data: bytes) -> bool:
        """Whether `data` is a ZRTP packet carrying the very Hello the peer's SDP announced
        (a=zrtp-hash, §8.1.1): the one ZRTP packet that proves, before any key exists, that
        it comes from the peer of the authenticated signalling (symmetric RTP latching)."""
        expected = self._handshake.expected_peer_hello_hash
        if expected is None:
            return False
        try:
            packet = packets.decode_packet(data)
        except packets.MalformedPacket:  # BadCrc included
            return False
        return (packets.message_type(packet.message) == packets.Hello.TYPE
                and hmac.compare_digest(implicit_hash(packet.message), expected))

    def start(self, now: float) -> None:
        if self.state is not State.IDLE:
            return
        self._guard_deadline = now + HANDSHAKE_TIMEOUT
        hello = self._handshake.hello_bytes
        self._apply(Step(State.DISCOVERY, [Send(hello), ArmT1(hello, "HelloACK")]), now)

    def receive_datagram(self, data: bytes, now: float) -> None:
        self.stats.received += 1
        try:
            if fragments.is_fragment(data):
                packet = self._reassembled(fragments.decode_fragment(data))
                if packet is None:
                    return  # more fragments to come
            else:
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
            step = retransmit.on_guard_expired(self._handshake)
            if step.next_state is not None:
                self._apply(step, now)
                return
        timer = self._retransmission
        if timer is None or not timer.is_due(now):
            return
        if timer.exhausted:
            self._retransmission = None
        self._apply(retransmit.on_retransmission_due(self._handshake, timer, now), now)

    def next_event(self) -> ZrtpEvent | None:
        return self._events.popleft() if self._events else None

    def confirm_sas(self) -> None:
        """The user compared the SAS and it matched: remember it for key continuity (§4.6.1);
        after a cache mismatch this is when the new rs1 replaces the old (§4.6.1.1)."""
        hs = self._handshake
        if hs.peer_zid is not None and self.state is State.SECURE:
            self._store(confirm.sas_verified_update(hs, True))
            hs.local_verified = True

    def reject_sas(self) -> None:
        """The SAS did not match (or the user withdrew trust): clear the verified flag."""
        hs = self._handshake
        if hs.peer_zid is not None and self.state is State.SECURE:
            self._store(confirm.sas_verified_update(hs, False))
            hs.local_verified = False

    def peer_srtp_authenticated(self, now: float) -> None:
        """The media layer authenticated an SRTP packet from the peer with the keys of this
        session (SrtpReceiveReady / Secure). For an initiator still waiting for Conf2ACK this is
        an implicit Conf2ACK (§4.6): it turns secure. Anywhere else it changes nothing."""
        transition = COMMANDS.get(self.state, {}).get("peer_srtp_authenticated")
        if transition is not None:
            self._apply(transition.handler(self._handshake, now), now)

    def cache_write_failed(self, reason: str) -> None:
        """A store callable that writes in the background reports a failed write here; the
        session emits CacheWriteFailed (the keys stay good: SRTP is not torn down)."""
        self.stats.cache_write_failures += 1
        log.warning("ZRTP retained-secret cache write failed: %s", reason)
        self._events.append(CacheWriteFailed(
            f"could not save the ZRTP key-continuity secret ({reason})"))

    @property
    def is_secure(self) -> bool:
        return self.state is State.SECURE

    @property
    def algorithms(self) -> AlgorithmChoice | None:
        """What the winning Commit chose (§4.1.2), once secure; None before (a candidate
        initiator's own choice may still lose the Commit contention, §4.2). Not secret."""
        return self._handshake.choice if self.state is State.SECURE else None

    @property
    def peer_hello_hash_verified(self) -> bool:
        """True once the peer's Hello was accepted against the a=zrtp-hash its SDP carried
        (§8.1.1); False without one (the SDP had none, or no Hello yet)."""
        hs = self._handshake
        return hs.expected_peer_hello_hash is not None and hs.peer_hello is not None

    @property
    def peer_client_id(self) -> str | None:
        """The peer's Hello client identifier (§5.2, e.g. "BZRTPv1.1"), once its Hello arrived."""
        if self._handshake.peer_hello is None:
            return None
        # bzrtp pads with NULs, §5.2 with spaces
        return self._handshake.peer_hello.client_id.rstrip(" \x00")

    # --- dispatch and the actions handlers ask for -----------------------------------------------
    def _dispatch(self, packet: packets.ZrtpPacket, message: packets.Message, now: float) -> None:
        kind = packets.message_type(packet.message)
        transition = TRANSITIONS[self.state].get(kind)
        if transition is None:
            if self._handshake.was_seen(packet.message):
                self.stats.duplicates += 1
            else:
                # A protocol error (state, message), but an unauthenticated one: dropped.
                self.stats.dropped_unexpected += 1
                log.debug("ZRTP %s unexpected in state %s: dropped", kind.decode().strip(),
                          self.state.name)
            return
        step = transition.handler(self._handshake, packet, message, now)
        if step.next_state is not None and step.next_state is not State.FAILED:
            assert step.next_state in transition.to, (
                f"{transition.handler.__name__} led {self.state.name} to "
                f"{step.next_state.name}, not to {sorted(s.name for s in transition.to)}")
        self._apply(step, now)

    def _apply(self, step: Step, now: float) -> None:
        for action in step.actions:
            self._act(action, now)
        if step.next_state is not None and self.state is not State.FAILED:
            self._handshake.state = step.next_state
            if step.next_state is State.SECURE:
                self._guard_deadline = None
        triggered = TRIGGERED.get(self.state)
        if triggered is not None and triggered.ready(self._handshake):
            step = triggered.handler(self._handshake, now)
            assert step.next_state in (triggered.to, State.FAILED, None)
            self._apply(step, now)

    def _act(self, action: Action, now: float) -> None:
        match action:
            case Send(message):
                self._send(message)
            case ArmT1(message, what):
                self._retransmission = Retransmission.on_t1(message, now, self.config.t1, what)
            case ArmT2(message, what):
                self._retransmission = Retransmission.on_t2(message, now, self.config.t2, what)
            case StopTimer():
                self._retransmission = None
            case Fail(reason, error_code, possible_attack):
                self._fail(reason, error_code, now, possible_attack=possible_attack)
            case Emit(event):
                if isinstance(event, Secure | CacheMismatch):
                    if self._keys_emitted:  # F3: SRTP must never be re-keyed with the same keys
                        log.error("ZRTP: refusing to announce the same keys twice")
                        return
                    self._keys_emitted = True
                self._events.append(event)
            case StoreSecret(update):
                self._store(update)

    def _store(self, update: SecretUpdate) -> None:
        try:
            self._store_secrets(update)
        except CacheWriteError as exc:
            self.cache_write_failed(str(exc))

    def _send(self, message: bytes) -> None:
        self._sequence = (self._sequence + 1) & 0xFFFF
        packet = packets.encode_packet(self._sequence, self._ssrc, message)
        self.stats.sent += 1
        if len(packet) <= self.config.mtu:
            self._outbox.append(packet)
            return
        key = implicit_hash(message)
        message_id = self._message_ids.get(key)
        if message_id is None:
            message_id = self._next_message_id = (self._next_message_id + 1) & 0xFFFF
            self._message_ids = {**dict(list(self._message_ids.items())[-3:]), key: message_id}
        pieces = fragments.split(message, self.config.mtu)
        for index, (offset, piece) in enumerate(pieces):
            if index:
                self._sequence = (self._sequence + 1) & 0xFFFF
            self._outbox.append(fragments.encode_fragment(
                self._sequence, self._ssrc, message_id, len(message) // 4, offset, piece))
            self.stats.fragments_sent += 1

    def _reassembled(self, fragment: fragments.Fragment) -> packets.ZrtpPacket | None:
        self.stats.fragments_received += 1
        message = self._reassembler.add(fragment)
        if message is None:
            return None
        self.stats.messages_reassembled += 1
        return packets.ZrtpPacket(fragment.sequence_number, fragment.ssrc, message)

    def _fail(self, reason: str, error_code: int | None, now: float, *,
              possible_attack: bool = False) -> None:
        """NotSecure(reason); with an error code, also Error (§5.9), resent on T2 until ErrorACK."""
        if self.state is State.FAILED:
            return
        self._handshake.state = State.FAILED
        self._guard_deadline = None
        self._retransmission = None
        if error_code is not None:
            reason = f"{reason} (sent Error 0x{error_code:x})"
        log.info("ZRTP failed: %s", reason)
        self._events.append(NotSecure(reason, possible_attack=possible_attack))
        if error_code is not None:
            error = packets.ErrorMessage(error_code).encode()
            self.stats.errors_sent += 1
            self._send(error)
            self._retransmission = Retransmission.on_t2(error, now, self.config.t2, "ErrorACK")


def _on_ignored_duplicate(hs: Handshake, packet, message, now: float) -> Step:
    """A retransmission whose answer is already on its way (we retransmit on our timer)."""
    hs.stats.duplicates += 1
    return Step()


# (handshake, packet, its parsed message, now) -> Step; the table pairs each handler with the
# message type it parses, which the signature cannot say.
_Handler = Callable[..., Step]


@dataclass(frozen=True)
class Transition:
    """A message handled in a state, and the state(s) it leads to when the handler accepts it."""

    handler: _Handler
    to: frozenset[State]


@dataclass(frozen=True)
class Triggered:
    """A transition fired by reaching a state with a condition met (h11's state-triggered)."""

    ready: Callable[[Handshake], bool]
    handler: Callable[[Handshake, float], Step]
    to: State


def _to(handler: _Handler, *states: State) -> Transition:
    return Transition(handler, frozenset(states))


_S = State
# Messages valid in every state (the next state is where we are, or FAILED on an Error).
_ANY_STATE = {
    b"Error   ": _to(any_state.on_error, _S.FAILED),
    b"ErrorACK": _to(any_state.on_error_ack),
    b"Ping    ": _to(any_state.on_ping),
}

# The state table: {state: {message type block: (handler, next state)}}. Anything else is dropped
# and counted. FAILED is always a possible next state (Fail), and a handler may stay put (None)
# when it drops a packet.
TRANSITIONS: dict[State, dict[bytes, Transition]] = {
    _S.IDLE: {},
    _S.DISCOVERY: {
        b"Hello   ": _to(discovery.on_hello, _S.DISCOVERY),
        b"HelloACK": _to(discovery.on_hello_ack, _S.DISCOVERY),
        b"Commit  ": _to(commit.on_commit, _S.DHPART1_SENT),
    },
    _S.COMMIT_SENT: {
        b"Hello   ": _to(discovery.on_hello_in_handshake),
        b"HelloACK": _to(_on_ignored_duplicate),
        b"Commit  ": _to(commit.on_commit_in_contention, _S.DHPART1_SENT),  # §4.2
        b"DHPart1 ": _to(dh_exchange.on_dhpart1, _S.DHPART2_SENT),
    },
    _S.DHPART1_SENT: {
        b"Hello   ": _to(discovery.on_hello_in_handshake),
        b"Commit  ": _to(commit.on_commit_again),
        b"DHPart2 ": _to(dh_exchange.on_dhpart2, _S.CONFIRM1_SENT),
    },
    _S.DHPART2_SENT: {
        b"DHPart1 ": _to(_on_ignored_duplicate),
        b"Confirm1": _to(confirm.on_confirm1, _S.CONFIRM2_SENT),
    },
    _S.CONFIRM1_SENT: {
        b"DHPart2 ": _to(dh_exchange.on_dhpart2_again),
        b"Confirm2": _to(confirm.on_confirm2, _S.SECURE),
    },
    _S.CONFIRM2_SENT: {
        b"Confirm1": _to(_on_ignored_duplicate),
        b"Conf2ACK": _to(confirm.on_conf2ack, _S.SECURE),
    },
    _S.SECURE: {
        b"Confirm2": _to(confirm.on_confirm2_again),
        b"Confirm1": _to(_on_ignored_duplicate),
        b"Conf2ACK": _to(_on_ignored_duplicate),
        b"GoClear ": _to(any_state.on_goclear),
        b"SASrelay": _to(any_state.on_sasrelay),
    },
    _S.FAILED: {},
}
for _state, _table in TRANSITIONS.items():
    if _state is not State.IDLE:  # before start() nothing is answered, not even Ping
        for _kind, _transition in _ANY_STATE.items():
            _table.setdefault(_kind, _transition)

# Commands from the layer above that move the state, like messages do.
COMMANDS: dict[State, dict[str, Triggered]] = {
    # §4.6: SRTP from the responder, authenticated, is an implicit Conf2ACK.
    _S.CONFIRM2_SENT: {"peer_srtp_authenticated": Triggered(
        lambda hs: True, confirm.on_peer_srtp_authenticated, _S.SECURE)},
}

# §4.1: holding the peer's Hello with ours acknowledged, we become candidate initiator (§4.2).
TRIGGERED: dict[State, Triggered] = {
    _S.DISCOVERY: Triggered(commit.ready_to_commit, commit.become_initiator, _S.COMMIT_SENT),
}
