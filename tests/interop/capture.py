"""Loopback capture for the direct-media proof: dumpcap (deskphone_tools.peers.tshark.LoopbackCapture,
run on a loop of its own in a thread so a synchronous test can hold it open across a call) and a
small reader for the classic pcap file it writes (-P), Ethernet/IPv4/UDP only."""

from __future__ import annotations

import asyncio
import struct
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from deskphone_tools.peers.tshark import LoopbackCapture

PCAP_MAGIC = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">",  # microsecond timestamps
              b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">"}  # nanosecond timestamps
LINKTYPE_ETHERNET = 1  # what Linux `lo` reports
ZRTP_COOKIE = b"ZRTP"  # RFC 6189 §5: magic cookie 0x5a525450 at offset 4


@dataclass(frozen=True)
class Datagram:
    src: tuple[str, int]
    dst: tuple[str, int]
    payload: bytes

    @property
    def kind(self) -> str:
        """RFC 7983 demultiplexing by the first byte, plus SIP by its start line."""
        data = self.payload
        if data.startswith(b"SIP/2.0 ") or (b" sip:" in data[:64] and b"SIP/2.0\r\n" in data[:300]):
            return "sip"
        if len(data) >= 12 and data[4:8] == ZRTP_COOKIE and 16 <= data[0] <= 19:
            return "zrtp"
        if len(data) >= 12 and 128 <= data[0] <= 191:
            return "rtcp" if 192 <= data[1] <= 223 else "rtp"
        if data and data[0] <= 3:
            return "stun"
        return "other"


def read_pcap(path: Path) -> Iterator[Datagram]:
    data = path.read_bytes()
    order = PCAP_MAGIC.get(data[:4])
    if order is None:
        raise ValueError(f"{path}: not a classic pcap file (magic {data[:4].hex()})")
    (linktype,) = struct.unpack(order + "I", data[20:24])
    if linktype != LINKTYPE_ETHERNET:
        raise ValueError(f"{path}: link type {linktype}, expected Ethernet ({LINKTYPE_ETHERNET})")
    offset = 24
    while offset + 16 <= len(data):
        _, _, captured, _ = struct.unpack(order + "IIII", data[offset:offset + 16])
        frame = data[offset + 16:offset + 16 + captured]
        offset += 16 + captured
        if len(frame) < 14 + 20 + 8 or frame[12:14] != b"\x08\x00":
            continue  # not IPv4
        ip = frame[14:]
        header = (ip[0] & 0x0F) * 4
        if ip[9] != 17:
            continue  # not UDP
        src_ip = ".".join(str(b) for b in ip[12:16])
        dst_ip = ".".join(str(b) for b in ip[16:20])
        udp = ip[header:]
        sport, dport, length = struct.unpack("!HHH", udp[:6])
        yield Datagram((src_ip, sport), (dst_ip, dport), udp[8:length])


class ThreadedCapture:
    """LoopbackCapture on its own event loop thread: start() and stop() block until done."""

    def __init__(self, pcap: Path, ports: Iterable[int]) -> None:
        self.capture = LoopbackCapture(pcap, ports)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.capture.start(), self.loop).result(20)

    def stop(self) -> list[Datagram]:
        try:
            asyncio.run_coroutine_threadsafe(self.capture.stop(), self.loop).result(20)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()
        probe = self.capture.probe_port
        return [d for d in read_pcap(self.capture.pcap_path)
                if probe not in (d.src[1], d.dst[1])]
