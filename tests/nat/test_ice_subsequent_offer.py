"""A re-INVITE after nomination carries the nominated pair (RFC 8839 §4.4.1.2.2, §4.4.2).

A (with a STUN server, so ICE-controlling) calls B through a SIP relay that records the SDP.
Once the pair is nominated A puts B on hold: A's re-offer names the pair's local candidate in
c=/m=, carries that candidate only, and a=remote-candidates with B's side of the pair; B's
answer names its own side of the pair, without a=remote-candidates, and B (controlled) finds
that A's a=remote-candidates name the pair it is on. After resume the call is
still on the same pair and secure, with audio coming in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deskphone.sdp import SessionDescription
from deskphone_tools.testnet.sip_relay import Side, SipRelay
from tests.e2e_hostile.hostile import call_through_relay, phones_behind
from tests.nat.test_ice_loopback import StunResponder, stun  # noqa: F401 — the fixture
from tests.nat.test_lan_sdp_unchanged import Recording

pytestmark = [pytest.mark.timeout(60)]


def _pair_form(sdp: SessionDescription) -> tuple[str, list[str], list[str]]:
    (audio,) = sdp.media
    connection = sdp.media_connection(audio)
    assert connection is not None
    candidates = [c or "" for c in audio.attribute_values("candidate")]
    remote = [r or "" for r in audio.attribute_values("remote-candidates")]
    return f"{connection.address}:{audio.port}", candidates, remote


def _candidate_address(value: str) -> str:
    fields = value.split()
    return f"{fields[4]}:{fields[5]}"


def test_hold_after_nomination_reoffers_the_nominated_pair(tmp_path: Path,
                                                           stun: StunResponder) -> None:  # noqa: F811
    seen: dict[Side, list[SessionDescription]] = {}

    def relay(loop: Any, target: tuple[str, int]) -> SipRelay:
        return SipRelay(loop, target, lambda _call_id: Recording(seen))

    nat = f'[nat]\nstun = "127.0.0.1:{stun.port}"\n'
    with phones_behind(tmp_path, relay, extra_a=nat) as net:
        a, b = net.a, net.b
        call_through_relay(net)
        sa = net.wait(a, **{"media.packets_received": ">20"})
        sb = net.wait(b, **{"media.packets_received": ">20"})
        assert sa["ice"]["state"] == sb["ice"]["state"] == "connected", (sa, sb)
        pair_a, pair_b = sa["ice"]["local"], sb["ice"]["local"]
        offers_before = len(seen[Side.CALLER])
        a.ctl("hold")
        net.wait(b, direction="recvonly|inactive")
        reoffer = seen[Side.CALLER][offers_before]
        address, candidates, remote = _pair_form(reoffer)
        assert address == pair_a, (address, pair_a, reoffer.to_bytes())
        assert [_candidate_address(c) for c in candidates] == [pair_a], candidates
        assert remote == [f"1 {pair_b.replace(':', ' ')}"], remote
        reanswer = seen[Side.CALLEE][-1]
        address, candidates, remote = _pair_form(reanswer)
        assert address == pair_b and [_candidate_address(c) for c in candidates] == [pair_b]
        assert remote == [], reanswer.to_bytes()
        # B, controlled, checked A's a=remote-candidates against its nominated pair (RFC 8839
        # §5.2): they name it, nothing to change
        stats = b.state()["ice"]["stats"]
        assert (stats["remote_candidates_confirmed"], stats["remote_candidates_mismatched"]) \
            == (1, 0), stats
        a.ctl("hold")  # resume
        before = net.wait(b, direction="sendrecv")["media"]["packets_received"]
        sb = net.wait(b, **{"media.packets_received": f">{before + 20}"})
        assert sb["ice"]["local"] == pair_b and sb["media"]["secure"], sb
        a.ctl("hook", "on")
        net.wait(b, call="ended")
