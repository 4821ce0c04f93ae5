"""Without [nat] a call asks no STUN or TURN server anything (issue 14, item 2).

Alice (home 1, behind a NAT router) calls Carol (public side) through Kamailio; neither has a
[nat] section, while coturn runs on the public side at its usual place in this lab. A capture
of every interface of the public namespace (the bridge the router's traffic crosses, and the
loopback that Carol's traffic to a server on her own address would take) shows no datagram to
coturn's port and no STUN Binding request anywhere but the SIP flow's own keep-alive checks to
the registrar (RFC 5626 §4.4.2, on port 5060), while the call itself is secure with media
flowing (the positive control: the capture sees the SRTP).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from deskphone_tools.natlab import PUBLIC_ADDRESS, ROUTER_WAN, NatLab, TurnServer
from deskphone_tools.natlab_phones import LabRegistrar, lab_phone
from tests.call_audio import tone
from tests.netns.capture import Capture, read_frames
from tests.support import require_root, require_tool

pytestmark = [pytest.mark.netns, pytest.mark.timeout(90)]


def test_a_call_without_nat_config_sends_nothing_to_stun_or_turn(tmp_path: Path) -> None:
    require_root()
    for tool in ("ip", "nft", "turnserver", "kamailio", "dumpcap", "tshark"):
        require_tool(tool)
    (tmp_path / "a-capture.raw").write_bytes(tone(1000.0, 30))
    with NatLab() as lab, TurnServer(lab) as turn:
        registrar = LabRegistrar(lab)
        alice = lab_phone(tmp_path, lab.homes[0], "alice", "201", registrar.address, nat="",
                          audio=f'[audio]\ncapture_file = "{tmp_path / "a-capture.raw"}"')
        carol = lab_phone(tmp_path, lab.public, "carol", "203", registrar.address, nat="",
                          audio="")
        capture = Capture(tmp_path / "public.pcap", "any", namespace=lab.public.name,
                          capture_filter="udp or tcp")
        try:
            registrar.start()
            capture.start()
            alice.start()
            carol.start()
            for phone in (alice, carol):
                phone.wait(status="registered", timeout=15)
            alice.ctl("hook", "off")
            alice.ctl("press", "203#")
            carol.wait(call="ringing")
            carol.ctl("hook", "off")
            sa = alice.wait(security="secure|verified", call="in_call", timeout=25)
            sc = carol.wait(**{"media.packets_received": ">50"})
            alice.wait(**{"media.packets_received": ">50"})
            alice.ctl("hook", "on")
            carol.wait(call="ended")
        finally:
            for phone in (alice, carol):
                phone.stop()
            capture.stop()
            registrar.close()
    context = f"{sa}\n{sc}"
    assert "ice" not in sa and "ice" not in sc, context  # no [nat], no ICE offer
    frames = read_frames(capture.pcap)
    media = [f for f in frames if f.is_rtp and {f.src, f.dst} == {ROUTER_WAN[0], PUBLIC_ADDRESS}]
    assert len(media) > 100, context  # the capture saw the call's SRTP both ways
    to_turn = [f for f in frames if f.dst == PUBLIC_ADDRESS and f.dst_port == str(turn.port)]
    assert not to_turn, [f"{f.src}:{f.src_port} -> {f.dst}:{f.dst_port}" for f in to_turn]
    binding = [f for f in frames if f.first_byte == 0x00 and f.second_byte == 0x01
               and f.dst_port != "5060"]
    assert not binding, [f"{f.src}:{f.src_port} -> {f.dst}:{f.dst_port}" for f in binding]
