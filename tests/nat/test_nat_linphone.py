"""deskphone <-> linphonec with ICE on (liblinphone's own agent), each behind its own
port-preserving NAT router, both registered with the lab's Kamailio, calls both directions.

linphonec runs inside home 2 (`ip netns exec`, through a two-line wrapper given to the peer
harness as its program) with `[net] firewall_policy=ice` and coturn as its STUN server, and a
`[proxy_0]` registering bob (linphonec prints nothing when that succeeds: the trace says it).
When deskphone calls, its ICE offer has a=rtcp-mux and one component; linphonec answers so. When
linphonec calls it offers two components and no rtcp-mux; an answer with component 1 only made
it declare an ICE mismatch ("default remote candidate not found for component ID 2") and drop
ICE, so the phone answers such an offer with both components and a=rtcp naming component 2's
default (RFC 3605). Either way the pair is straight between the two routers, and tones go both
ways on it (linphonec plays a WAV and records what it hears; our handset is a capture file).
With two components RTCP goes on component 2's pair (mux was not agreed): the capture on the
public side shows our SRTCP reaching linphonec's component-2 candidate, and our round-trip time
(RFC 3550 §6.4.1: linphonec's reports echo our sender reports) shows it was read there.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from deskphone_tools.harness import PhoneProcess
from deskphone_tools.natlab import HOME_ADDRESS, PUBLIC_ADDRESS, ROUTER_WAN, NatLab, TurnServer
from deskphone_tools.natlab_phones import LabRegistrar, lab_phone
from deskphone_tools.peers.linphone import LinphonePeer
from tests.call_audio import tone
from tests.netns.capture import Capture, read_frames
from tests.peers.audio import dominant_frequency, loud_part, read_wav, write_tone_wav
from tests.support import require_root, require_tool

RATE = 8000
OUR_TONE_HZ, LINPHONE_TONE_HZ = 700.0, 1000.0

pytestmark = [pytest.mark.netns, pytest.mark.interop, pytest.mark.timeout(90)]


@dataclass
class Setup:
    lab: NatLab
    registrar: str
    alice: PhoneProcess
    linphone: LinphonePeer
    capture: Capture
    root: Path


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    require_root()
    for tool in ("ip", "nft", "turnserver", "kamailio", "linphonec", "dumpcap", "tshark"):
        require_tool(tool)
    with NatLab() as lab, TurnServer(lab) as turn:
        registrar = LabRegistrar(lab)
        stun = f"{PUBLIC_ADDRESS}:{turn.port}"
        (tmp_path / "a-capture.raw").write_bytes(tone(OUR_TONE_HZ, 30))
        alice = lab_phone(tmp_path, lab.homes[0], "alice", "201", registrar.address,
                          nat=f'[nat]\nstun = "{stun}"',
                          audio=f'[audio]\ncapture_file = "{tmp_path / "a-capture.raw"}"\n'
                                f'playback_file = "{tmp_path / "a-play.raw"}"')
        wrapper = tmp_path / "linphonec-in-home2"
        wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {lab.homes[1].name} '
                           f'{shutil.which("linphonec")} "$@"\n')
        os.chmod(wrapper, 0o755)
        (tmp_path / "bob").mkdir()
        linphone = LinphonePeer(
            tmp_path / "bob", user="bob", sip_port=5072, rtp_port=40000, host=HOME_ADDRESS[1],
            auto_answer=True, program=str(wrapper), trace_level=6,  # registration shows in the trace only
            extra_config={
                "net": {"firewall_policy": "ice", "stun_server": stun},
                "sip": {"default_proxy": "0"},
                "proxy_0": {"reg_proxy": f"<sip:{registrar.address};transport=udp>",
                            "reg_identity": f'"bob" <sip:bob@{registrar.address}>',
                            "reg_expires": "60", "reg_sendregister": "1", "publish": "0"}})
        capture = Capture(tmp_path / "public.pcap", "inet", namespace=lab.public.name)
        try:
            registrar.start()
            capture.start()
            alice.start()
            yield Setup(lab, registrar.address, alice, linphone, capture, tmp_path)
        finally:
            alice.stop()
            capture.stop()
            registrar.close()


async def registered(linphone: LinphonePeer, timeout: float = 15) -> None:
    """linphonec prints nothing on stdout when its REGISTER succeeds; its trace log does."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while "to [LinphoneRegistrationOk]" not in linphone.trace_path.read_text(errors="replace"):
        assert loop.time() < deadline, f"linphonec never registered:\n{linphone.tail()}"
        await asyncio.sleep(0.1)  # polling its log for the event, not timing it


def check_tones(setup: Setup, heard_by_linphone: Path, context: str) -> None:
    """Our earpiece played linphonec's tone, and linphonec recorded ours, decrypted."""
    played = np.frombuffer((setup.root / "a-play.raw").read_bytes(), "<i2").astype(float)
    heard = loud_part(played, RATE)
    assert len(heard) >= RATE, f"only {len(heard) / RATE:.2f} s of linphonec's tone\n{context}"
    frequency = dominant_frequency(heard, RATE)
    assert abs(frequency - LINPHONE_TONE_HZ) < 20, f"we heard {frequency:.1f} Hz\n{context}"
    rate, recorded = read_wav(heard_by_linphone)
    heard = loud_part(recorded, rate)
    assert len(heard) >= rate, f"linphonec recorded {len(heard) / rate:.2f} s\n{context}"
    frequency = dominant_frequency(heard, rate)
    assert abs(frequency - OUR_TONE_HZ) < 20, f"linphonec heard {frequency:.1f} Hz\n{context}"


async def wait_file_size(path: Path, min_bytes: int, timeout: float) -> None:
    """linphonec prints nothing for received audio: its recording growing is the event."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (path.exists() and path.stat().st_size >= min_bytes):
        assert loop.time() < deadline, f"{path}: under {min_bytes} bytes after {timeout} s"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("we_call", [True, False], ids=["deskphone-calls", "linphonec-calls"])
def test_deskphone_and_linphonec_with_ice_behind_two_nats(setup: Setup, we_call: bool) -> None:
    alice, linphone = setup.alice, setup.linphone
    wav = write_tone_wav(setup.root / "linphone-says.wav", LINPHONE_TONE_HZ, seconds=2.5)
    heard_by_linphone = setup.root / "linphone-heard.wav"

    async def scenario() -> tuple[dict, str]:
        await linphone.start()
        try:
            await registered(linphone)
            await linphone.record(heard_by_linphone)  # applies when the stream starts
            await asyncio.to_thread(alice.wait, 15, status="registered")
            if we_call:
                await asyncio.to_thread(alice.ctl, "hook", "off")
                await asyncio.to_thread(alice.ctl, "press", "202#")
            else:
                await linphone.call(f"sip:alice@{setup.registrar}")
                await asyncio.to_thread(alice.wait, 15, call="ringing")
                await asyncio.to_thread(alice.ctl, "hook", "off")
            sas = await linphone.wait_for_sas(25)
            state = await asyncio.to_thread(alice.wait, 25, security="secure|verified")
            before = state["media"]["packets_received"]
            await linphone.play(wav)
            await asyncio.to_thread(alice.wait, 15,
                                    **{"media.packets_received": f">{before + 90}"})
            await wait_file_size(heard_by_linphone, int(1.5 * 2 * RATE), timeout=15)
            if we_call:  # our SRTCP (RFC 3550 §6.2: a report within 7.5 s) on the pair
                await asyncio.to_thread(alice.wait, 25, **{"media.packets_sent": ">500"})
            else:  # linphonec's reports reached us and one echoed our SR (a RTT)
                await asyncio.to_thread(alice.wait, 25, **{"media.rtcp_received": ">1"})
            state = await asyncio.to_thread(alice.state)
            await asyncio.to_thread(alice.ctl, "hook", "on")
            await linphone.wait_call_end(10)
            return state, sas
        finally:
            await linphone.stop()

    state, sas = asyncio.run(asyncio.wait_for(scenario(), 80))
    context = f"{state}\n{alice.log_tail(60)}\n{linphone.tail(40)}"
    assert state["sas"] == sas, context
    ice = state["ice"]
    assert ice["state"] == "connected" and ice["path"] == "direct", context
    assert ice["remote"].startswith(f"{ROUTER_WAN[1]}:"), context  # straight to router 2
    media = state["media"]
    assert media["srtp_auth_failures"] == 0 and media["dropped_foreign"] == 0, context
    check_tones(setup, heard_by_linphone, context)
    alice.stop()
    setup.capture.stop()
    frames = read_frames(setup.capture.pcap)
    ours = [f for f in frames if f.src == ROUTER_WAN[0] and f.is_rtcp]
    summary = "\n".join(f"{f.src} -> {f.dst}:{f.dst_port} {f.first_byte},{f.second_byte}"
                        for f in ours[:20])
    if we_call:  # one component, a=rtcp-mux agreed: SRTCP on the RTP pair
        assert "rtcp_remote" not in ice, context
        assert ours and all(f"{f.dst}:{f.dst_port}" == ice["remote"] for f in ours), summary
        # (linphonec sends its own muxed RTCP from its component-2 port, which our router's
        # conntrack rightly drops: not a flow we opened. So no RTT is asked for here.)
    else:  # two components, no mux: SRTCP on component 2's pair only
        rtcp_remote = ice["rtcp_remote"]
        assert rtcp_remote.startswith(f"{ROUTER_WAN[1]}:") and rtcp_remote != ice["remote"], \
            context
        assert ours and all(f"{f.dst}:{f.dst_port}" == rtcp_remote for f in ours), summary
        assert media["rtt_ms"] is not None, context  # linphonec read our SRTCP and answered
