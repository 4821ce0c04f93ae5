"""Odd ICE candidates in a real offer reaching a running phone (issue 14, "Bad input").

A (with a STUN server) calls B through a SIP relay that leaves the media alone and appends to
A's offer, after A's own candidates: candidates at 0.0.0.0, multicast, broadcast, 240/4, port
0, a host name, component 2, TCP, then 40 low-priority loopback candidates (more than the
agent's cap of 20 pairs) and 400 more lines (past the SDP layer's cap of 64). B must refuse and
count each by reason in `state`, check at most 20, never crash, and still secure the call on
A's real candidate.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from deskphone.media.ice.candidates import MAX_REMOTE_CANDIDATES
from deskphone.sdp import SessionDescription
from deskphone.sdp.fields import Attribute
from deskphone.sdp.ice import MAX_CANDIDATE_LINES
from deskphone_tools.testnet.sip_relay import Side, SipRelay
from tests.e2e_hostile.hostile import call_through_relay, phones_behind
from tests.nat.test_ice_loopback import StunResponder, stun  # noqa: F401 — the fixture
from tests.netns.capture import Capture, read_frames
from tests.support import require_root, require_tool

pytestmark = [pytest.mark.timeout(60)]

ODD = {
    "unspecified": "0.0.0.0 40000 typ host",
    "multicast": "224.0.0.1 40000 typ host",
    "broadcast": "255.255.255.255 40000 typ host",
    "reserved": "240.0.0.1 40000 typ host",
    "port": "127.0.0.1 0 typ host",
    "hostname": "evil.example 40000 typ host",
}
SPAM = 40
PAST_THE_CAP = 400


def _hostile_candidates() -> list[str]:
    # above A's own host candidates (2130706431 and below): an agent that took them would
    # check them first (RFC 8445 §6.1.2.3), so a capture would see it
    lines = [f"x{n} 1 udp 2147483000 {where}" for n, where in enumerate(ODD.values())]
    lines.append("c2 2 udp 2147483000 127.0.0.1 40002 typ host")  # component 2: no rtcp-mux
    lines.append("t1 1 tcp 2147483000 127.0.0.1 40003 typ host tcptype passive")
    lines += [f"s{n} 1 udp 1 127.0.1.{n + 1} 40000 typ host" for n in range(SPAM)]
    lines += [f"p{n} 1 udp 1 127.0.2.{n % 250 + 1} {41000 + n} typ host"
              for n in range(PAST_THE_CAP)]
    return lines


class CandidateStuffing:
    """The media half of a relayed call: A's offer gets the hostile candidates, nothing else
    changes (media goes straight between the phones)."""

    def sdp_from(self, sender: Side, sdp: SessionDescription) -> SessionDescription:
        if sender is not Side.CALLER:
            return sdp
        audio = sdp.media[0]
        extra = tuple(Attribute("candidate", value) for value in _hostile_candidates())
        stuffed = dataclasses.replace(audio, attributes=audio.attributes + extra)
        return sdp.with_media((stuffed, *sdp.media[1:]))

    def close(self) -> None:
        pass


def _relay(loop: Any, target: tuple[str, int]) -> SipRelay:
    return SipRelay(loop, target, lambda _call_id: CandidateStuffing())


def test_odd_and_thousands_of_candidates_are_refused_capped_and_counted(
        tmp_path: Path, stun: StunResponder) -> None:  # noqa: F811
    nat = f'[nat]\nstun = "127.0.0.1:{stun.port}"\n'
    with phones_behind(tmp_path, _relay, extra_a=nat) as net:
        sa, sb = call_through_relay(net)
        assert sa["sas"] and sa["sas"] == sb["sas"], net.diagnostics()
        sb = net.wait(net.b, **{"media.packets_received": ">20"})
        ice = sb["ice"]
        context = f"{ice}\n{net.diagnostics()}"
        assert ice["state"] == "connected" and ice["path"] == "direct", context
        assert ice["remote"].startswith("127.0.0.1:"), context  # A's own candidate
        refused = ice["stats"]["remote_candidates_refused"]
        for reason in ODD:
            assert refused.get(reason) == 1, (reason, context)
        assert refused.get("component") == 1 and refused.get("transport") == 1, context
        assert ice["stats"]["remote_candidates_accepted"] <= MAX_REMOTE_CANDIDATES, context
        assert refused.get("limit", 0) >= SPAM - MAX_REMOTE_CANDIDATES, context
        # the lines past the SDP layer's cap never reach the agent: counted, not parsed
        past_the_cap = len(_hostile_candidates()) - MAX_CANDIDATE_LINES
        assert past_the_cap > 0 and refused.get("malformed", 0) >= past_the_cap, context
        assert sb["media"]["secure"], context
        net.a.ctl("hook", "on")
        net.wait(net.b, call="ended")


def test_refused_candidates_are_never_sent_to(tmp_path: Path,
                                              stun: StunResponder) -> None:  # noqa: F811
    """The same call under a capture of every interface: every datagram from B's ICE socket goes to
    A's own candidate or another accepted one, never to a candidate B refused (0.0.0.0,
    multicast, broadcast, 240/4, port 0, component 2, TCP, past the SDP layer's cap). B's
    checks and media to A's real candidate are the positive control."""
    require_root()
    for tool in ("dumpcap", "tshark"):
        require_tool(tool)
    capture = Capture(tmp_path / "any.pcap", "any", capture_filter="udp")
    nat = f'[nat]\nstun = "127.0.0.1:{stun.port}"\n'
    capture.start()
    try:
        with phones_behind(tmp_path, _relay, extra_a=nat) as net:
            call_through_relay(net)
            sb = net.wait(net.b, **{"media.packets_received": ">20"})
            net.a.ctl("hook", "on")
            net.wait(net.b, call="ended")
    finally:
        capture.stop()
    ice = sb["ice"]
    b_port = ice["local"].rsplit(":", 1)[1]  # B's one ICE socket (one host address)
    frames = read_frames(capture.pcap)
    targets = {(f.dst, int(f.dst_port)) for f in frames if f.src_port == b_port and f.dst_port}
    summary = f"{ice}\n{sorted(targets)[:40]}"
    host, port = ice["remote"].rsplit(":", 1)
    assert (host, int(port)) in targets, summary  # the capture saw B's traffic to A
    refused = {(where.split()[0], int(where.split()[1])) for where in ODD.values()}
    refused |= {("127.0.0.1", 40002), ("127.0.0.1", 40003)}  # component 2, TCP
    refused.add(("127.0.0.1", 40000))  # where Linux delivers a datagram sent to 0.0.0.0
    assert not targets & refused, summary
    assert not [t for t in targets if t[0].startswith("127.0.2.")], summary  # past the SDP cap
    others = targets - {(host, int(port))}
    assert len(others) < ice["stats"]["remote_candidates_accepted"], summary
