"""dumpcap on one interface (optionally inside a network namespace), read back with tshark.

Used to check what really crossed a link: the veth between two namespaces, or loopback towards a
SIPp peer's media port. Needs root (CI runs as root) and Wireshark's dumpcap and tshark.
"""

from __future__ import annotations

import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path


class Capture:
    """One dumpcap run for the length of a test; start() returns once dumpcap is capturing."""

    def __init__(self, pcap: Path, interface: str, *, namespace: str | None = None,
                 capture_filter: str | None = None) -> None:
        self.pcap = pcap
        self.interface = interface
        self.namespace = namespace
        self.capture_filter = capture_filter
        self.proc: subprocess.Popen[str] | None = None
        self.stderr: list[str] = []
        self._started = threading.Event()

    def start(self, timeout: float = 10.0) -> None:
        command = ["dumpcap", "-i", self.interface, "-q", "-w", str(self.pcap)]
        if self.capture_filter:
            command += ["-f", self.capture_filter]
        if self.namespace:
            command = ["ip", "netns", "exec", self.namespace, *command]
        self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        if not self._started.wait(timeout) or self.proc.poll() is not None:
            self.stop()
            raise RuntimeError(f"dumpcap on {self.interface} did not start: {self.stderr}")

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip())
            if line.startswith("Capturing on"):
                self._started.set()
        self._started.set()  # exited: let start() report it

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)  # dumpcap flushes and closes the file
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@dataclass(frozen=True)
class Frame:
    protocols: str  # tshark's frame.protocols, e.g. "eth:ethertype:ip:udp:sip"
    src: str
    dst: str
    dst_port: str
    first_byte: int | None  # of the UDP payload (RFC 7983: 16-19 ZRTP, 128-191 RTP/RTCP)
    second_byte: int | None = None  # RTP's marker and payload type, RTCP's packet type
    src_port: str = ""

    @property
    def is_zrtp(self) -> bool:
        return self.first_byte is not None and 16 <= self.first_byte <= 19

    @property
    def is_rtp(self) -> bool:
        return self.first_byte is not None and 128 <= self.first_byte <= 191

    @property
    def is_rtcp(self) -> bool:
        """RTCP or SRTCP (its header is in the clear): packet type 192-223 (RFC 5761 §4)."""
        return self.is_rtp and self.second_byte is not None and 192 <= self.second_byte <= 223


def read_frames(pcap: Path) -> list[Frame]:
    """Every frame of a capture: protocols, and the outer IPv4 header and UDP port (first
    occurrence: an ICMP error carries the offending header inside it)."""
    result = subprocess.run(
        ["tshark", "-n", "-r", str(pcap), "-T", "fields", "-E", "separator=;",
         "-E", "occurrence=f", "-e", "frame.protocols", "-e", "ip.src", "-e", "ip.dst",
         "-e", "udp.dstport", "-e", "udp.payload", "-e", "udp.srcport"],
        capture_output=True, text=True, timeout=60, check=True)
    frames = []
    for line in result.stdout.splitlines():
        protocols, src, dst, port, payload, src_port = (line.split(";") + [""] * 6)[:6]
        first = int(payload[:2], 16) if len(payload) >= 2 else None
        second = int(payload[2:4], 16) if len(payload) >= 4 else None
        frames.append(Frame(protocols, src, dst, port, first, second, src_port))
    return frames
