"""deskphone <-> linphonec with ICE on (liblinphone's own agent), each behind its own
port-preserving NAT router, both registered with the lab's Kamailio, calls both directions.

linphonec runs inside home 2 (`ip netns exec`, through a two-line wrapper given to the peer
harness as its program) with `[net] firewall_policy=ice` and coturn as its STUN server, and a
`[proxy_0]` registering bob (linphonec prints nothing when that succeeds: the trace says it).
When deskphone calls, its ICE offer has a=rtcp-mux and one component; linphonec answers so. When
linphonec calls it offers two components and no rtcp-mux; an answer with component 1 only made
it declare an ICE mismatch ("default remote candidate not found for component ID 2") and drop
ICE, so the phone answers such an offer with both components and a=rtcp naming component 2's
default (RFC 3605). Either way the pair is straight between the two routers.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deskphone_tools.harness import PhoneProcess
from deskphone_tools.natlab import HOME_ADDRESS, PUBLIC_ADDRESS, ROUTER_WAN, NatLab, TurnServer
from deskphone_tools.natlab_phones import LabRegistrar, lab_phone
from deskphone_tools.peers.linphone import LinphonePeer
from tests.support import require_root, require_tool

pytestmark = [pytest.mark.netns, pytest.mark.interop, pytest.mark.timeout(90)]


@dataclass
class Setup:
    lab: NatLab
    registrar: str
    alice: PhoneProcess
    linphone: LinphonePeer


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    require_root()
    for tool in ("ip", "nft", "turnserver", "kamailio", "linphonec"):
        require_tool(tool)
    with NatLab() as lab, TurnServer(lab) as turn:
        registrar = LabRegistrar(lab)
        stun = f"{PUBLIC_ADDRESS}:{turn.port}"
        alice = lab_phone(tmp_path, lab.homes[0], "alice", "201", registrar.address,
                          nat=f'[nat]\nstun = "{stun}"', audio="")
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
        try:
            registrar.start()
            alice.start()
            yield Setup(lab, registrar.address, alice, linphone)
        finally:
            alice.stop()
            registrar.close()


async def registered(linphone: LinphonePeer, timeout: float = 15) -> None:
    """linphonec prints nothing on stdout when its REGISTER succeeds; its trace log does."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while "to [LinphoneRegistrationOk]" not in linphone.trace_path.read_text(errors="replace"):
        assert loop.time() < deadline, f"linphonec never registered:\n{linphone.tail()}"
        await asyncio.sleep(0.1)  # polling its log for the event, not timing it


@pytest.mark.parametrize("we_call", [True, False], ids=["deskphone-calls", "linphonec-calls"])
def test_deskphone_and_linphonec_with_ice_behind_two_nats(setup: Setup, we_call: bool) -> None:
    alice, linphone = setup.alice, setup.linphone

    async def scenario() -> tuple[dict, str]:
        await linphone.start()
        try:
            await registered(linphone)
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
            state = await asyncio.to_thread(alice.state)
            await asyncio.to_thread(alice.ctl, "hook", "on")
            await linphone.wait_call_end(10)
            return state, sas
        finally:
            await linphone.stop()

    state, sas = asyncio.run(asyncio.wait_for(scenario(), 70))
    context = f"{state}\n{alice.log_tail(60)}\n{linphone.tail(40)}"
    assert state["sas"] == sas, context
    ice = state["ice"]
    assert ice["state"] == "connected" and ice["path"] == "direct", context
    assert ice["remote"].startswith(f"{ROUTER_WAN[1]}:"), context  # straight to router 2
