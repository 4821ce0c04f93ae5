"""What the call layer and the screens know about an ICE path, without aioice (issue 19).

The shapes of agent.py's inputs and outputs: servers to gather from, the nominated pair, its
kind, the counters, the error. They live apart from the agent so that a phone whose calls use no
ICE (a LAN call without `[nat]`, call_ice.py) never imports aioice and its dependencies
(dnspython, ifaddr: ~3.5 MiB of RSS and tens of ms of start-up here); the agent is imported
when a call first gathers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from deskphone.media.ice.candidates import IceCandidate


class PairKind(Enum):
    """What the call-quality screen says about the path (issue 14 item 5)."""

    HOST = "host"  # both ends' own addresses: same LAN
    SRFLX = "srflx"  # through NAT mappings, still straight between the two ends
    RELAY = "relay"  # through a TURN server: still end-to-end encrypted, one hop more

    @property
    def direct(self) -> bool:
        return self is not PairKind.RELAY


@dataclass(frozen=True)
class TurnRelay:
    host: str
    port: int
    transport: str = "udp"  # "udp" or "tcp" (RFC 8656 §3.1; TLS not offered here)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"turn:{host}:{self.port}?transport={self.transport}"


class _TurnSetting(Protocol):
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def transport(self) -> str: ...


class NatSettings(Protocol):
    """The shape of the app's [nat] config (config.NatConfig); media does not import config."""

    @property
    def stun(self) -> tuple[str, int] | None: ...
    @property
    def turn(self) -> Sequence[_TurnSetting]: ...
    @property
    def turn_user(self) -> str | None: ...
    @property
    def turn_password(self) -> str | None: ...


@dataclass(frozen=True)
class IceServers:
    """STUN and TURN servers for gathering. Empty: host candidates only, no server traffic."""

    stun: tuple[str, int] | None = None
    turn: tuple[TurnRelay, ...] = ()
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, nat: NatSettings) -> IceServers:
        return cls(stun=nat.stun,
                   turn=tuple(TurnRelay(t.host, t.port, t.transport) for t in nat.turn),
                   username=nat.turn_user, password=nat.turn_password)


@dataclass(frozen=True)
class SelectedPair:
    local: IceCandidate
    remote: IceCandidate
    remote_address: tuple[str, int]  # where datagrams go (a relay pair: the peer, via TURN)

    @property
    def kind(self) -> PairKind:
        types = {self.local.type, self.remote.type}
        if "relay" in types:
            return PairKind.RELAY
        if types & {"srflx", "prflx"}:
            return PairKind.SRFLX
        return PairKind.HOST

    def named_by(self, remote_candidates: str, local_candidates: Sequence[IceCandidate]) -> bool:
        """Whether a controlling peer's a=remote-candidates (RFC 8839 §5.2: "component address
        port" triples, our side of the pair it nominated) names this pair's component-1 local
        candidate: the pair's own address (host or relay), or one of our candidates whose
        base it is (the srflx address the peer saw, RFC 8445 §5.1.1.2). False for a malformed
        value or another address."""
        fields = remote_candidates.split()
        if not fields or len(fields) % 3:
            return False
        named = {(fields[i], fields[i + 1], fields[i + 2]) for i in range(0, len(fields), 3)}
        ours = {(self.local.host, str(self.local.port))} | {
            (c.host, str(c.port)) for c in local_candidates
            if c.component == 1 and (c.related_address, c.related_port)
            == (self.local.host, self.local.port)}
        return any(component == "1" and (host, port) in ours
                   for component, host, port in named)

    def describe(self) -> str:
        return (f"{self.kind.value} {self.local.host}:{self.local.port} ({self.local.type}) -> "
                f"{self.remote_address[0]}:{self.remote_address[1]} ({self.remote.type})")


@dataclass
class IceStats:
    remote_candidates_accepted: int = 0
    remote_candidates_refused: Counter[str] = field(default_factory=Counter)
    stun_bad_requests: int = 0  # Binding requests without USERNAME or MESSAGE-INTEGRITY
    stun_unauthenticated: int = 0  # wrong ufrag or MESSAGE-INTEGRITY
    stun_answers_suppressed: int = 0  # error answers not sent (rate limit)
    stun_malformed: int = 0  # first byte 0-3 (RFC 7983) but not parseable STUN
    data_before_nomination: int = 0  # media datagrams dropped: no pair yet
    # a=remote-candidates in the peer's subsequent offers (we are controlled): naming our
    # nominated pair, or not (a peer disagreeing on the pair; logged, the pair stays)
    remote_candidates_confirmed: int = 0
    remote_candidates_mismatched: int = 0
    checks_triggered: int = 0  # In-Progress checks restarted by the peer's (RFC 8445 §7.3.1.4)
    datagrams_received: int = 0
    datagrams_sent: int = 0
    send_failures: int = 0
    relays_failed: int = 0  # TURN servers that gave no relayed candidate
    stun_failed: bool = False  # a STUN server was configured but gave no srflx candidate
    gathering_seconds: float | None = None
    connect_seconds: float | None = None
    connected_at: float | None = None  # time.monotonic() at nomination (bench timelines)


class IceError(ConnectionError):
    """ICE could not give this stream a path; the message says at which step."""
