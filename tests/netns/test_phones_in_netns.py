"""Two whole phones, each in its own network namespace, joined only by a veth pair.

Each is a real `deskphone run --sim` process under `ip netns exec`, listening on its namespace
address (SIP, media and DNS-SD). They find each other by multicast DNS-SD over the veth, A dials
B's extension, B answers, both show the same SAS, A's voice reaches B's earpiece decrypted, and A
hangs up. A capture on the link shows what crossed it: the call, and nothing addressed beyond the
link. Namespaces are deleted and processes killed whatever happens.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deskphone_tools.harness import unique_extensions
from tests.call_audio import dominant_frequency, tone
from tests.netns.capture import Capture, read_frames
from tests.netns.netns import NetnsPhone, VethLink, phone_config
from tests.support import require_root, require_tool

pytestmark = [pytest.mark.netns, pytest.mark.timeout(90)]

RATE = 8000
TONE_HZ = 1000.0
# RFC 5771 §4: 224.0.0.0/24 is link-local (never forwarded): mDNS 224.0.0.251, IGMPv3 224.0.0.22
LINK_LOCAL_MULTICAST = ipaddress.IPv4Network("224.0.0.0/24")


@dataclass
class NetnsCall:
    link: VethLink
    a: NetnsPhone
    b: NetnsPhone
    capture: Capture
    earpiece_b: Path

    def context(self, *parts: object) -> str:
        return "\n".join([*map(str, parts), "phone A log:", self.a.log_tail(),
                          "phone B log:", self.b.log_tail()])


@pytest.fixture
def netns_call(tmp_path: Path) -> Iterator[NetnsCall]:
    require_root()
    for tool in ("ip", "dumpcap", "tshark"):
        require_tool(tool)
    ext_a, ext_b = unique_extensions(2)
    (tmp_path / "a-capture.raw").write_bytes(tone(TONE_HZ, 30))
    earpiece_b = tmp_path / "b-play.raw"
    with VethLink() as link:
        a = NetnsPhone("A", ext_a, tmp_path / "a", phone_config(
            ext_a, "Alice", link.a.address,
            audio=f'[audio]\ncapture_file = "{tmp_path / "a-capture.raw"}"\n'))
        b = NetnsPhone("B", ext_b, tmp_path / "b", phone_config(
            ext_b, "Bob", link.b.address, audio=f'[audio]\nplayback_file = "{earpiece_b}"\n'))
        a.namespace, b.namespace = link.a.name, link.b.name
        capture = Capture(tmp_path / "veth.pcap", link.a.device, namespace=link.a.name)
        try:
            capture.start()  # before the phones: every frame they ever send is in the file
            a.start()
            b.start()
            yield NetnsCall(link, a, b, capture, earpiece_b)
        finally:
            for phone in (a, b):
                phone.stop()
            capture.stop()
        for phone in (a, b):
            assert phone.proc is None or phone.proc.poll() is not None, f"{phone.name} survived"
    assert not link.left_behind(), f"namespaces left behind: {link.left_behind()}"


def test_two_phones_in_namespaces_find_each_other_call_secure_with_audio(
        netns_call: NetnsCall) -> None:
    call, link = netns_call, netns_call.link
    a, b = call.a, call.b

    # The phones' world: lo and one veth end each, one /24 route, no way out.
    for ns in (link.a, link.b):
        assert ns.links() == sorted(["lo", ns.device]), ns.links()
        assert ns.routes() == [f"{link.network} dev {ns.device} proto kernel scope link src "
                               f"{ns.address}"], ns.routes()
    assert a.state()["sip"] == f"udp:{link.a.address}:5071", call.context(a.state())
    assert b.state()["sip"] == f"udp:{link.b.address}:5071", call.context(b.state())

    # DNS-SD over multicast on the veth (RFC 6762/6763)
    a.wait(20, lan_peers=f"~{b.extension}")
    b.wait(20, lan_peers=f"~{a.extension}")

    a.ctl("hook", "off")
    a.ctl("press", f"{b.extension}#")
    ringing = b.wait(call="ringing")
    assert "Alice" in ringing["screen"], call.context(ringing)
    b.ctl("hook", "off")
    sa = a.wait(security="secure|verified", call="in_call")
    sb = b.wait(security="secure|verified", call="in_call")
    context = call.context(sa, sb)
    assert sa["sas"] and sa["sas"] == sb["sas"], context
    assert sa["sas"].upper() in sa["screen"].upper(), context
    assert sb["sas"].upper() in sb["screen"].upper(), context
    # direct peer media between the namespace addresses
    assert sa["remote_media"].startswith(f"{link.b.address}:"), context
    assert sb["remote_media"].startswith(f"{link.a.address}:"), context

    # a second of SRTP audio (50 packets of 20 ms) reached each side
    media_b = b.wait(**{"media.packets_received": ">50"})["media"]
    media_a = a.wait(**{"media.packets_received": ">50"})["media"]
    assert media_a["secure"] is True and media_b["secure"] is True, call.context(media_a, media_b)

    a.ctl("hook", "on")
    ended = b.wait(call="ended")
    assert "Call ended" in ended["screen"], call.context(ended)
    assert a.wait(call="idle")["off_hook"] is False
    b.ctl("hook", "on")
    b.wait(call="idle")

    # A's 1 kHz tone came out of B's earpiece, decrypted
    played = call.earpiece_b.read_bytes()
    frequency, share = dominant_frequency(played[-RATE * 2:][:RATE])
    assert abs(frequency - TONE_HZ) < 20 and share > 0.5, call.context(frequency, share)

    # What crossed the link: the call itself, and nothing addressed beyond the link.
    a.stop()
    b.stop()
    call.capture.stop()
    frames = read_frames(call.capture.pcap)
    summary = "\n".join(f"{f.protocols} {f.src} -> {f.dst}:{f.dst_port}" for f in frames[:60])
    assert any(":sip" in f.protocols and f.dst == link.b.address for f in frames), summary
    assert any(f.dst_port == "5353" for f in frames), summary  # mDNS
    media_frames = [f for f in frames if f.src == link.a.address and f.dst == link.b.address
                    and ":sip" not in f.protocols and f.dst_port not in ("5353", "5071")]
    assert len(media_frames) > 50, summary
    addresses = {link.a.address, link.b.address}
    for frame in frames:
        layers = frame.protocols.split(":")
        if "ip" not in layers:
            assert layers[-1] == "arp", f"neither IPv4 nor ARP: {frame}\n{summary}"
            continue
        assert frame.src in addresses, f"{frame} not from a namespace\n{summary}"
        assert (frame.dst in addresses
                or ipaddress.IPv4Address(frame.dst) in LINK_LOCAL_MULTICAST), (
            f"{frame} addressed beyond the link\n{summary}")
