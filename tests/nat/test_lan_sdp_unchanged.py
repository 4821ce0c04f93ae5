"""A LAN call with no [nat] section is the call it was before ICE (issue 14 item 2).

Two phones without any [nat] configuration call through a SIP relay that only records the SDP
(media goes straight between them). The offer and the answer must have the pre-ICE form: no
a=ice-ufrag, a=ice-pwd, a=candidate, a=end-of-candidates, a=ice-lite or a=rtcp (RFC 3605), only
the attributes the phone wrote before ICE existed, c= naming the phone's media host and m= the
port its peer really sends to (each side's `remote_media`), one audio stream; and `state` has no
ICE at all. Since nothing is configured, no server can be reached: the phone has no ICE agent,
so there is no socket that could talk to one (tests/nat/test_ice_loopback.py checks a STUN
server that is running but not configured sees nothing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deskphone.sdp import SessionDescription
from deskphone_tools.testnet.sip_relay import Side, SipRelay
from tests.e2e_hostile.hostile import call_through_relay, phones_behind

pytestmark = [pytest.mark.timeout(60)]

# What deskphone's SDP carried before ICE (sdp/offer_answer.py `_attributes`, commit 5366367).
PRE_ICE_ATTRIBUTES = {"rtpmap", "fmtp", "ptime", "sendrecv", "sendonly", "recvonly", "inactive",
                      "rtcp-mux", "zrtp-hash"}
ICE_ATTRIBUTES = {"ice-ufrag", "ice-pwd", "candidate", "end-of-candidates", "ice-lite",
                  "ice-options", "rtcp", "remote-candidates"}


class Recording:
    def __init__(self, seen: dict[Side, list[SessionDescription]]) -> None:
        self.seen = seen

    def sdp_from(self, sender: Side, sdp: SessionDescription) -> SessionDescription:
        self.seen.setdefault(sender, []).append(sdp)
        return sdp

    def close(self) -> None:
        pass


def _check_pre_ice_form(sdp: SessionDescription, peer_state: dict[str, Any]) -> None:
    names = {a.name for a in sdp.attributes}
    (audio,) = sdp.media
    names |= {a.name for a in audio.attributes}
    assert not names & ICE_ATTRIBUTES, names
    assert names <= PRE_ICE_ATTRIBUTES, names - PRE_ICE_ATTRIBUTES
    connection = sdp.media_connection(audio)
    assert connection is not None and connection.address == "127.0.0.1", sdp.to_bytes()
    # the peer sends its media where c=/m= say, not to some other candidate
    assert peer_state["remote_media"] == f"{connection.address}:{audio.port}", peer_state


def test_lan_call_without_nat_config_keeps_the_pre_ice_offer_and_answer(tmp_path: Path) -> None:
    seen: dict[Side, list[SessionDescription]] = {}

    def relay(loop: Any, target: tuple[str, int]) -> SipRelay:
        return SipRelay(loop, target, lambda _call_id: Recording(seen))

    with phones_behind(tmp_path, relay) as net:
        sa, sb = call_through_relay(net)
        assert sa["sas"] and sa["sas"] == sb["sas"], net.diagnostics()
        sa = net.wait(net.a, **{"media.packets_received": ">20"})
        sb = net.wait(net.b, **{"media.packets_received": ">20"})
        assert "ice" not in sa and "ice" not in sb and "path" not in sa, (sa, sb)
        (offer,) = seen[Side.CALLER]
        answer = seen[Side.CALLEE][-1]  # 200 OK (a 180 may carry none)
        _check_pre_ice_form(offer, sb)
        _check_pre_ice_form(answer, sa)
        assert sa["media"]["receive_mode"] == sb["media"]["receive_mode"] == "drained", (sa, sb)
        net.a.ctl("hook", "on")
        net.wait(net.b, call="ended")
