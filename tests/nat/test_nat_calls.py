"""Calls between two homes behind real NAT routers (the NAT lab), ICE from aioice, ZRTP end to end.

Each home runs a real `deskphone run --sim` process registered with Kamailio on the public side
(signalling only: it never touches SDP or media); coturn there is the STUN server, and the TURN
relay of the symmetric-NAT case. A capture on the public bridge shows where media really went:
with port-preserving routers, straight between the two routers' public addresses (srflx pair,
hole punching); with port-randomising routers, through coturn's relay, still ZRTP-secured with
the same SAS on both phones.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deskphone_tools.harness import PhoneError
from deskphone_tools.natlab import PUBLIC_ADDRESS, ROUTER_WAN, NatLab, NatMode, TurnServer
from deskphone_tools.natlab_phones import LabPhone, LabRegistrar, lab_phone
from tests.call_audio import dominant_frequency, tone
from tests.netns.capture import Capture, read_frames
from tests.support import require_root, require_tool

pytestmark = [pytest.mark.netns, pytest.mark.timeout(90)]

RATE = 8000
TONE_A, TONE_B = 1000.0, 600.0


@dataclass
class NatCall:
    lab: NatLab
    turn: TurnServer
    registrar: LabRegistrar
    alice: LabPhone
    bob: LabPhone
    capture: Capture
    earpiece_a: Path
    earpiece_b: Path

    def context(self, *parts: object) -> str:
        return "\n".join([*map(str, parts), "--- alice", self.alice.log_tail(60), "--- bob",
                          self.bob.log_tail(60), "--- kamailio", self.registrar.log_tail(1500),
                          "--- coturn", self.turn.log_tail(60)])


def _nat_call(tmp_path: Path, mode: NatMode, *, relay: bool) -> Iterator[NatCall]:
    require_root()
    for tool in ("ip", "nft", "turnserver", "kamailio", "dumpcap", "tshark"):
        require_tool(tool)
    (tmp_path / "a-capture.raw").write_bytes(tone(TONE_A, 30))
    (tmp_path / "b-capture.raw").write_bytes(tone(TONE_B, 30))
    earpiece_a, earpiece_b = tmp_path / "a-play.raw", tmp_path / "b-play.raw"
    with NatLab(modes=(mode, mode)) as lab, TurnServer(lab) as turn:
        registrar = LabRegistrar(lab)
        nat = f'[nat]\nstun = "{PUBLIC_ADDRESS}:{turn.port}"'
        if relay:
            nat += (f'\nturn = "turn:{PUBLIC_ADDRESS}:{turn.port}?transport=udp"'
                    f'\nturn_user = "{turn.username}"\nturn_password = "{turn.password}"')
        alice = lab_phone(tmp_path, lab.homes[0], "alice", "201", registrar.address, nat=nat,
                          audio=f'[audio]\ncapture_file = "{tmp_path / "a-capture.raw"}"\n'
                                f'playback_file = "{earpiece_a}"')
        bob = lab_phone(tmp_path, lab.homes[1], "bob", "202", registrar.address, nat=nat,
                        audio=f'[audio]\ncapture_file = "{tmp_path / "b-capture.raw"}"\n'
                              f'playback_file = "{earpiece_b}"')
        capture = Capture(tmp_path / "public.pcap", "inet", namespace=lab.public.name)
        try:
            registrar.start()
            capture.start()
            alice.start()
            bob.start()
            yield NatCall(lab, turn, registrar, alice, bob, capture, earpiece_a, earpiece_b)
        finally:
            for phone in (alice, bob):
                phone.stop()
            capture.stop()
            registrar.close()
    assert not lab.left_behind(), f"namespaces left behind: {lab.left_behind()}"


@pytest.fixture
def preserving_call(tmp_path: Path) -> Iterator[NatCall]:
    yield from _nat_call(tmp_path, NatMode.PORT_PRESERVING, relay=False)


@pytest.fixture
def random_call(tmp_path: Path) -> Iterator[NatCall]:
    yield from _nat_call(tmp_path, NatMode.RANDOM, relay=True)


def _secure_call(call: NatCall) -> tuple[dict, dict]:
    alice, bob = call.alice, call.bob
    for phone in (alice, bob):
        phone.wait(status="registered", timeout=15)
    alice.ctl("hook", "off")
    alice.ctl("press", "202#")
    ringing = bob.wait(call="ringing")
    assert "Alice" in ringing["screen"], call.context(ringing)
    bob.ctl("hook", "off")
    try:
        sa = alice.wait(security="secure|verified", call="in_call", timeout=25)
        sb = bob.wait(security="secure|verified", call="in_call", timeout=25)
    except PhoneError as exc:
        raise AssertionError(call.context(exc)) from None
    assert sa["sas"] and sa["sas"] == sb["sas"], call.context(sa, sb)
    # a second of SRTP audio (50 packets of 20 ms) each way
    sa = alice.wait(**{"media.packets_received": ">50"})
    sb = bob.wait(**{"media.packets_received": ">50"})
    assert sa["media"]["secure"] and sb["media"]["secure"], call.context(sa, sb)
    return sa, sb


def _hang_up_and_check_audio(call: NatCall) -> None:
    call.alice.ctl("hook", "on")
    call.bob.wait(call="ended")
    call.bob.ctl("hook", "on")
    for earpiece, hz in ((call.earpiece_b, TONE_A), (call.earpiece_a, TONE_B)):
        played = earpiece.read_bytes()
        frequency, share = dominant_frequency(played[-RATE * 2:][:RATE])
        assert abs(frequency - hz) < 20 and share > 0.5, call.context(earpiece, frequency, share)


def _media_frames(call: NatCall) -> list:
    call.alice.stop()
    call.bob.stop()
    call.capture.stop()
    return [f for f in read_frames(call.capture.pcap) if f.is_rtp or f.is_zrtp]


def test_port_preserving_nats_media_goes_straight_between_the_routers(
        preserving_call: NatCall) -> None:
    call = preserving_call
    sa, sb = _secure_call(call)
    context = call.context(sa, sb)
    for state, peer_wan in ((sa, ROUTER_WAN[1]), (sb, ROUTER_WAN[0])):
        ice = state["ice"]
        assert ice["path"] == "direct" and ice["kind"] == "srflx", context
        assert ice["remote"].startswith(f"{peer_wan}:"), context
        assert state["remote_media"] == ice["remote"], context
        assert state["media"]["receive_mode"] == "drained", context  # one wake-up per frame
    call.alice.ctl("stats")  # the call-quality screen says which path
    assert "direct srflx" in call.alice.wait(screen="~Path")["screen"], context
    _hang_up_and_check_audio(call)
    frames = _media_frames(call)
    summary = "\n".join(f"{f.src} -> {f.dst}:{f.dst_port} {f.first_byte}" for f in frames[:40])
    straight = [f for f in frames if {f.src, f.dst} == set(ROUTER_WAN)]
    assert len([f for f in straight if f.src == ROUTER_WAN[0]]) > 50, summary
    assert len([f for f in straight if f.src == ROUTER_WAN[1]]) > 50, summary
    assert all({f.src, f.dst} == set(ROUTER_WAN) for f in frames), summary  # never via a server
    assert any(f.is_zrtp for f in straight), summary  # ZRTP end to end on the pair


def test_randomising_nats_call_through_turn_still_same_sas(random_call: NatCall) -> None:
    call = random_call
    sa, sb = _secure_call(call)
    context = call.context(sa, sb)
    for state in (sa, sb):
        ice = state["ice"]
        assert ice["path"] == "relayed" and ice["kind"] == "relay", context
        assert ice["encrypted_end_to_end"] is True, context
        assert state["path"] == "relayed TURN", context
    # one nominated pair, seen from both ends (RFC 8445 §8.1.1)
    assert (sa["ice"]["local"], sa["ice"]["remote"]) == (sb["ice"]["remote"], sb["ice"]["local"]), \
        context
    call.bob.ctl("stats")
    assert "relayed, e2e" in call.bob.wait(screen="~Path")["screen"], context
    _hang_up_and_check_audio(call)
    call.alice.stop()
    call.bob.stop()
    call.capture.stop()
    frames = read_frames(call.capture.pcap)
    summary = "\n".join(f"{f.src} -> {f.dst}:{f.dst_port} {f.first_byte}" for f in frames[:40])
    # Both agents nominate relay <-> relay: each home reaches coturn only, with TURN ChannelData
    # (RFC 8656 §12.4: channel numbers 0x4000-0x4FFF) carrying the SRTP and ZRTP; nothing
    # is straight between the homes (coturn's own relay-to-relay hop stays on its host).
    channel = [f for f in frames if f.first_byte is not None and 0x40 <= f.first_byte <= 0x4F]
    for router in ROUTER_WAN:
        assert len([f for f in channel if f.src == router and f.dst == PUBLIC_ADDRESS]) > 50, \
            summary
        assert len([f for f in channel if f.dst == router and f.src == PUBLIC_ADDRESS]) > 50, \
            summary
    media = [f for f in frames if f.is_rtp or f.is_zrtp or f in channel]
    assert not [f for f in media if {f.src, f.dst} == set(ROUTER_WAN)], summary


def test_peer_without_ice_behind_nat_is_latched_onto_by_its_authenticated_media(
        tmp_path: Path) -> None:
    """No [nat] anywhere: Carol on the public side calls Alice behind a port-preserving NAT.
    Alice's answer names her private address; Carol's phone latches onto the router's mapping
    only when the ZRTP Hello announced in Alice's SDP arrives from it, then SRTP flows both
    ways (symmetric RTP, issue 14 item 3)."""
    require_root()
    for tool in ("ip", "nft", "kamailio"):
        require_tool(tool)
    (tmp_path / "a-capture.raw").write_bytes(tone(TONE_A, 30))
    with NatLab() as lab:
        registrar = LabRegistrar(lab)
        alice = lab_phone(tmp_path, lab.homes[0], "alice", "201", registrar.address, nat="",
                          audio=f'[audio]\ncapture_file = "{tmp_path / "a-capture.raw"}"')
        carol = lab_phone(tmp_path, lab.public, "carol", "203", registrar.address, nat="",
                          audio=f'[audio]\nplayback_file = "{tmp_path / "c-play.raw"}"')
        try:
            registrar.start()
            alice.start()
            carol.start()
            for phone in (alice, carol):
                phone.wait(status="registered", timeout=15)
            carol.ctl("hook", "off")
            carol.ctl("press", "201#")
            alice.wait(call="ringing")
            alice.ctl("hook", "off")
            sc = carol.wait(security="secure|verified", call="in_call", timeout=25)
            sa = alice.wait(security="secure|verified", call="in_call", timeout=25)
            assert sc["sas"] == sa["sas"]
            sc = carol.wait(**{"media.packets_received": ">50"})
            context = f"{sc}\n{carol.log_tail()}"
            assert "ice" not in sc and sc["media"]["latched"] >= 1, context
            assert sc["media"]["secure"] and sc["media"]["srtp_auth_failures"] == 0, context
            assert alice.wait(**{"media.packets_received": ">50"})["media"]["latched"] == 0
            carol.ctl("hook", "on")
            alice.wait(call="ended")
        finally:
            for phone in (alice, carol):
                phone.stop()
            registrar.close()
    played = (tmp_path / "c-play.raw").read_bytes()
    frequency, share = dominant_frequency(played[-RATE * 2:][:RATE])
    assert abs(frequency - TONE_A) < 20 and share > 0.5, (frequency, share)
