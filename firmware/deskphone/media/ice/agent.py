"""One media stream's ICE agent (RFC 8445): aioice's `Connection`, adapted for a SIP phone.

aioice (from the aiortc project) is a full agent: gathering, pairing, checks, nomination,
consent freshness (RFC 7675), TURN allocations with refreshes and channel bindings. It is not
sans-IO: it owns its datagram endpoints (one UDP socket per host candidate, one UDP socket or TCP
connection per TURN allocation, all created with `loop.create_datagram_endpoint` /
`create_connection`) and runs its own tasks. This module is its one asyncio adapter. It adds:

* **Config in, data classes out.** `IceServers` (STUN, any number of TURN UDP/TCP relays, the
  long-term credentials) in; `IceDescription` (ufrag, pwd, candidates) out for the SDP layer;
  `SelectedPair` out after nomination, with the kind (host / srflx / relay) for the
  call-quality screen.
* **Several TURN relays.** aioice gathers from one TURN server. The subclass below runs one more
  gathering round per further relay (host addresses empty, so only the allocation), each in its
  own task with the relay set in a context variable that the `turn_*` attributes read, so rounds
  run in parallel without ever seeing each other's server.
* **A synchronous datagram path.** aioice hands every non-STUN datagram to
  `Connection.data_received`, which queues it for `await recv()`; the subclass hands it straight
  to the stream's callback instead (no queue, no task wake-up per packet), and `send` writes
  straight to the nominated pair's transport (`sendto` on the UDP socket, or the TURN transport,
  which binds a channel on first use, RFC 8656 §12). Nothing is delivered or sent before
  nomination: ICE's checks carry no media, and audio never leaves before the pair exists.
* **Screening and counting.** The peer's candidates pass `screen_remote_candidates`; incoming
  Binding requests that fail authentication (RFC 8489 §9.1.3) are counted, and the 400/401
  answers aioice sends to them are rate-limited so a flood of forged requests from random sources
  cannot use the phone as a reflector; STUN-looking datagrams aioice could not parse are counted
  and dropped.
"""

from __future__ import annotations

import asyncio
import contextvars
import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

import aioice
import ifaddr
from aioice import stun

from deskphone.media.ice.candidates import (
    IceCandidate,
    IceDescription,
    IceParameters,
    screen_remote_candidates,
)
from deskphone.media.ice.paths import (
    IceError,
    IceServers,
    IceStats,
    PairKind,
    SelectedPair,
    TurnRelay,
)
from deskphone.media.ice.takeover import take_over

log = logging.getLogger(__name__)

GATHER_TIMEOUT = 5  # seconds a STUN or TURN server gets to answer during gathering (aioice's)
CONNECT_TIMEOUT = 20.0  # checks give up after this (RFC 8445 leaves it to the application)
# Unauthenticated Binding requests still get aioice's 400/401 answer (RFC 8489 §9.1.3), but at
# most this many per second (token bucket): a forged-source flood then costs the victim a few
# hundred bytes a second, not a reflected copy of the flood.
ERROR_ANSWERS_PER_SECOND = 10.0
_NO_SERVERS = IceServers()  # host candidates only


def local_networks() -> tuple[list[str], frozenset[str]]:
    """This host's IPv4 addresses (loopback excluded) and its subnets' broadcast addresses."""
    addresses, broadcasts = [], set()
    for adapter in ifaddr.get_adapters():
        for address in adapter.ips:
            if isinstance(address.ip, str) and not address.ip.startswith("127."):
                addresses.append(address.ip)
                network = ipaddress.IPv4Network(f"{address.ip}/{address.network_prefix}",
                                                strict=False)
                if network.prefixlen < 31:
                    broadcasts.add(str(network.broadcast_address))
    return addresses, frozenset(broadcasts)


_relay_round: contextvars.ContextVar[TurnRelay | None] = contextvars.ContextVar(
    "deskphone_ice_relay_round", default=None)


class _Connection(aioice.Connection):
    """aioice's Connection with the hooks listed in the module docstring.

    Only public methods and attributes of aioice are overridden or read: `turn_*`,
    `get_component_candidates`, `data_received`, `request_received`, `check_state`,
    `check_incoming`, `check_complete`, and a pair's `task`, `state` and `protocol`.
    """

    def __init__(self, agent: IceAgent, host_addresses: Sequence[str] | None,
                 relays: tuple[TurnRelay, ...], **kwargs: Any) -> None:
        self._agent = agent
        self._host_addresses = list(host_addresses) if host_addresses is not None else None
        self._relays = relays
        self._turn_defaults: dict[str, Any] = {}
        self._in_progress: dict[tuple[int, tuple[str, int]], Any] = {}  # pairs being checked
        super().__init__(**kwargs)

    # aioice reads these when it starts a TURN allocation; inside a relay round they name that
    # round's relay (contextvars are per task, so parallel rounds cannot mix them up).
    def _turn(self, name: str) -> Any:
        relay = _relay_round.get()
        if relay is None:
            return self._turn_defaults.get(name)
        return {"turn_server": (relay.host, relay.port), "turn_transport": relay.transport,
                "turn_ssl": False}.get(name, self._turn_defaults.get(name))

    turn_server = property(lambda self: self._turn("turn_server"),
                           lambda self, v: self._turn_defaults.__setitem__("turn_server", v))
    turn_transport = property(lambda self: self._turn("turn_transport"),
                              lambda self, v: self._turn_defaults.__setitem__("turn_transport",
                                                                              v))
    turn_ssl = property(lambda self: self._turn("turn_ssl"),
                        lambda self, v: self._turn_defaults.__setitem__("turn_ssl", v))

    async def get_component_candidates(self, component: int, addresses: list[str],
                                       timeout: int = GATHER_TIMEOUT) -> list[aioice.Candidate]:
        if _relay_round.get() is not None:  # a relay round: the allocation only
            return await super().get_component_candidates(component, [], timeout)
        if self._host_addresses is not None:
            addresses = self._host_addresses
        rounds = [super().get_component_candidates(component, addresses, timeout)]
        rounds += [self._gather_relay(component, relay, timeout) for relay in self._relays]
        results = await asyncio.gather(*rounds)
        return [candidate for result in results for candidate in result]

    async def _gather_relay(self, component: int, relay: TurnRelay,
                            timeout: int) -> list[aioice.Candidate]:
        _relay_round.set(relay)  # this task's context only
        candidates = await self.get_component_candidates(component, [], timeout)
        if not candidates:
            self._agent.stats.relays_failed += 1
            log.warning("ICE: no relayed candidate from %s (unreachable, or credentials "
                        "refused)", relay)
        return candidates

    def data_received(self, data: bytes, component: int) -> None:
        if component == 2:
            self._agent._rtcp_datagram_received(data)
        else:
            self._agent._datagram_received(data)

    def request_received(self, message: stun.Message, addr: tuple[str, int],
                         protocol: Any) -> None:
        attributes = message.attributes
        authentic = True
        if "MESSAGE-INTEGRITY" not in attributes or "USERNAME" not in attributes:
            self._agent.stats.stun_bad_requests += 1
            authentic = False
        elif (str(attributes["USERNAME"]).partition(":")[0] != self.local_username
              or not message.check_message_integrity(self.local_password.encode("utf8"))):
            self._agent.stats.stun_unauthenticated += 1
            authentic = False
        if not authentic and not self._agent._error_answer_allowed():
            self._agent.stats.stun_answers_suppressed += 1
            return
        super().request_received(message, addr, protocol)

    def check_state(self, pair: Any, state: Any) -> None:
        super().check_state(pair, state)
        key = (id(pair.protocol), pair.remote_addr)
        if state == pair.State.IN_PROGRESS:
            self._in_progress[key] = pair
        else:
            self._in_progress.pop(key, None)

    def check_incoming(self, message: stun.Message, addr: tuple[str, int],
                       protocol: Any) -> None:
        # RFC 8445 §7.3.1.4: a check from the peer on a pair whose own check is In-Progress
        # cancels that transaction and triggers a new check at once. aioice triggers only
        # Frozen and Failed pairs, so behind NATs the side whose first check the peer's router
        # dropped (no mapping there yet) waited a whole retransmission (RTO 500 ms) before its
        # pair succeeded and could be nominated: the ~0.5 s between one side's nomination and
        # the other's, which ZRTP then waited for. Only as controlled agent: a controlling
        # agent's In-Progress transaction may be its nomination (aioice keeps the pair
        # In-Progress while it sends USE-CANDIDATE, RFC 8445 §8.1.1), which must not be
        # cancelled; and its checks leave after the controlled side's opened the way.
        pair = self._in_progress.pop((id(protocol), (addr[0], addr[1])), None)
        if pair is not None and pair.task is not None and not self.ice_controlling:
            pair.task.cancel()
            pair.task = None
            self._agent.stats.checks_triggered += 1
            super().check_state(pair, pair.State.WAITING)
        super().check_incoming(message, addr, protocol)

    def check_complete(self, pair: Any) -> None:
        super().check_complete(pair)
        if pair.nominated and pair.state == pair.State.SUCCEEDED:
            if pair.component == 1:
                self._agent._nominated(pair)
            elif pair.component == 2:
                self._agent._rtcp_nominated(pair)


class IceAgent:
    """ICE for one media stream with rtcp-mux (one component).

        agent = IceAgent(controlling=True, servers=...)
        local = await agent.gather()               # -> SDP: ufrag, pwd, candidates
        agent.set_remote(remote_description)       # <- SDP of the peer
        pair = await agent.connect()               # checks, nomination
        agent.set_receiver(stream.datagram_received)
        agent.send(datagram)

    `host_addresses` limits host candidates to these local addresses (None: every IPv4
    interface but loopback, aioice's default). Loopback host addresses (the simulator) also allow
    the peer's loopback candidates; otherwise they are refused.
    """

    def __init__(self, *, controlling: bool, servers: IceServers = _NO_SERVERS,
                 host_addresses: Sequence[str] | None = None,
                 clock: Callable[[], float] = time.monotonic, components: int = 1) -> None:
        # components=2 only to answer a peer that offers ICE without rtcp-mux (RTCP as its own
        # component, RFC 8445 §4; liblinphone does): its agent completes only once both have
        # pairs. RTP and ZRTP go on component 1's pair, RTCP on component 2's (`send_rtcp`,
        # `set_rtcp_receiver`): mux was not agreed, so the peer expects it there.
        if components not in (1, 2):
            raise IceError(f"ICE components {components}: expected 1 (rtcp-mux) or 2")
        self.components = components
        self.stats = IceStats()
        self.selected_pair: SelectedPair | None = None
        self._clock = clock
        self._receiver: Callable[[bytes], None] | None = None
        self._send_target: tuple[Any, tuple[str, int]] | None = None
        self._pair: Any = None  # aioice's nominated CandidatePair
        self.rtcp_pair: SelectedPair | None = None  # component 2's, with two components
        self._rtcp_target: tuple[Any, tuple[str, int]] | None = None
        self._rtcp_receiver: Callable[[bytes], None] | None = None
        self._tokens = ERROR_ANSWERS_PER_SECOND
        self._tokens_at = clock()
        self._servers = servers
        self._host_addresses = host_addresses
        self._allow_loopback = bool(host_addresses) and all(
            ipaddress.ip_address(a).is_loopback for a in host_addresses or ())
        self._broadcasts = local_networks()[1]
        self._connection = _Connection(
            self, host_addresses, servers.turn, ice_controlling=controlling,
            components=components,
            stun_server=servers.stun, turn_username=servers.username,
            turn_password=servers.password, use_ipv4=True, use_ipv6=False)
        self._local: IceDescription | None = None

    @property
    def controlling(self) -> bool:
        return bool(self._connection.ice_controlling)

    @property
    def local_parameters(self) -> IceParameters:
        return IceParameters(self._connection.local_username, self._connection.local_password)

    async def gather(self) -> IceDescription:
        """Gather host, server-reflexive and relayed candidates; what the SDP offers."""
        started = self._clock()
        await self._connection.gather_candidates()
        self.stats.gathering_seconds = self._clock() - started
        candidates = tuple(IceCandidate.from_aioice(c)
                           for c in self._connection.local_candidates)
        if self._servers.stun and not any(c.type == "srflx" for c in candidates):
            self.stats.stun_failed = True
            log.warning("ICE: no server-reflexive candidate from STUN server %s:%d",
                        *self._servers.stun)
        if not candidates:
            raise IceError("ICE gathering found no candidate (no usable local address)")
        self._local = IceDescription(self.local_parameters, candidates)
        log.info("ICE gathered %d candidates in %.0f ms: %s", len(candidates),
                 self.stats.gathering_seconds * 1000,
                 ", ".join(sorted({c.type for c in candidates})))
        return self._local

    @property
    def local_description(self) -> IceDescription:
        if self._local is None:
            raise IceError("local ICE description asked for before gather()")
        return self._local

    def default_candidate(self, component: int = 1) -> IceCandidate:
        """The candidate for c=/m= (RFC 8839 §4.2.1.2), or for a=rtcp with `component` 2: the
        relayed one when there is one (most likely to work), else the srflx, else a host one."""
        order = {"relay": 0, "srflx": 1, "host": 2}
        return min((c for c in self.local_description.candidates if c.component == component),
                   key=lambda c: order.get(c.type, 3))

    async def set_remote(self, remote: IceDescription) -> None:
        """The peer's ufrag, pwd and candidates, from its authenticated SDP."""
        remote.parameters.check()
        connection = self._connection
        connection.remote_username = remote.parameters.ufrag
        connection.remote_password = remote.parameters.pwd
        connection.remote_is_lite = remote.parameters.lite
        screened = screen_remote_candidates(remote.candidates,
                                            allow_loopback=self._allow_loopback,
                                            local_broadcasts=self._broadcasts,
                                            components=self.components)
        self.stats.remote_candidates_accepted += len(screened.accepted)
        self.stats.remote_candidates_refused.update(screened.refused)
        if screened.refused:
            log.info("ICE: refused remote candidates: %s", dict(screened.refused))
        for candidate in screened.accepted:
            await connection.add_remote_candidate(candidate.to_aioice())
        if remote.end_of_candidates:
            await connection.add_remote_candidate(None)

    async def connect(self, timeout: float = CONNECT_TIMEOUT) -> SelectedPair:
        """Run the checks (as controlling or controlled) until a pair is nominated."""
        started = self._clock()
        try:
            await asyncio.wait_for(self._connection.connect(), timeout)
        except TimeoutError:
            raise IceError(f"ICE checks found no working pair within {timeout} s") from None
        except ConnectionError as exc:
            raise IceError(f"ICE failed: {exc}") from None
        self.stats.connected_at = self._clock()
        self.stats.connect_seconds = self.stats.connected_at - started
        if self.selected_pair is None:  # aioice completed without our hook seeing the pair
            raise IceError("ICE completed without a nominated pair on component 1")
        log.info("ICE connected in %.0f ms: %s", self.stats.connect_seconds * 1000,
                 self.selected_pair.describe())
        return self.selected_pair

    async def use_default_candidate(self, remote: tuple[str, int]) -> SelectedPair:
        """The peer answered without ICE (RFC 8839 §4.2.3: no a=ice-ufrag/ice-pwd): it sends to
        our default candidate (c=/m=) and receives at its own c=/m= address, so that is the
        pair, set without checks (aioice's `set_selected_pair`, meant for this case). A srflx
        default is sent from its base, the host socket behind the NAT mapping."""
        default = self.default_candidate()
        local = default
        if default.type == "srflx":
            local = next(c for c in self.local_description.candidates if c.type == "host"
                         and (c.host, c.port) == (default.related_address, default.related_port))
        peer = IceCandidate("noice", 1, "udp", 1, remote[0], remote[1], "host")
        screened = screen_remote_candidates([peer], allow_loopback=self._allow_loopback,
                                            local_broadcasts=self._broadcasts)
        if not screened.accepted:
            self.stats.remote_candidates_refused.update(screened.refused)
            raise IceError(f"the peer's media address {remote[0]}:{remote[1]} is refused "
                           f"({', '.join(screened.refused)})")
        connection = self._connection
        await connection.add_remote_candidate(peer.to_aioice())
        connection.set_selected_pair(1, local.foundation, peer.foundation)
        # aioice keeps the forced pair in its nominated table (the one private read here; the
        # version is pinned): its protocol is the socket media goes on.
        pair = connection._nominated[1]
        self._nominated(pair)
        self.selected_pair = SelectedPair(default, peer, remote)
        self.stats.connected_at = self._clock()
        return self.selected_pair

    def set_receiver(self, receiver: Callable[[bytes], None] | None) -> None:
        """Where datagrams arriving after nomination go (RTP, RTCP, ZRTP: RFC 7983 bytes)."""
        self._receiver = receiver

    def set_rtcp_receiver(self, receiver: Callable[[bytes], None] | None) -> None:
        """Where datagrams on component 2's nominated pair go (RTCP, two components only)."""
        self._rtcp_receiver = receiver

    def send(self, datagram: bytes, to: tuple[str, int] | None = None) -> bool:
        """Send on the nominated pair (to the pair's remote address, or `to`: a peer without
        ICE or rtcp-mux takes RTCP at its port + 1, RFC 3550 §11); False (and counted) when
        there is no pair or the send fails."""
        return self._send(self._send_target, datagram, to)

    def send_rtcp(self, datagram: bytes) -> bool:
        """Send on component 2's nominated pair (two components, RFC 8445 §4)."""
        return self._send(self._rtcp_target, datagram, None)

    def _send(self, target: tuple[Any, tuple[str, int]] | None, datagram: bytes,
              to: tuple[str, int] | None) -> bool:
        if target is None:
            self.stats.send_failures += 1
            return False
        transport, address = target
        address = to or address
        try:
            transport.sendto(datagram, address)
        except (OSError, RuntimeError, AttributeError) as exc:
            self.stats.send_failures += 1
            log.debug("ICE send to %s failed: %s", address, exc)
            return False
        self.stats.datagrams_sent += 1
        return True

    def take_over_socket(self) -> tuple[socket.socket, Callable[[bytes, tuple[str, int]], None]]:
        """The nominated host/srflx pair's socket, for the media stream to read (takeover.py),
        and where the STUN the stream reads on it must go. A relay pair stays with aioice."""
        if self._pair is None or self.selected_pair is None:
            raise IceError("socket takeover asked for before a pair was nominated")
        if self.selected_pair.kind is PairKind.RELAY:
            raise IceError("a relayed pair's socket stays with the TURN client")
        sock, stun_received = take_over(self._pair.protocol)
        self._send_target = (self._pair.protocol.transport, self._pair.remote_addr)
        return sock, stun_received

    async def close(self) -> None:
        """Stop checks and consent, delete TURN allocations, close every socket."""
        self._send_target = self._rtcp_target = None
        self._receiver = self._rtcp_receiver = None
        await self._connection.close()

    # -- called by _Connection ---------------------------------------------------------------

    def _nominated(self, pair: Any) -> None:
        if self.selected_pair is not None:
            return
        self.selected_pair = SelectedPair(IceCandidate.from_aioice(pair.local_candidate),
                                          IceCandidate.from_aioice(pair.remote_candidate),
                                          (pair.remote_addr[0], pair.remote_addr[1]))
        self._send_target = (pair.protocol.transport, pair.remote_addr)
        self._pair = pair

    def _rtcp_nominated(self, pair: Any) -> None:
        if self.rtcp_pair is not None:
            return
        self.rtcp_pair = SelectedPair(IceCandidate.from_aioice(pair.local_candidate),
                                      IceCandidate.from_aioice(pair.remote_candidate),
                                      (pair.remote_addr[0], pair.remote_addr[1]))
        self._rtcp_target = (pair.protocol.transport, pair.remote_addr)

    def _rtcp_datagram_received(self, data: bytes) -> None:
        if data and data[0] <= 3:  # RFC 7983 §7: STUN range, yet aioice could not parse it
            self.stats.stun_malformed += 1
            return
        receiver = self._rtcp_receiver
        if self.rtcp_pair is None or receiver is None:
            self.stats.data_before_nomination += 1
            return
        self.stats.datagrams_received += 1
        receiver(data)

    def _datagram_received(self, data: bytes) -> None:
        if data and data[0] <= 3:  # RFC 7983 §7: STUN range, yet aioice could not parse it
            self.stats.stun_malformed += 1
            return
        receiver = self._receiver
        if self.selected_pair is None or receiver is None:
            self.stats.data_before_nomination += 1
            return
        self.stats.datagrams_received += 1
        receiver(data)

    def _error_answer_allowed(self) -> bool:
        now = self._clock()
        self._tokens = min(ERROR_ANSWERS_PER_SECOND,
                           self._tokens + (now - self._tokens_at) * ERROR_ANSWERS_PER_SECOND)
        self._tokens_at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
