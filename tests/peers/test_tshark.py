"""Loopback capture with dumpcap and ZRTP decoding with tshark, on a real linphonec call."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from deskphone_tools.peers.tshark import (
    LoopbackCapture,
    decode_zrtp,
    parse_zrtp_fields,
    udp_port_filter,
)
from tests.peers.conftest import PeerPool
from tests.support import free_udp_port, require_root, require_tool

# RFC 6189 §5.1.3 message types of a complete DH-mode exchange (§4.1, Figure 1).
DH_EXCHANGE = {
    "Hello",
    "HelloACK",
    "Commit",
    "DHPart1",
    "DHPart2",
    "Confirm1",
    "Confirm2",
    "Conf2ACK",
}


def test_capture_filter_names_every_port_once() -> None:
    assert udp_port_filter([5004, 5060, 5004]) == "udp and (port 5004 or port 5060)"
    with pytest.raises(ValueError, match="70000 is not a UDP port"):
        udp_port_filter([70000])
    with pytest.raises(ValueError, match="at least one"):
        udp_port_filter([])


def test_field_rows_that_are_not_zrtp_are_skipped() -> None:
    table = (
        "9\t0.035\t127.0.0.1\t5000\t127.0.0.1\t6000\tZRTP\tHello   \t74\t0x3c67c224\t1",
        "10\t0.036\t127.0.0.1\t5000\t127.0.0.1\t6000\t\t\t\t\t",  # STUN on the same port
        "11\t0.037\t127.0.0.1\t6000\t127.0.0.1\t5000\tZRTP\tCommit  \t75\t0x1\t0",
        "garbage",
    )
    rows = "\n".join(table)
    hello, commit = parse_zrtp_fields(rows)
    assert (hello.message_type, hello.sequence, hello.ssrc) == ("Hello", 74, 0x3C67C224)
    assert hello.src == ("127.0.0.1", 5000) and hello.checksum_ok
    assert commit.checksum_status == "bad" and not commit.checksum_ok


def zrtp_hello_ack(sequence: int, ssrc: int, crc: int) -> bytes:
    """RFC 6189 §5 packet header + §5.3 HelloACK + §5.1.5 CRC (given, possibly wrong)."""
    header = struct.pack("!BBH4sI", 0x10, 0x00, sequence, b"ZRTP", ssrc)
    message = struct.pack("!HH8s", 0x505A, 3, b"HelloACK")
    return header + message + struct.pack("!I", crc)


@pytest.mark.interop
def test_a_zrtp_packet_with_a_wrong_crc_decodes_as_bad(tmp_path) -> None:
    require_tool("dumpcap")
    require_tool("tshark")
    require_root()
    port = free_udp_port()
    pcap = tmp_path / "bad.pcap"

    capture = LoopbackCapture(pcap, [port])

    async def scenario() -> None:
        async with capture:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
                # Sent just before stop(): its flush barrier must keep it in the file.
                sender.sendto(zrtp_hello_ack(7, 0x1234, crc=0), ("127.0.0.1", port))

    asyncio.run(asyncio.wait_for(scenario(), 20))
    assert not capture.running
    # The datagram plus the probes that arrived once the capture was live.
    assert capture.packets_captured is not None
    assert 2 <= capture.packets_captured <= capture.probes_sent + 1
    (packet,) = decode_zrtp(pcap, [port])
    assert packet.message_type == "HelloACK"
    assert packet.sequence == 7 and packet.ssrc == 0x1234
    assert packet.checksum_status == "bad"


@pytest.mark.interop
def test_every_zrtp_packet_linphonec_sends_has_a_good_crc(peers: PeerPool) -> None:
    require_tool("dumpcap")
    require_tool("tshark")
    require_root()
    alice = peers.new("alice")
    bob = peers.new("bob", auto_answer=True)
    media_ports = [alice.config.rtp_port, bob.config.rtp_port]
    sip_ports = [alice.config.sip_port, bob.config.sip_port]
    pcap = peers.root / "call.pcap"
    capture = LoopbackCapture(pcap, media_ports + sip_ports)

    async def scenario() -> None:
        try:
            await capture.start()
            await asyncio.gather(alice.start(), bob.start())
            await alice.call(bob.sip_uri)
            await asyncio.gather(alice.wait_for_sas(), bob.wait_for_sas())
            await alice.terminate()
            await bob.wait_call_end(timeout=10)
        finally:
            await capture.stop()

    peers.run(scenario)
    assert not capture.running
    packets = decode_zrtp(pcap, media_ports)
    assert capture.packets_captured is not None and capture.packets_captured >= len(
        packets
    )
    bad = [p for p in packets if not p.checksum_ok]
    assert not bad, f"ZRTP packets without a good CRC: {bad}"
    for sender, receiver in ((alice, bob), (bob, alice)):
        sent = {
            p.message_type
            for p in packets
            if p.src == ("127.0.0.1", sender.config.rtp_port)
            and p.dst == ("127.0.0.1", receiver.config.rtp_port)
        }
        # Each side sends Hello (RFC 6189 §4.1); which side sends the rest depends on the role it
        # ends up in (seen here: both send Commit, §4.2 contention), so the union must be the
        # whole DH exchange.
        assert "Hello" in sent and len(sent) >= 3, (
            f"{sender.config.user} sent only {sent}"
        )
    assert {p.message_type for p in packets} >= DH_EXCHANGE
