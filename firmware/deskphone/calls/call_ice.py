"""ICE for a call's audio stream (RFC 8445 over SIP offer/answer, SDP of RFC 8839).

When. The caller offers ICE only when `[nat]` names a STUN or TURN server; the callee answers
with ICE only when the offer carried it (RFC 8839 §4.2.2: no ice-ufrag/ice-pwd in the offer, no
ICE). With no `[nat]` and a peer without ICE, nothing here runs: a LAN call's SDP and packets
are what they were (host only, no traffic to any server). A callee with no `[nat]` answering an
ICE offer gathers host candidates only.

How. The agent (media/ice, aioice) gathers before our SDP is written; its candidates and the
default candidate (the relayed one, else the srflx, else a host one: RFC 8839 §4.2.1.2) go in
the offer or answer. Once both descriptions are known the checks run (offerer controlling, RFC
8445 §6.1.1); after nomination the stream is carried on the pair: a host/srflx pair's socket is
taken over by the stream (one wake-up per frame, takeover.py), a relay pair goes through
aioice's TURN client. Until then the stream sends nothing (`await_path`), so ZRTP starts on the
pair and audio never leaves before ZRTP has keyed SRTP (RFC 6189 §4.6, as without ICE): ZRTP
runs end to end over the pair, a TURN server only ever sees SRTP.

After nomination. RFC 8839 §4.4.1.2.2 rules what a subsequent offer carries once a pair is
nominated: c=/m= name the nominated pair's local candidate, that is the only a=candidate, and
the controlling agent adds a=remote-candidates (the peer's side of the pair) so that an offer
overtaking the last checks cannot make the controlled agent pick another pair; an answer to a
subsequent offer follows the same rules without a=remote-candidates (§4.4.2). Our hold/resume
re-INVITEs and our answers to the peer's re-INVITEs are written that way (`local_attributes`).
What RFC 8839 does not ask for is a re-INVITE of its own just because the nominated pair is not
the default candidate (RFC 5245 §9.1.2.2's "updated offer" is gone from RFC 8445/8839: its only
purpose was telling ICE-unaware middleboxes, and Kamailio here never touches SDP), so none is
sent: it would cost a SIP round trip through every proxy on each call and change nothing for
the two agents, which already send on the pair. With two components (a liblinphone peer without
rtcp-mux) RTCP goes on component 2's nominated pair (RFC 8445 §4: mux was not agreed, so the
peer listens for RTCP there), and the subsequent SDP keeps the initial form.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from deskphone.calls.call import ActiveCall
from deskphone.config import Config
from deskphone.media.ice import (
    CandidateError,
    IceCandidate,
    IceDescription,
    IceError,
    IceParameters,
    IceServers,
    PairKind,
)
from deskphone.sdp import IceAttributes, Negotiated, SdpError, SessionDescription

log = logging.getLogger(__name__)


def offer_ice_components(offer: bytes) -> int:
    """0 when the first usable audio stream of `offer` has no ICE credentials; else how many
    ICE components to answer with: 1 with a=rtcp-mux, 2 when the peer keeps RTCP apart and
    offers component-2 candidates (liblinphone does, and treats an answer without a component
    2 default as an ICE mismatch, RFC 8445 §5.4: it then drops ICE altogether)."""
    try:
        session = SessionDescription.parse(offer)
    except SdpError:
        return 0
    for media in session.media:
        if media.media.lower() == "audio" and media.port != 0:
            ice = IceAttributes.from_description(session, media)
            if ice is None:
                return 0
            separate = not media.attribute_values("rtcp-mux") and any(
                len(c.split()) > 1 and c.split()[1] == "2" for c in ice.candidates)
            return 2 if separate else 1
    return 0


def _host_addresses(config: Config) -> list[str] | None:
    """Host candidates on [media] host when it names one address, else every interface."""
    try:
        address = ipaddress.ip_address(config.media.host)
    except ValueError:
        return None
    return None if address.is_unspecified else [config.media.host]


async def gather(call: ActiveCall, config: Config, components: int = 1) -> None:
    """Give the call an ICE agent with its candidates gathered; the stream waits for the pair."""
    assert call.media is not None
    servers = IceServers.from_settings(config.nat) if config.nat.configured else IceServers()
    from deskphone.media.ice.agent import IceAgent  # aioice only for calls with ICE (paths.py)

    agent = IceAgent(controlling=call.outgoing, servers=servers,
                     host_addresses=_host_addresses(config), components=components)
    call.ice = agent
    call.media.await_path()
    await agent.gather()


def local_attributes(call: ActiveCall, *, answer: bool = False
                     ) -> tuple[str, int, IceAttributes] | None:
    """The default candidate (c=, m=) and the ICE attributes for our SDP, None without ICE.
    After nomination, the subsequent-offer (or answer) form of RFC 8839 §4.4.1.2.2."""
    agent = call.ice
    if agent is None:
        return None
    description = agent.local_description
    pair = agent.selected_pair
    if pair is not None and agent.components == 1:
        remote = None if answer or not agent.controlling else (
            f"1 {pair.remote.host} {pair.remote.port}")
        attributes = IceAttributes(description.parameters.ufrag, description.parameters.pwd,
                                   (pair.local.to_sdp(),), remote_candidates=remote,
                                   rtcp=_rtcp_on(pair.local))
        return pair.local.host, pair.local.port, attributes
    default = agent.default_candidate()
    rtcp = _rtcp_on(default)
    if agent.components == 2:  # RFC 8839 §4.2.1.2 with RFC 3605: component 2's default
        rtcp = _rtcp_on(agent.default_candidate(2))
    attributes = IceAttributes(description.parameters.ufrag, description.parameters.pwd,
                               tuple(c.to_sdp() for c in description.candidates), rtcp=rtcp)
    return default.host, default.port, attributes


def _rtcp_on(candidate: IceCandidate) -> str:
    """a=rtcp (RFC 3605) naming `candidate`. With one component it names the RTP default
    itself (the form RFC 8858 §4.2 gives for mux-only): a peer without ICE that does not take
    a=rtcp-mux would otherwise send RTCP to the default's port + 1 (RFC 3550 §11), which on a
    TURN relay or a NAT mapping is nobody's port, or someone else's; told this, it sends RTCP
    where our RTP arrives, and the stream tells RTCP from RTP by payload type (RFC 5761 §4)."""
    return f"{candidate.port} IN IP4 {candidate.host}"


def remote_description(attributes: IceAttributes) -> tuple[IceDescription, int]:
    """The peer's ICE description from its SDP, and how many of its candidates were malformed
    (dropped, like the lines past the SDP layer's limit)."""
    candidates: list[IceCandidate] = []
    bad = attributes.dropped
    for value in attributes.candidates:
        try:
            candidates.append(IceCandidate.from_sdp(value))
        except CandidateError as exc:
            bad += 1
            log.info("ICE: peer candidate refused: %s", exc)
    parameters = IceParameters(attributes.ufrag, attributes.pwd, attributes.lite)
    return IceDescription(parameters, tuple(candidates)), bad


async def connect(call: ActiveCall, negotiated: Negotiated) -> None:
    """Run the checks against the peer's candidates and carry the stream on the nominated pair.
    Raises IceError (with the step) when there is no pair; the caller ends the call."""
    agent, media = call.ice, call.media
    assert agent is not None and media is not None
    if negotiated.remote_ice is None:  # RFC 8839 §4.2.3: a peer without ICE
        pair = await agent.use_default_candidate((negotiated.remote_address,
                                                  negotiated.remote_port))
        mux = negotiated.rtcp_mux
    else:
        remote, malformed = remote_description(negotiated.remote_ice)
        agent.stats.remote_candidates_refused["malformed"] += malformed
        try:
            await agent.set_remote(remote)
        except CandidateError as exc:
            raise IceError(f"the peer's ICE credentials are unusable: {exc}") from None
        pair = await agent.connect()
        # One component: RTP, RTCP and ZRTP on the pair (RFC 8839 §5.1.3). Two (the peer kept
        # RTCP apart, no rtcp-mux agreed): RTCP on component 2's pair, where the peer expects it.
        mux = agent.rtcp_pair is None
    if call.ended or call.media is None:
        return
    agent.set_receiver(media.relay_received)  # datagrams until the takeover, and a relay's
    if pair.kind is PairKind.RELAY:
        media.use_relay(agent.send, pair.remote_address, rtcp_mux=mux)
    else:
        sock, stun_received = agent.take_over_socket()
        media.adopt_socket(sock, pair.remote_address, stun_received, rtcp_mux=mux)
    rtcp_pair = agent.rtcp_pair if negotiated.remote_ice is not None else None
    if rtcp_pair is not None:
        agent.set_rtcp_receiver(media.rtcp_pair_received)
        media.use_rtcp_pair(agent.send_rtcp, rtcp_pair.remote_address)
    call.ice_ready = True


async def run(call: ActiveCall, negotiated: Negotiated,
              failed: Callable[[ActiveCall], None]) -> None:
    """`connect`, then ZRTP on the pair when it was waiting for one; `failed(call)` (the call
    layer ends the call) when ICE found no pair."""
    try:
        await connect(call, negotiated)
    except IceError as exc:
        log.warning("call %s: %s", call.call_id, exc)
        failed(call)
        return
    if not call.ended and call.zrtp is not None and call.zrtp_after_ice:
        call.zrtp.start()


def reoffered(call: ActiveCall, negotiated: Negotiated) -> None:
    """The peer's subsequent offer (a re-INVITE) as seen by ICE. Only its a=remote-candidates
    matters here (RFC 8839 §5.2, sent by the controlling agent once it has nominated, §4.4.1.2.2):
    the controlled agent must then be on the pair it names (RFC 5245 §9.2.2.3, kept by RFC
    8839). Our agent only nominates what the controlling peer nominated (USE-CANDIDATE, RFC
    8445 §8.1.1), so with a pair in place the list names it and there is nothing to change:
    that is checked and counted. Before nomination aioice will take the same pair from the
    peer's USE-CANDIDATE check. A list naming another address means the peer disagrees on
    the pair; the stream cannot move off a pair it owns, so that is logged and counted, and
    media stays where both agents' checks proved a path. We never act on it as controlling
    agent (a controlled peer must not send it)."""
    agent, attributes = call.ice, negotiated.remote_ice
    if agent is None or attributes is None or not attributes.remote_candidates:
        return
    pair = agent.selected_pair
    if agent.controlling or pair is None:
        return
    if pair.named_by(attributes.remote_candidates, agent.local_description.candidates):
        agent.stats.remote_candidates_confirmed += 1
    else:
        agent.stats.remote_candidates_mismatched += 1
        log.warning("call %s: the peer's a=remote-candidates name another pair than the one "
                    "nominated (%s); staying on it", call.call_id, pair.describe())


def ice_info(call: ActiveCall) -> dict[str, Any] | None:
    """What `state` says of the path: direct (host/srflx pair) or relayed (TURN), the pair,
    and the agent's counters; no ufrag, no password."""
    agent = call.ice
    if agent is None:
        return None
    stats = asdict(agent.stats)
    stats["remote_candidates_refused"] = dict(agent.stats.remote_candidates_refused)
    pair = agent.selected_pair
    try:
        local = sorted(c.type for c in agent.local_description.candidates)
    except IceError:  # still gathering
        return {"state": "gathering", "stats": stats}
    info: dict[str, Any] = {"state": "connected" if call.ice_ready else "checking",
                            "stats": stats, "local_candidates": local}
    if pair is not None:
        info.update(path="direct" if pair.kind.direct else "relayed", kind=pair.kind.value,
                    pair=pair.describe(), local=f"{pair.local.host}:{pair.local.port}",
                    remote=f"{pair.remote_address[0]}:{pair.remote_address[1]}",
                    encrypted_end_to_end=True)  # ZRTP runs over the pair either way
    if agent.rtcp_pair is not None:  # two components: RTCP's own pair
        address = agent.rtcp_pair.remote_address
        info["rtcp_remote"] = f"{address[0]}:{address[1]}"
    return info


def path_label(call: ActiveCall) -> str:
    """One short line for the call-quality screen: 'direct srflx', 'relayed TURN', 'direct'."""
    agent = call.ice
    if agent is None or agent.selected_pair is None:
        return "direct" if agent is None else "checking"
    kind = agent.selected_pair.kind
    return f"direct {kind.value}" if kind.direct else "relayed TURN"


async def close(call: ActiveCall) -> None:
    agent, call.ice = call.ice, None
    if agent is not None:
        try:
            await agent.close()
        except (OSError, RuntimeError, ConnectionError) as exc:
            log.debug("ICE close: %s", exc)
