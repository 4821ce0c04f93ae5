"""Loopback packet capture with dumpcap and ZRTP decoding with tshark (Wireshark 4.0).

Capture: `dumpcap -i lo -f "udp and (port A or port B)" -P -w FILE`. dumpcap 4.0 prints
"Capturing on 'Loopback: lo'" on stderr *before* the capture is live (datagrams sent in the next
~50 ms were missing from the file), so start() instead probes a port of its own until dumpcap's
packet counter ("\rPackets: N", redrawn every 500 ms) moves. stop() probes again until the count
has been redrawn twice (so everything sent before has been read), then sends SIGINT, the clean way
to end a dumpcap run (it closes the file and prints "Packets captured: N"); without that barrier
datagrams sent just before SIGINT were lost.

Decoding: tshark only dissects ZRTP on ports it is told about (the ports come from SDP, which it
may not have seen), so each media port is given with `-d udp.port==N,zrtp`. The ZRTP dissector
(`zrtp.*` fields in 4.0: zrtp.type, zrtp.checksum.status, zrtp.sequence, zrtp.source_id,
zrtp.cookie, ...) checks the CRC-32C (RFC 6189 §5.1.5 / RFC 3309) but cannot check MACs or hash
chains. On a forced port it also claims STUN and SRTP datagrams, so only datagrams carrying the
ZRTP magic cookie (RFC 6189 §5: 0x5a525450, "ZRTP") are kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import socket
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

DUMPCAP = "dumpcap"
TSHARK = "tshark"
ZRTP_COOKIE = "ZRTP"  # RFC 6189 §5: magic cookie 0x5a525450

# Wireshark's proto_checksum_enum_e values, as tshark prints `*.checksum.status`.
CHECKSUM_STATUS = {0: "bad", 1: "good", 2: "unverified", 3: "not present", 4: "illegal"}

ZRTP_FIELDS = (
    "frame.number",
    "frame.time_relative",
    "ip.src",
    "udp.srcport",
    "ip.dst",
    "udp.dstport",
    "zrtp.cookie",
    "zrtp.type",
    "zrtp.sequence",
    "zrtp.source_id",
    "zrtp.checksum.status",
)


class CaptureError(RuntimeError):
    """dumpcap or tshark failed; the message carries what it printed."""


def udp_port_filter(ports: Iterable[int]) -> str:
    """A BPF capture filter for UDP to or from any of ports."""
    unique = sorted(set(ports))
    if not unique:
        raise ValueError("udp_port_filter: expected at least one UDP port, got none")
    for port in unique:
        if not 1 <= port <= 65535:
            raise ValueError(f"udp_port_filter: {port} is not a UDP port (expected 1..65535)")
    return "udp and (" + " or ".join(f"port {port}" for port in unique) + ")"


class LoopbackCapture:
    """One dumpcap run writing a pcap file; `async with LoopbackCapture(...)` or start()/stop().

    Besides the ports asked for, the filter includes one probe port of our own: start() and stop()
    send datagrams to it (so they are in the file, on a port nobody else uses) and watch dumpcap's
    packet counter to know it is really capturing, and that it has read everything sent before
    stop() was called.
    """

    def __init__(
        self,
        pcap_path: Path,
        udp_ports: Iterable[int],
        *,
        interface: str = "lo",
        program: str = DUMPCAP,
    ) -> None:
        self.pcap_path = Path(pcap_path)
        self.ports = sorted(set(udp_ports))
        udp_port_filter(self.ports)  # validate now, before anything starts
        self.interface = interface
        self.program = program
        self.packets_captured: int | None = None  # dumpcap's final count (probes included)
        self.probes_sent = 0
        self.stderr_lines: list[str] = []
        self.probe_port: int | None = None
        self.capture_filter = ""
        self._probe_sink: socket.socket | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._counter_updates = 0  # how many "Packets: N" redraws dumpcap has printed
        self._live_count = 0
        self._stderr_changed = asyncio.Event()
        self._exited = False

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def __aenter__(self) -> LoopbackCapture:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self, timeout: float = 10) -> None:
        """Start dumpcap and return once a probe datagram has shown up in its packet count."""
        if self._process is not None:
            raise CaptureError(f"capture to {self.pcap_path} was already started")
        self.pcap_path.parent.mkdir(parents=True, exist_ok=True)
        # A bound socket as the probe target, so probes are not answered with ICMP unreachable.
        self._probe_sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._probe_sink.bind(("127.0.0.1", 0))
        self._probe_sink.setblocking(False)
        self.probe_port = self._probe_sink.getsockname()[1]
        self.capture_filter = udp_port_filter([*self.ports, self.probe_port])
        self._process = await asyncio.create_subprocess_exec(
            self.program,
            "-i",
            self.interface,
            "-f",
            self.capture_filter,
            "-P",  # classic pcap: readable by every tool
            "-w",
            str(self.pcap_path),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        self._reader = asyncio.create_task(self._read_stderr(), name="dumpcap stderr")
        try:
            # "Capturing on 'Loopback: lo'" is printed before the capture is live: datagrams sent
            # right after it were seen missing. dumpcap redraws "Packets: N" on stderr every
            # 500 ms once it has captured something, so probe until the count moves.
            await self._probe_until(lambda: self._live_count > 0, timeout, "start capturing")
        except BaseException:
            await self.stop(flush=False)
            raise

    async def _probe_until(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as prober:
            while not done():
                if self._exited:
                    raise CaptureError(
                        f"dumpcap exited ({self._returncode()}) before it could {what} on "
                        f"{self.interface}; it printed: {' | '.join(self.stderr_lines)}"
                    )
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise CaptureError(
                        f"dumpcap on {self.interface} with filter {self.capture_filter!r} did not "
                        f"{what} within {timeout} s; it printed: {' | '.join(self.stderr_lines)}"
                    )
                prober.sendto(b"deskphone capture probe", ("127.0.0.1", self.probe_port or 0))
                self.probes_sent += 1
                self._stderr_changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stderr_changed.wait(), min(remaining, 0.1))

    def _returncode(self) -> int | None:
        return self._process.returncode if self._process else None

    async def _read_stderr(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        pending = ""
        while chunk := await self._process.stderr.read(4096):
            pending += chunk.decode("utf-8", "replace")
            # Lines end in '\n'; the running count is redrawn in place: "\rPackets: 27 ".
            *complete, pending = re.split(r"[\r\n]", pending)
            for segment in complete:
                self._take_stderr(segment.strip())
        self._take_stderr(pending.strip())
        self._exited = True
        self._stderr_changed.set()

    def _take_stderr(self, segment: str) -> None:
        if not segment:
            return
        if match := re.fullmatch(r"Packets: (\d+)", segment):
            self._live_count = int(match.group(1))
            self._counter_updates += 1
        else:
            self.stderr_lines.append(segment)
            if match := re.fullmatch(r"Packets captured: (\d+)", segment):
                self.packets_captured = int(match.group(1))
        self._stderr_changed.set()

    async def stop(self, timeout: float = 5, *, flush: bool = True) -> None:
        """Wait until dumpcap has read what was sent so far (flush), then SIGINT (it closes the
        file and reports its count), then SIGKILL if it lingers."""
        process = self._process
        if process is None:
            return
        try:
            if flush and process.returncode is None:
                # Datagrams are queued to dumpcap's packet socket synchronously on send over
                # loopback; a count redrawn twice after our probe comes from a read loop that has
                # taken that probe (and everything before it) from the socket.
                self._stderr_changed.clear()
                updates_before = self._counter_updates
                with contextlib.suppress(CaptureError):
                    await self._probe_until(
                        lambda: self._counter_updates >= updates_before + 2, timeout, "flush"
                    )
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGINT)
                try:
                    await asyncio.wait_for(process.wait(), timeout)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                    await process.wait()
            if self._reader is not None:
                try:
                    await asyncio.wait_for(self._reader, timeout)
                except TimeoutError:
                    self._reader.cancel()
        finally:
            if self._probe_sink is not None:
                self._probe_sink.close()
                self._probe_sink = None


@dataclass(frozen=True)
class ZrtpPacket:
    """One ZRTP message as tshark decoded it."""

    frame: int
    time: float
    src: tuple[str, int]
    dst: tuple[str, int]
    message_type: str  # "Hello", "HelloACK", "Commit", "DHPart1", ... (RFC 6189 §5.1.3)
    sequence: int | None
    ssrc: int | None
    checksum_status: str  # "good", "bad", "unverified", ... (CHECKSUM_STATUS)

    @property
    def checksum_ok(self) -> bool:
        return self.checksum_status == "good"


def _int(text: str, base: int = 10) -> int | None:
    try:
        return int(text, 16 if text.lower().startswith("0x") else base)
    except ValueError:
        return None


def parse_zrtp_fields(output: str) -> list[ZrtpPacket]:
    """ZrtpPackets from `tshark -T fields` output with ZRTP_FIELDS, tab separated."""
    packets: list[ZrtpPacket] = []
    for row in output.splitlines():
        cells = row.split("\t")
        if len(cells) != len(ZRTP_FIELDS):
            continue
        frame, at, src, sport, dst, dport, cookie, kind, seq, ssrc, status = cells
        if cookie.strip() != ZRTP_COOKIE or not kind.strip():
            continue  # STUN or SRTP on the forced port, not ZRTP
        status_code = _int(status)
        packets.append(
            ZrtpPacket(
                frame=int(frame),
                time=float(at),
                src=(src, int(sport)),
                dst=(dst, int(dport)),
                message_type=kind.strip(),
                sequence=_int(seq),
                ssrc=_int(ssrc),
                checksum_status=CHECKSUM_STATUS.get(
                    status_code if status_code is not None else -1, f"unknown {status!r}"
                ),
            )
        )
    return packets


def decode_zrtp(
    pcap_path: Path, zrtp_ports: Iterable[int], *, program: str = TSHARK, timeout: float = 30
) -> list[ZrtpPacket]:
    """Every ZRTP message in pcap_path on the given UDP ports, in capture order."""
    decode_as: list[str] = []
    for port in sorted(set(zrtp_ports)):
        decode_as += ["-d", f"udp.port=={port},zrtp"]
    if not decode_as:
        raise ValueError("decode_zrtp: expected at least one ZRTP port, got none")
    fields: list[str] = []
    for name in ZRTP_FIELDS:
        fields += ["-e", name]
    command = [
        program, "-n", "-r", str(pcap_path), *decode_as, "-Y", "zrtp",
        "-T", "fields", *fields, "-E", "separator=/t", "-E", "occurrence=f",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise CaptureError(
            f"tshark exited {result.returncode} decoding {pcap_path}: {result.stderr.strip()}"
        )
    return parse_zrtp_fields(result.stdout)
