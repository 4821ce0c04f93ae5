"""Wireshark's independent ZRTP dissector must accept every packet we build (CRC, framing)."""

from __future__ import annotations

import struct
import subprocess

import pytest

from tests.support import require_tool

from .harness import make_endpoint, run

pytestmark = pytest.mark.interop


def ipv4_udp(payload: bytes, source_port: int, destination_port: int) -> bytes:
    udp = struct.pack("!HHHH", source_port, destination_port, 8 + len(payload), 0) + payload
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    total = sum(struct.unpack("!10H", header))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return header[:10] + struct.pack("!H", ~total & 0xFFFF) + header[12:] + udp


def write_pcap(path, datagrams: list[tuple[bytes, int, int]]) -> None:
    """A classic pcap with LINKTYPE_RAW (101) IPv4 packets on loopback addresses."""
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))
        for index, (payload, source, destination) in enumerate(datagrams):
            packet = ipv4_udp(payload, source, destination)
            out.write(struct.pack("<IIII", 1, index, len(packet), len(packet)) + packet)


@pytest.mark.parametrize("key_agreement", ["DH3k", "X255", "EC38", "DPQ1"])
def test_tshark_validates_the_crc_of_every_packet(tmp_path, key_agreement):
    tshark = require_tool("tshark")
    a = make_endpoint("a", key_agreements=(key_agreement,), sas_types=("B256",))
    b = make_endpoint("b", key_agreements=(key_agreement,), sas_types=("B256",))
    run(a, b)
    port_a, port_b = 41000, 41002  # only inside the pcap file: nothing is sent anywhere
    datagrams = [(d, port_a, port_b) for d in a.sent] + [(d, port_b, port_a) for d in b.sent]
    pcap = tmp_path / "zrtp.pcap"
    write_pcap(pcap, datagrams)
    result = subprocess.run(
        [tshark, "-r", str(pcap), "-d", f"udp.port=={port_a},zrtp", "-T", "fields",
         "-e", "zrtp.type", "-e", "zrtp.checksum.status"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    rows = [line.split("\t") for line in result.stdout.splitlines() if line.strip()]
    assert len(rows) == len(datagrams)
    assert all(status == "1" for _, status in rows), rows
    types = {kind.strip() for kind, _ in rows}
    assert {"Hello", "HelloACK", "Commit", "DHPart1", "DHPart2", "Confirm1", "Confirm2",
            "Conf2ACK"} <= types
