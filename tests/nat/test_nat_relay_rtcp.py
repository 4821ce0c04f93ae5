"""RTCP with a peer that has neither ICE nor rtcp-mux when our default candidate is a TURN relay.

Alice (behind a port-randomising router, coturn as STUN and TURN server) calls linphonec on the
public side with its defaults: ICE off, no a=rtcp-mux. Its answer has no ICE, so media goes
between our default candidate (the relayed one, RFC 8839 §4.2.3) and linphonec's c=/m=. RFC 3550
§11 would have linphonec send RTCP to the relay's port + 1, a port of coturn that is not our
allocation; our offer's a=rtcp (RFC 3605) names the relayed RTP port itself, so its RTCP comes
to our allocation, and ours reaches linphonec's port + 1 through the relay. The capture is on
the public namespace's loopback (coturn and linphonec share its address): it shows where each
side's SRTCP went; our RTT shows linphonec read our reports and answered them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from deskphone_tools.natlab import PUBLIC_ADDRESS, NatLab, NatMode, TurnServer
from deskphone_tools.natlab_phones import LabRegistrar, lab_phone
from deskphone_tools.peers.linphone import LinphonePeer
from tests.call_audio import tone
from tests.nat.test_nat_linphone import registered
from tests.netns.capture import Capture, read_frames
from tests.support import require_root, require_tool

pytestmark = [pytest.mark.netns, pytest.mark.interop, pytest.mark.timeout(90)]

LINPHONE_RTP = 40000


def test_relayed_default_takes_rtcp_from_a_peer_without_ice_or_mux(tmp_path: Path) -> None:
    require_root()
    for tool in ("ip", "nft", "turnserver", "kamailio", "linphonec", "dumpcap", "tshark"):
        require_tool(tool)
    (tmp_path / "a-capture.raw").write_bytes(tone(700.0, 30))
    with NatLab(modes=(NatMode.RANDOM, NatMode.RANDOM)) as lab, TurnServer(lab) as turn:
        registrar = LabRegistrar(lab)
        nat = (f'[nat]\nstun = "{PUBLIC_ADDRESS}:{turn.port}"'
               f'\nturn = "turn:{PUBLIC_ADDRESS}:{turn.port}?transport=udp"'
               f'\nturn_user = "{turn.username}"\nturn_password = "{turn.password}"')
        alice = lab_phone(tmp_path, lab.homes[0], "alice", "201", registrar.address, nat=nat,
                          audio=f'[audio]\ncapture_file = "{tmp_path / "a-capture.raw"}"')
        wrapper = tmp_path / "linphonec-in-public"
        wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {lab.public.name} '
                           f'{shutil.which("linphonec")} "$@"\n')
        os.chmod(wrapper, 0o755)
        (tmp_path / "bob").mkdir()
        linphone = LinphonePeer(
            tmp_path / "bob", user="bob", sip_port=5072, rtp_port=LINPHONE_RTP,
            host=PUBLIC_ADDRESS, auto_answer=True, program=str(wrapper), trace_level=6,
            extra_config={
                "sip": {"default_proxy": "0"},
                "proxy_0": {"reg_proxy": f"<sip:{registrar.address};transport=udp>",
                            "reg_identity": f'"bob" <sip:bob@{registrar.address}>',
                            "reg_expires": "60", "reg_sendregister": "1", "publish": "0"}})
        capture = Capture(tmp_path / "public-lo.pcap", "lo", namespace=lab.public.name)

        async def scenario() -> dict:
            await linphone.start()
            try:
                await registered(linphone)
                await asyncio.to_thread(alice.wait, 15, status="registered")
                await asyncio.to_thread(alice.ctl, "hook", "off")
                await asyncio.to_thread(alice.ctl, "press", "202#")
                await linphone.wait_for_sas(25)
                await asyncio.to_thread(alice.wait, 25, security="secure|verified")
                await asyncio.to_thread(alice.wait, 30, **{"media.rtcp_received": ">1"})
                state = await asyncio.to_thread(alice.state)
                await asyncio.to_thread(alice.ctl, "hook", "on")
                await linphone.wait_call_end(10)
                return state
            finally:
                await linphone.stop()

        try:
            registrar.start()
            capture.start()
            alice.start()
            state = asyncio.run(asyncio.wait_for(scenario(), 80))
        finally:
            alice.stop()
            capture.stop()
            registrar.close()
    context = f"{state}\n{alice.log_tail(60)}"
    assert "ice" in state and state["ice"]["path"] == "relayed", context
    relay_port = int(state["ice"]["local"].rsplit(":", 1)[1])  # our relayed default (c=/m=)
    media = state["media"]
    assert media["secure"] and media["srtp_auth_failures"] == 0, context
    assert media["rtt_ms"] is not None, context  # linphonec read our SRTCP and answered it
    rtcp = [f for f in read_frames(capture.pcap) if f.is_rtcp]
    summary = "\n".join(f"{f.src} -> {f.dst}:{f.dst_port} {f.second_byte}" for f in rtcp[:20])
    # linphonec's SRTCP: to the relayed RTP port, as a=rtcp said, never to its port + 1
    theirs = [f for f in rtcp if int(f.dst_port) not in (LINPHONE_RTP, LINPHONE_RTP + 1)]
    assert theirs and all(int(f.dst_port) == relay_port for f in theirs), summary
    # ours, through the relay: at linphonec's RTCP port (RFC 3550 §11), not its RTP port
    ours = [f for f in rtcp if int(f.dst_port) in (LINPHONE_RTP, LINPHONE_RTP + 1)]
    assert ours and all(int(f.dst_port) == LINPHONE_RTP + 1 for f in ours), summary
