"""An INVITE whose offer is over the SDP limits is answered 488 by the running phone, which stays
idle and usable (issue 21 item 1: the call layer maps SdpError to 488, RFC 3261 §21.4.26)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from deskphone.app import PhoneApp
from deskphone.config import config_from_dict
from deskphone.devices.build import build_devices
from deskphone.run import call_layer_factory
from deskphone.sip.message import SipResponse, parse_message
from tests.support import free_udp_port

# issue 21's shape: 15,000 formats and 1,600 rtpmaps in 65 KB, over TCP in one INVITE; here the
# formats alone (31 KB) so that it fits a UDP datagram with its headers
OFFER = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
         b"m=audio 5004 RTP/AVP " + b" ".join(b"0" for _ in range(15_000)) + b"\r\n")


def invite(phone_port: int, our_port: int, body: bytes) -> bytes:
    return (f"INVITE sip:201@127.0.0.1:{phone_port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{our_port};branch=z9hG4bKbig1;rport\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:bob@127.0.0.1>;tag=b1\r\n"
            f"To: <sip:201@127.0.0.1:{phone_port}>\r\nCall-ID: oversize-offer@test\r\n"
            f"CSeq: 1 INVITE\r\nContact: <sip:bob@127.0.0.1:{our_port}>\r\n"
            f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


class Collector(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.responses: asyncio.Queue[SipResponse] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        message = parse_message(data)
        if isinstance(message, SipResponse):
            self.responses.put_nowait(message)


def make_phone(tmp_path: Path, sip_port: int) -> PhoneApp:
    config = config_from_dict({"identity": {"extension": "201", "display_name": "Alice"},
                               "discovery": {"enabled": False},
                               "sip": {"listen": f"udp:127.0.0.1:{sip_port}"}}, sim=True)
    return PhoneApp(config, data_dir=tmp_path, devices=build_devices(config, tmp_path),
                    call_layer_factory=call_layer_factory(tmp_path))


def test_an_offer_over_the_limits_gets_488_and_the_phone_stays_idle(tmp_path: Path) -> None:
    phone_port = free_udp_port()

    async def go() -> None:
        app = make_phone(tmp_path, phone_port)
        await app.start()
        loop = asyncio.get_running_loop()
        transport, peer = await loop.create_datagram_endpoint(
            Collector, local_addr=("127.0.0.1", 0))
        try:
            our_port = transport.get_extra_info("sockname")[1]
            transport.sendto(invite(phone_port, our_port, OFFER), ("127.0.0.1", phone_port))
            while True:
                response = await asyncio.wait_for(peer.responses.get(), 10)
                if response.status >= 200:
                    break
            assert response.status == 488
            assert app.state()["call"] == "idle"
        finally:
            transport.close()
            await app.stop()

    asyncio.run(asyncio.wait_for(go(), 30))
