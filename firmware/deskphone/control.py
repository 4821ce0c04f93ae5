"""The control socket: the one automation surface (tests, the demo, benchmarks, people's scripts).

One request per line, one JSON reply per line: `{"ok": true, "result": ...}` or
`{"ok": false, "error": "..."}`. The socket can dial and confirm a SAS, so only its owner may use
it: it is created mode 0600 in a directory nobody else can write, and every connection's peer
credentials (SO_PEERCRED) must be our own uid (or root's).
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import socket
import stat
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

MAX_REQUEST = 4096  # a command line; anything longer is refused, not buffered
Handler = Callable[[str, list[str]], Awaitable[Any]]


# The commands a phone answers, with their arguments and what they do: `help` on the socket and
# `deskphone ctl help` (which needs no running phone) print this one table; a test checks it
# names exactly the commands the phone dispatches.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("hook", "off|on", "lift (off) or put down (on) the handset"),
    ("press", "KEYS", "press keypad keys 0-9 * # A-D: press 202#"),
    ("dial", "TARGET", "call an extension or a sip:/sips:/tel: URI"),
    ("hangup", "", "end the call (puts the handset down)"),
    ("hold", "", "put the call on hold, or resume it"),
    ("transfer", "TARGET|--attended ID", "blind transfer; held call ID to this call"),
    ("answer", "ID", "answer call ID (holds the current one)"),
    ("swap", "", "hold this call, resume the other (as D)"),
    ("conference", "", "mix this call and the held one, 3-way (as #)"),
    ("calls", "", "every call: id, state, security, SAS"),
    ("confirm-sas", "", "the SAS read aloud matched (as pressing #)"),
    ("reject-sas", "", "the SAS did not match (as *): possible MITM"),
    ("reverify", "", "forget the peer's verification, compare again"),
    ("stats", "", "show or hide the call-quality screen"),
    ("history", "[call N]", "the call history, newest first; call N back"),
    ("redial", "", "call the last number dialled again"),
    ("contacts", "", "contacts (file and LAN) with verified marks"),
    ("dnd", "on|off", "do not disturb: callers turned away, missed"),
    ("mute", "", "mute or unmute the microphone in a call"),
    ("volume", "[WHICH up|down|N]", "earpiece/ringer volume 0-10, remembered"),
    ("forward", "[off|MODE TARGET [S]]", "forward always|busy|no_answer (302)"),
    ("voicemail", "[call]", "the voicemail lamp's count; call the mailbox"),
    ("screenshot", "FILE.png", "save the screen as a PNG (4x scale)"),
    ("state", "", "the phone's state as JSON: call, sas, screen"),
    ("wait", "KEY=VALUE... [timeout=S]", "wait until the state matches: call=in_call"),
    ("shutdown", "", "stop the phone"),
    ("help", "", "this list"),
)


def help_text() -> str:
    width = max(len(f"{name} {args}".strip()) for name, args, _ in COMMANDS)
    lines = [f"  {f'{name} {args}'.strip():<{width}}  {what}" for name, args, what in COMMANDS]
    return "commands:\n" + "\n".join(lines)


class ControlError(Exception):
    """A bad command or argument; the message goes back to the client as is."""


def check_socket_dir(directory: Path) -> None:
    """Refuse a directory another user could write to (they could swap our socket)."""
    st = directory.stat()
    if st.st_uid != os.geteuid():
        raise ControlError(f"control socket directory {directory} is owned by uid {st.st_uid}, "
                           f"expected our own uid {os.geteuid()}")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ControlError(f"control socket directory {directory} is writable by others "
                           f"(mode {stat.S_IMODE(st.st_mode):o}); expected 0700 or 0755")


def peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


class ControlServer:
    def __init__(self, path: Path, handler: Handler) -> None:
        self.path = path
        self.handler = handler
        self._server: asyncio.AbstractServer | None = None
        self.refused = 0

    async def start(self) -> None:
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        check_socket_dir(directory)
        if self.path.exists() or self.path.is_symlink():
            if not stat.S_ISSOCK(self.path.lstat().st_mode):
                raise ControlError(
                    f"{self.path} exists and is not a socket; refusing to replace it")
            self.path.unlink()
        old_umask = os.umask(0o177)  # the socket is born 0600: no window where others can connect
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.path),
                                                           limit=MAX_REQUEST)
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        try:
            uid = peer_uid(sock)
        except OSError:
            uid = -1
        if uid not in (os.geteuid(), 0):
            self.refused += 1
            writer.close()
            return
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    await self._reply(writer, False, f"request longer than {MAX_REQUEST} bytes")
                    break
                if not line:
                    break
                reply = await self._dispatch(line)
                writer.write(reply)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _reply(self, writer: asyncio.StreamWriter, ok: bool, payload: Any) -> None:
        writer.write(_encode(ok, payload))
        await writer.drain()

    async def _dispatch(self, line: bytes) -> bytes:
        try:
            text = line.decode("utf-8").strip()
            words = shlex.split(text)
        except (UnicodeDecodeError, ValueError) as exc:
            return _encode(False, f"cannot read the command: {exc}")
        if not words:
            return _encode(False, "empty command; try 'help'")
        try:
            result = await self.handler(words[0], words[1:])
        except ControlError as exc:
            return _encode(False, str(exc))
        except Exception as exc:  # never let a command take the phone down
            return _encode(False, f"{words[0]} failed: {type(exc).__name__}: {exc}")
        return _encode(True, result)


def _encode(ok: bool, payload: Any) -> bytes:
    body = {"ok": ok, "result" if ok else "error": payload}
    return (json.dumps(body, ensure_ascii=False) + "\n").encode("utf-8")


# -- client ----------------------------------------------------------------------------------


def request(path: Path, command: str, timeout: float = 30.0) -> dict[str, Any]:
    """Send one command line and return the decoded reply (blocking; used by `deskphone ctl`)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(command.encode("utf-8") + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    if not data:
        raise ControlError(f"no reply from {path} (connection refused or closed)")
    reply: dict[str, Any] = json.loads(data)
    return reply


async def request_async(path: Path, command: str, timeout: float = 30.0) -> dict[str, Any]:
    reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), timeout)
    try:
        writer.write(command.encode("utf-8") + b"\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout)
    finally:
        writer.close()
    if not line:
        raise ControlError(f"no reply from {path}")
    reply: dict[str, Any] = json.loads(line)
    return reply
