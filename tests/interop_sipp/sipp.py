"""One SIPp process against a deskphone process, and what SIPp saw when it finished.

SIPp runs one call (`-m 1`) of a scenario file, bounded by its own `-timeout` and by the test's
wait; it is killed in `stop()` whatever happened. Three of SIPp's own records are read back so a
test can assert what the far end saw, not only what the phone says:

- the exit status (0: every step of the scenario happened as written);
- the final scenario screen (`-trace_screen`): per step, messages, retransmissions, timeouts and
  unexpected messages;
- the statistics file (`-trace_stat`): successful and failed calls;
- the message log (`-trace_msg`): every datagram sent and received, so a test can count the start
  lines and dialog tags that crossed the wire.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import errno
import re
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support import free_udp_port, require_tool

# The UA core's own scenario files: the same SIPp flows, now against a whole phone process.
CORE_SCENARIOS = Path(__file__).resolve().parents[1] / "sip" / "scenarios"
OWN_SCENARIOS = Path(__file__).resolve().parent / "scenarios"

# SIPp's final scenario screen draws a UAC's steps name first ("INVITE ---------->" sent,
# "200 <----------" received) and a UAS's arrow first ("----------> INVITE" received,
# "<---------- 180" sent); an RTD mark like "E-RTD1" may stand before the counts.
_ARROW = r"(?P<arrow>-{10}>|<-{10})"
_STEP_UAC = re.compile(r"^\s*(?P<name>[A-Za-z0-9]+)\s+" + _ARROW + r"(?P<rest>.*)$")
_STEP_UAS = re.compile(r"^\s*" + _ARROW + r"\s+(?P<name>[A-Za-z0-9]+)(?P<rest>.*)$")
_MESSAGE_HEAD = re.compile(r"^UDP message (?P<way>sent|received)")


@dataclass(frozen=True)
class ScenarioStep:
    """One send/recv line of SIPp's final scenario screen."""

    name: str  # "INVITE", "200", ...
    direction: str  # "sent" (---------->) or "received" (<----------)
    messages: int
    retransmissions: int
    timeouts: int
    unexpected: int


@dataclass(frozen=True)
class WireMessage:
    way: str  # "sent" | "received"
    start_line: str
    cseq: str  # e.g. "1 INVITE"
    to_tag: str | None
    text: str
    at: float | None = None  # when SIPp logged it (seconds, its wall clock)


@dataclass(frozen=True)
class SippResult:
    returncode: int
    stderr: str
    steps: list[ScenarioStep]
    statistics: dict[str, str]
    wire: list[WireMessage]

    @property
    def successful_calls(self) -> int:
        return int(self.statistics.get("SuccessfulCall(C)", "0"))

    @property
    def failed_calls(self) -> int:
        return int(self.statistics.get("FailedCall(C)", "0"))

    def step(self, name: str, direction: str, index: int = 0) -> ScenarioStep:
        """The index-th scenario line named `name` in `direction` ("sent"/"received")."""
        matching = [s for s in self.steps if s.name == name and s.direction == direction]
        if len(matching) <= index:
            raise AssertionError(f"SIPp's scenario screen has no {direction} step {name!r} "
                                 f"#{index}; steps: {self.steps}")
        return matching[index]

    def count(self, way: str, start: str, method: str | None = None) -> int:
        """How many datagrams went `way` whose start line begins with `start` (and whose CSeq
        method is `method`, when given)."""
        return sum(1 for m in self.wire if m.way == way and m.start_line.startswith(start)
                   and (method is None or m.cseq.endswith(" " + method)))

    def times(self, way: str, start: str, method: str | None = None) -> list[float]:
        """When SIPp logged each matching datagram (see count())."""
        return [m.at for m in self.wire if m.at is not None and m.way == way
                and m.start_line.startswith(start)
                and (method is None or m.cseq.endswith(" " + method))]

    def summary(self) -> str:
        lines = [f"sipp exit {self.returncode}; success {self.successful_calls}, failed "
                 f"{self.failed_calls}"]
        lines += [f"  {s.direction:8} {s.name:8} {s.messages} msg {s.retransmissions} retrans "
                  f"{s.timeouts} timeout {s.unexpected} unexpected" for s in self.steps]
        lines += [f"  {m.way:8} {m.start_line}  [{m.cseq}]" for m in self.wire]
        if self.stderr.strip():
            lines.append("  stderr: " + self.stderr.strip()[-800:])
        return "\n".join(lines)


def parse_screen(text: str) -> list[ScenarioStep]:
    steps: list[ScenarioStep] = []
    for line in text.splitlines():
        uac = _STEP_UAC.match(line)
        match = uac or _STEP_UAS.match(line)
        if not match:
            continue
        rightwards = match["arrow"].endswith(">")
        sent = rightwards if uac else not rightwards
        counts = [int(n) for n in match["rest"].split() if n.isdigit()] + [0, 0, 0, 0]
        # Columns: Messages, Retrans, Timeout, Unexpected-Msg (a sent message has no last one).
        steps.append(ScenarioStep(match["name"], "sent" if sent else "received",
                                  counts[0], counts[1], counts[2], 0 if sent else counts[3]))
    return steps


def parse_messages(text: str) -> list[WireMessage]:
    """SIPp's -trace_msg log: each datagram after a dashed line ending in its local time
    ("----- 2026-11-26 19:49:20.700496")."""
    messages: list[WireMessage] = []
    # re.split with a group: [before, time1, block1, time2, block2, ...]
    parts = re.split(r"^-{10,}\s*(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)?\s*$", text,
                     flags=re.MULTILINE)
    for stamp, block in zip(parts[1::2], parts[2::2], strict=False):
        lines = block.strip("\r\n").splitlines()
        head = _MESSAGE_HEAD.match(lines[0]) if lines else None
        if head is None:
            continue
        body = lines[1:]
        while body and not body[0].strip():
            body.pop(0)
        if not body:
            continue
        cseq = next((line.split(":", 1)[1].strip() for line in body
                     if line.lower().startswith("cseq:")), "")
        to_line = next((line for line in body if re.match(r"(?i)(to|t):", line)), "")
        tag = re.search(r";\s*tag=([^;>\s]+)", to_line)
        at = (datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()
              if stamp else None)
        messages.append(WireMessage(head["way"], body[0].strip(), cseq,
                                    tag[1] if tag else None, "\n".join(body), at))
    return messages


def parse_statistics(path: Path) -> dict[str, str]:
    """The last row of SIPp's -trace_stat CSV (semicolon separated), keyed by column name."""
    with path.open(newline="") as handle:
        rows = [row for row in csv.reader(handle, delimiter=";") if row]
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0], rows[-1], strict=False))


def udp_port_bound(host: str, port: int) -> bool:
    """Is someone bound to host:port (UDP)? Asked by trying to bind it ourselves."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


class Sipp:
    """One SIPp run of `scenario` on 127.0.0.1, either calling `remote` (UAC scenarios) or
    waiting for a call (UAS scenarios, remote None)."""

    def __init__(self, workdir: Path, scenario: Path, *, remote: str | None = None,
                 service: str = "service", extra: tuple[str, ...] = (),
                 timeout_s: int = 20, host: str = "127.0.0.1") -> None:
        self.workdir = workdir
        self.scenario = scenario
        self.remote = remote
        self.service = service
        self.extra = extra
        self.timeout_s = timeout_s
        self.host = host
        self.port = free_udp_port(host)
        self.media_port = free_udp_port(host)
        self.proc: subprocess.Popen[bytes] | None = None
        self.workdir.mkdir(parents=True, exist_ok=True)

    @property
    def uri(self) -> str:
        return f"sip:{self.service}@{self.host}:{self.port}"

    def _path(self, kind: str) -> Path:
        return self.workdir / f"sipp-{kind}.log"

    def start(self, wait_bound: float = 10.0) -> Sipp:
        binary = require_tool("sipp")
        command = [binary, "-sf", str(self.scenario), "-i", self.host, "-p", str(self.port),
                   "-mi", self.host, "-mp", str(self.media_port),
                   "-m", "1", "-l", "1", "-timeout", f"{self.timeout_s}s", "-timeout_error",
                   "-nostdin", "-nd",
                   "-trace_screen", "-screen_file", str(self._path("screen")),
                   "-trace_stat", "-stf", str(self.workdir / "sipp-stat.csv"),
                   "-trace_msg", "-message_file", str(self._path("messages")),
                   "-trace_err", "-error_file", str(self._path("errors")),
                   *self.extra]
        if self.remote is not None:
            command += ["-s", self.service, self.remote]
        self.proc = subprocess.Popen(command, cwd=self.workdir, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True)
        if self.remote is None:
            # A UAS must be listening before the phone dials: wait until SIPp holds its port
            # (polling with a bound; it times nothing).
            deadline = time.monotonic() + wait_bound
            while not udp_port_bound(self.host, self.port):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"SIPp did not bind {self.host}:{self.port}: "
                                         + self._stderr_now())
                time.sleep(0.02)
        return self

    def _stderr_now(self) -> str:
        if self.proc is None or self.proc.poll() is None:
            return "(still running)"
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode(errors="replace")[-1500:]

    def finish(self, timeout: float = 25.0) -> SippResult:
        """Wait for SIPp to end by itself (killed after `timeout`) and read what it recorded."""
        assert self.proc is not None, "finish() before start()"
        try:
            _, stderr = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            _, stderr = self.proc.communicate()
            stderr += f"\n[killed: still running after {timeout:g} s]".encode()
        screen = self._path("screen")
        messages = self._path("messages")
        stat = self.workdir / "sipp-stat.csv"
        return SippResult(
            returncode=self.proc.returncode,
            stderr=stderr.decode(errors="replace"),
            steps=parse_screen(screen.read_text(errors="replace")) if screen.exists() else [],
            statistics=parse_statistics(stat) if stat.exists() else {},
            wire=parse_messages(messages.read_text(errors="replace"))
            if messages.exists() else [],
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            self.proc.wait(5)
