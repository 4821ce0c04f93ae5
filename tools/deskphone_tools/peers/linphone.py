"""linphonec as an independent ZRTP peer: one process, commands on stdin, stdout parsed.

linphonec 5.1 (Debian `linphone-cli`) was driven by hand on loopback to learn what is below.

Commands it accepts on stdin (one per line; `help`, `help advanced`, `help <command>` list them):
  call <uri>        -> "Establishing call id to <uri>, assigned id 1"
                       "Call 1 to <uri> in progress." / "Call 1 to <uri> ringing."
  answer            -> "Call 1 with <from> connected."   (answers the current incoming call)
  terminate         -> "Call 1 with <remote> ended (No error)."   (`terminate all` ends every call)
  soundcard use files   audio comes from `play FILE` and goes to `record FILE` instead of a device;
                        it must be set before the call starts (it applies to the next stream)
  play <wav>        sends the WAV (8 kHz mono tried) to the far end; in a call it starts at once
  record <wav>      writes what is received, decrypted, to a WAV at the call codec's clock rate
                    (48 kHz mono for opus, 8 kHz for PCMU); may be given before the call
  zrtp-set-verified / zrtp-set-unverified   marks the SAS in its ZID cache
  quit              -> "Terminating..." then exits 0 (SIGTERM/SIGINT do the same clean exit)

Lines it prints (stdout is flushed per line; the prompt "linphonec> " is glued in front of
whatever line follows it, so it is stripped before matching):
  "Receiving new incoming call from <from>, assigned id 1"
  "Media streams established with <remote> for call 1 (audio)."
  "Call 1 is fully encrypted and auth token is 7ep3."              (B32 SAS)
  "Call 1 is fully encrypted and auth token is slowdown:cannonball." (B256 SAS)
  "Call 1 is not fully encrypted and auth token is absent."
  "Call 1 with <remote> error."  and  "Call 1 with <remote> ended (<reason>)."
Errors from its libraries go to stderr as "<date> liblinphone-error-..." (no sound card, no
ringback file...): harmless, kept in the log for diagnosis.

It has no "ready" line that follows the SIP socket, so start() watches /proc for the process's
own UDP socket on the SIP port.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from deskphone_tools.peers.linphonerc import LinphoneConfig

LINPHONEC = "linphonec"
PROMPT = "linphonec> "

INCOMING_CALL = re.compile(
    r"Receiving new incoming call from (?P<remote>.+), assigned id (?P<id>\d+)"
)
OUTGOING_CALL = re.compile(r"Establishing call id to (?P<remote>.+), assigned id (?P<id>\d+)")
CALL_CONNECTED = re.compile(r"Call (?P<id>\d+) with (?P<remote>.+) connected\.")
MEDIA_ESTABLISHED = re.compile(
    r"Media streams established with (?P<remote>.+) for call (?P<id>\d+)"
)
# The SAS is B32 (4 characters) or B256 (two PGP words joined by ':'); neither contains '.'.
SAS_SHOWN = re.compile(r"Call (?P<id>\d+) is fully encrypted and auth token is (?P<sas>[^\s.]+)\.")
NOT_ENCRYPTED = re.compile(
    r"Call (?P<id>\d+) is not fully encrypted and auth token is (?P<sas>[^\s.]+)\."
)
CALL_ERROR = re.compile(r"Call (?P<id>\d+) with (?P<remote>.+) error\.")
CALL_ENDED = re.compile(r"Call (?P<id>\d+) with (?P<remote>.+) ended \((?P<reason>[^)]*)\)\.")
# Either way a call is over: "... error." or "... ended (reason)."
CALL_OVER = re.compile(
    r"Call (?P<id>\d+) with (?P<remote>.+) (?:error\.|ended \((?P<reason>[^)]*)\)\.)"
)
USING_FILES = re.compile(r"Using wav files instead of soundcard\.")
INVITE_REFUSED = re.compile(r"Error from linphone_core_invite\.")
NOTHING_TO_ANSWER = re.compile(r"There are no calls to answer\.")
NO_ACTIVE_CALLS = re.compile(r"No active calls")

QUIT_TIMEOUT = 5.0
READY_POLL_INTERVAL = 0.02


def _any_of(*patterns: re.Pattern[str]) -> re.Pattern[str]:
    """One pattern matching any of `patterns` (their group names dropped)."""
    return re.compile("|".join(f"(?:{re.sub(r'[?]P<[a-z]+>', '', p.pattern)})" for p in patterns))


class LinphoneError(RuntimeError):
    """linphonec did not do what was expected; the message carries the tail of its output."""


@dataclass(frozen=True)
class OutputLine:
    """One line linphonec printed, prompt stripped, with the time.monotonic() it was read."""

    at: float
    text: str


@dataclass(frozen=True)
class MatchedLine:
    line: OutputLine
    match: re.Match[str]


def _udp_inodes_listening(host: str, port: int, pid: int | str = "self") -> set[int]:
    """Socket inodes bound to host:port over UDP, from /proc/PID/net/udp (Linux): the table
    of that process's network namespace (a linphonec run under `ip netns exec`)."""
    packed = "".join(f"{int(octet):02X}" for octet in reversed(host.split(".")))
    wanted = {f"{packed}:{port:04X}", f"00000000:{port:04X}"}
    inodes: set[int] = set()
    with contextlib.suppress(OSError), open(f"/proc/{pid}/net/udp") as table:
        next(table, None)
        for row in table:
            fields = row.split()
            if len(fields) > 9 and fields[1] in wanted:
                inodes.add(int(fields[9]))
    return inodes


def _socket_inodes_of(pid: int) -> set[int]:
    inodes: set[int] = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
    return inodes


class LinphonePeer:
    """One linphonec process on loopback, driven through stdin, its stdout parsed into lines.

    Use as `async with LinphonePeer(...) as peer:` or call start()/stop(). Each instance gets its
    own HOME under `workdir` (its database, ZRTP cache and rc file live there).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        user: str,
        sip_port: int,
        rtp_port: int,
        auto_answer: bool = False,
        zrtp_mandatory: bool = True,
        key_agreements: list[str] | None = None,
        sas_types: list[str] | None = None,
        hashes: list[str] | None = None,
        ciphers: list[str] | None = None,
        auth_tags: list[str] | None = None,
        codecs: list[str] | None = None,
        host: str = "127.0.0.1",
        media_encryption: str = "zrtp",
        use_files: bool = True,
        keep_zrtp_cache: bool = False,
        trace_level: int = 0,
        extra_config: Mapping[str, Mapping[str, str]] | None = None,
        program: str = LINPHONEC,
    ) -> None:
        self.config = LinphoneConfig(
            user=user,
            sip_port=sip_port,
            rtp_port=rtp_port,
            host=host,
            media_encryption=media_encryption,
            zrtp_mandatory=zrtp_mandatory,
            key_agreements=key_agreements,
            sas_types=sas_types,
            hashes=hashes,
            ciphers=ciphers,
            auth_tags=auth_tags,
            codecs=codecs,
            extra=extra_config or {},
        )
        self.workdir = Path(workdir)
        self.home = self.workdir / "home"
        self.rc_path = self.workdir / "linphonerc"
        self.log_path = self.workdir / "linphonec.log"
        # With trace_level > 0 linphone's own debug log (SIP messages, bzrtp state) goes here.
        self.trace_path = self.workdir / "linphonec-trace.log"
        self.zrtp_cache_path = self.home / ".local/share/linphone/zrtp-secrets.db"
        self.auto_answer = auto_answer
        self.use_files = use_files
        self.keep_zrtp_cache = keep_zrtp_cache
        self.trace_level = trace_level
        self.program = program
        self.timed_lines: list[OutputLine] = []
        self.dropped_long_lines = 0
        self._cursor = 0
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._new_output = asyncio.Event()
        self._eof = False

    # ----------------------------------------------------------------- introspection
    @property
    def sip_uri(self) -> str:
        """Where to call this peer: sip:user@host:port."""
        return self.config.sip_uri

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    @property
    def lines(self) -> list[str]:
        """Everything it printed so far (stdout and stderr, prompt stripped)."""
        return [line.text for line in self.timed_lines]

    def tail(self, count: int = 25) -> str:
        return "\n".join(self.lines[-count:])

    def mark(self) -> int:
        """A position in the output; pass it as `since` to match only lines printed after it."""
        return len(self.timed_lines)

    # ----------------------------------------------------------------- lifecycle
    async def __aenter__(self) -> LinphonePeer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self, timeout: float = 15) -> None:
        """Start linphonec and wait until its SIP socket listens (and file audio is selected)."""
        if self._process is not None:
            raise LinphoneError(
                f"linphonec for {self.sip_uri} was already started (pid {self.pid})"
            )
        # Without this directory linphonec cannot open its database and never opens a SIP socket
        # ("No listening point").
        (self.home / ".local/share/linphone").mkdir(parents=True, exist_ok=True)
        if not self.keep_zrtp_cache:
            self.zrtp_cache_path.unlink(missing_ok=True)
        # Rendered afresh every time: linphonec rewrites its rc file on exit.
        self.rc_path.write_text(self.config.render())
        args = ["-c", str(self.rc_path)]
        if self.auto_answer:
            args.append("-a")
        if self.trace_level > 0:
            args += ["-d", str(self.trace_level), "-l", str(self.trace_path)]
        env = {**os.environ, "HOME": str(self.home)}
        # Keep it off any real sound server: it has no business playing on the host.
        env.pop("PULSE_SERVER", None)
        self._process = await asyncio.create_subprocess_exec(
            self.program,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            cwd=str(self.workdir),
            start_new_session=True,
        )
        self._reader = asyncio.create_task(
            self._read_output(), name=f"linphonec {self.config.user}"
        )
        try:
            await self._wait_listening(timeout)
            if self.use_files:
                await self.send("soundcard use files")
                await self.wait_for_line(USING_FILES, timeout)
        except BaseException:
            await self.stop()
            raise

    async def _wait_listening(self, timeout: float) -> None:
        # Polling /proc: linphonec prints nothing when its socket is bound (see module docstring).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        host, port = self.config.host, self.config.sip_port
        while True:
            if not self.running:
                await self._drain_reader()
                raise LinphoneError(
                    f"linphonec for {self.sip_uri} exited with {self._returncode()} before "
                    f"listening on udp {host}:{port}; it printed:\n{self.tail()}"
                )
            assert self._process is not None
            pid = self._process.pid
            if _udp_inodes_listening(host, port, pid) & _socket_inodes_of(pid):
                return
            if loop.time() >= deadline:
                raise LinphoneError(
                    f"linphonec for {self.sip_uri} did not listen on udp {host}:{port} within "
                    f"{timeout} s (port taken?); it printed:\n{self.tail()}"
                )
            await asyncio.sleep(READY_POLL_INTERVAL)

    def _returncode(self) -> int | None:
        return self._process.returncode if self._process else None

    async def stop(self, timeout: float = QUIT_TIMEOUT) -> None:
        """`quit`, then SIGTERM, then SIGKILL (to its whole session) if it lingers. Never leaks."""
        process = self._process
        if process is None:
            return
        try:
            if process.returncode is None:
                with contextlib.suppress(OSError, RuntimeError):
                    await self.send("quit")
                if not await self._wait_exit(timeout):
                    self._signal_session(signal.SIGTERM)
                    if not await self._wait_exit(timeout):
                        self._signal_session(signal.SIGKILL)
                        await process.wait()
        finally:
            # Anything it left in its session (it starts none that we know of) goes too.
            self._signal_session(signal.SIGKILL)
            if process.stdin is not None:
                process.stdin.close()
            await self._drain_reader()

    async def _wait_exit(self, timeout: float) -> bool:
        assert self._process is not None
        try:
            await asyncio.wait_for(self._process.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def _signal_session(self, signum: int) -> None:
        if self._process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signum)

    async def _drain_reader(self) -> None:
        if self._reader is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._reader), QUIT_TIMEOUT)
        except TimeoutError:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def _read_output(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        stdout = self._process.stdout
        with open(self.log_path, "a", encoding="utf-8", errors="replace") as log:
            while True:
                try:
                    raw = await stdout.readline()
                except ValueError:  # a line over the stream limit (64 KiB): dropped, counted
                    self.dropped_long_lines += 1
                    continue
                if not raw:
                    break
                at = time.monotonic()
                log.write(f"{at:.6f} {raw.decode('utf-8', 'replace').rstrip()}\n")
                log.flush()
                text = raw.decode("utf-8", "replace").rstrip("\r\n")
                while text.startswith(PROMPT):
                    text = text[len(PROMPT) :]
                self.timed_lines.append(OutputLine(at, text))
                self._new_output.set()
        self._eof = True
        self._new_output.set()

    # ----------------------------------------------------------------- output
    async def wait_for_line(
        self,
        regex: str | re.Pattern[str],
        timeout: float,
        *,
        since: int | None = None,
        fail: str | re.Pattern[str] | None = None,
    ) -> MatchedLine:
        """The first line matching `regex` printed at or after `since` (default: after the last
        line an earlier wait matched). Lines matching `fail` first raise LinphoneError."""
        pattern = re.compile(regex) if isinstance(regex, str) else regex
        failure = re.compile(fail) if isinstance(fail, str) else fail
        position = self._cursor if since is None else since
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            while position < len(self.timed_lines):
                line = self.timed_lines[position]
                position += 1
                match = pattern.search(line.text)
                if match:
                    self._cursor = max(self._cursor, position)
                    return MatchedLine(line, match)
                if failure is not None and failure.search(line.text):
                    raise LinphoneError(
                        f"linphonec {self.config.user} printed {line.text!r} while waiting for "
                        f"{pattern.pattern!r}; last output:\n{self.tail()}"
                    )
            if self._eof:
                raise LinphoneError(
                    f"linphonec {self.config.user} exited ({self._returncode()}) while waiting for "
                    f"{pattern.pattern!r}; last output:\n{self.tail()}"
                )
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise LinphoneError(
                    f"linphonec {self.config.user} printed no line matching {pattern.pattern!r} "
                    f"within {timeout} s; last output:\n{self.tail()}"
                )
            self._new_output.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._new_output.wait(), remaining)

    async def wait_for(
        self, regex: str | re.Pattern[str], timeout: float = 15, *, since: int | None = None
    ) -> re.Match[str]:
        return (await self.wait_for_line(regex, timeout, since=since)).match

    async def wait_for_incoming(self, timeout: float = 15, *, since: int | None = None) -> str:
        """The From of the next incoming call."""
        found = await self.wait_for_line(INCOMING_CALL, timeout, since=since)
        return found.match.group("remote")

    async def wait_connected(self, timeout: float = 15, *, since: int | None = None) -> str:
        found = await self.wait_for_line(CALL_CONNECTED, timeout, since=since, fail=CALL_OVER)
        return found.match.group("remote")

    async def wait_media_established(self, timeout: float = 15, *, since: int | None = None) -> str:
        """Waits for "Media streams established with <remote> ..." (RTP flowing, ZRTP starting)."""
        found = await self.wait_for_line(MEDIA_ESTABLISHED, timeout, since=since, fail=CALL_OVER)
        return found.match.group("remote")

    async def wait_for_sas(self, timeout: float = 15, *, since: int | None = None) -> str:
        """The SAS (auth token) it printed once the call is fully encrypted.

        Raises LinphoneError if the call ends, fails, or is reported not fully encrypted first.
        """
        return (await self.wait_for_sas_line(timeout, since=since)).match.group("sas")

    async def wait_for_sas_line(
        self, timeout: float = 15, *, since: int | None = None
    ) -> MatchedLine:
        return await self.wait_for_line(
            SAS_SHOWN, timeout, since=since, fail=_any_of(CALL_OVER, NOT_ENCRYPTED)
        )

    async def wait_call_end(self, timeout: float = 15, *, since: int | None = None) -> str:
        """The reason of the next call end ("No error", "Declined", ...), or "error"."""
        found = await self.wait_for_line(CALL_OVER, timeout, since=since)
        return found.match.group("reason") or "error"

    # ----------------------------------------------------------------- commands
    async def send(self, command: str) -> float:
        """Write one command line; returns the time.monotonic() just before the write."""
        if "\n" in command or "\r" in command:
            raise ValueError(f"linphonec command {command!r} spans lines (expected one line)")
        if not self.running:
            raise LinphoneError(
                f"linphonec {self.config.user} is not running (exit {self._returncode()}); "
                f"cannot send {command!r}"
            )
        assert self._process is not None and self._process.stdin is not None
        sent_at = time.monotonic()
        self._process.stdin.write(command.encode() + b"\n")
        await self._process.stdin.drain()
        return sent_at

    async def call(self, uri: str, timeout: float = 5) -> float:
        """`call URI`; returns once linphonec reports the outgoing call (INVITE under way).

        Returns the time.monotonic() just before the command was written.
        """
        if not uri.startswith(("sip:", "sips:")) or any(c.isspace() for c in uri):
            raise ValueError(f"call: {uri!r} is not a SIP URI (expected sip:user@host:port)")
        since = self.mark()
        sent_at = await self.send(f"call {uri}")
        await self.wait_for_line(
            OUTGOING_CALL, timeout, since=since, fail=_any_of(INVITE_REFUSED, CALL_OVER)
        )
        return sent_at

    async def answer(self, timeout: float = 5) -> None:
        """`answer` the current incoming call and wait until it is connected."""
        since = self.mark()
        await self.send("answer")
        await self.wait_for_line(
            CALL_CONNECTED, timeout, since=since, fail=_any_of(NOTHING_TO_ANSWER, CALL_OVER)
        )

    async def terminate(self, timeout: float = 5) -> str:
        """`terminate` the current call; returns the end reason it printed."""
        since = self.mark()
        await self.send("terminate")
        found = await self.wait_for_line(CALL_OVER, timeout, since=since, fail=NO_ACTIVE_CALLS)
        return found.match.group("reason") or "error"

    async def play(self, wav: Path) -> None:
        """Send a WAV file to the far end (8 kHz mono 16-bit is what was tried).

        Needs file audio (use_files=True, the default), which is selected at start().
        """
        await self._send_path("play", wav)

    async def record(self, wav: Path) -> None:
        """Record what is received, decrypted, to `wav` (at the call codec's clock rate).

        May be given before the call; the file is complete once the call has ended.
        """
        await self._send_path("record", wav, must_exist=False)

    async def set_sas_verified(self, verified: bool = True) -> None:
        await self.send("zrtp-set-verified" if verified else "zrtp-set-unverified")

    async def _send_path(self, command: str, path: Path, *, must_exist: bool = True) -> None:
        path = Path(path).resolve()
        if must_exist and not path.is_file():
            raise FileNotFoundError(f"{command}: no such file {path}")
        if any(c.isspace() for c in str(path)):
            raise ValueError(
                f"{command}: path {str(path)!r} contains white space (linphonec splits on it)"
            )
        if not self.use_files:
            raise LinphoneError(
                f"{command} needs file audio: construct the peer with use_files=True"
            )
        await self.send(f"{command} {path}")
