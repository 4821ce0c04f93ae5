"""STUN Binding Requests on the RTCP port (RFC 3550 §11 port + 1), as linphonec sends them every
~500 ms when RTCP is not multiplexed: answered from that port, never counted as foreign, and the
RTCP that shares the port still gets through."""

from __future__ import annotations

import asyncio
import os

from deskphone.devices.audio import FileAudio
from deskphone.media.rtcp import ReceiverReport, ReportBlock, build_receiver_report
from deskphone.media.stream import MediaStream
from deskphone.media.stun import MAGIC_COOKIE
from deskphone.sdp.codecs import CodecChoice
from tests.media.test_stream import ManualClock, run_async

PCMU = CodecChoice("PCMU", 0, 8000)


def binding_request() -> bytes:
    # RFC 5389 §6: type 0x0001, length 0, magic cookie, 96-bit transaction id
    return (0x0001).to_bytes(2, "big") + bytes(2) + MAGIC_COOKIE.to_bytes(4, "big") \
        + os.urandom(12)


@run_async
async def test_stun_on_the_rtcp_port_is_answered_from_it_and_rtcp_still_arrives():
    stream = await MediaStream.open("127.0.0.1", audio=FileAudio(8000), clock=ManualClock())
    loop = asyncio.get_running_loop()
    replies: asyncio.Queue[tuple[bytes, int]] = asyncio.Queue()

    class Peer(asyncio.DatagramProtocol):
        def datagram_received(self, data, addr):
            replies.put_nowait((data, addr[1]))

    peer, _ = await loop.create_datagram_endpoint(Peer, local_addr=("127.0.0.1", 0))
    try:
        stream.allow_cleartext()
        peer_port = peer.get_extra_info("sockname")[1]
        stream.start(("127.0.0.1", peer_port - 1), PCMU, dtmf_pt=None, rtcp_mux=False)
        request = binding_request()
        peer.sendto(request, ("127.0.0.1", stream.local_rtcp_port))
        answer, from_port = await asyncio.wait_for(replies.get(), 2.0)
        assert answer[:2] == b"\x01\x01"  # Binding success response (RFC 5389 §6)
        assert answer[8:20] == request[8:20]  # same transaction id
        assert from_port == stream.local_rtcp_port
        block = ReportBlock(stream.ssrc, 64, 3, 1000, 80, 0, 0)
        peer.sendto(build_receiver_report(ReceiverReport(0xBEEF, (block,))),
                    ("127.0.0.1", stream.local_rtcp_port))
        for _ in range(50):
            await asyncio.sleep(0.001)
            if stream.stats.remote_lost:
                break
        stats = stream.stats
        assert stats.remote_lost == 3
        assert stats.stun_answered == 1 and stats.dropped_foreign == 0 and stats.malformed == 0
    finally:
        peer.close()
        await stream.close()
