"""The control socket: owner-only, one JSON reply per line, bad commands get clear errors."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from deskphone.control import ControlError, ControlServer, check_socket_dir, request_async
from tests.support import require_root


async def _echo(name: str, args: list[str]) -> object:
    if name == "boom":
        raise RuntimeError("kaput")
    if name == "bad":
        raise ControlError("bad: expected good")
    return {"name": name, "args": args}


def _run(coro):  # noqa: ANN001, ANN202
    return asyncio.run(asyncio.wait_for(coro, 10))


def test_socket_is_owner_only_and_answers(tmp_path: Path) -> None:
    path = tmp_path / "ctl" / "control.sock"

    async def go() -> None:
        server = ControlServer(path, _echo)
        await server.start()
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
            assert mode == 0o600
            assert stat.S_IMODE(os.stat(path.parent).st_mode) & 0o022 == 0
            reply = await request_async(path, "press '12#'")
            assert reply == {"ok": True, "result": {"name": "press", "args": ["12#"]}}
            reply = await request_async(path, "bad")
            assert reply == {"ok": False, "error": "bad: expected good"}
            reply = await request_async(path, "boom")
            assert reply["ok"] is False and "kaput" in reply["error"]
            reply = await request_async(path, "unbalanced 'quote")
            assert reply["ok"] is False and "cannot read" in reply["error"]
        finally:
            await server.close()
        assert not path.exists()

    _run(go())


def test_oversized_request_is_refused_not_buffered(tmp_path: Path) -> None:
    path = tmp_path / "c.sock"

    async def go() -> None:
        server = ControlServer(path, _echo)
        await server.start()
        try:
            reply = await request_async(path, "x" * 100_000)
            assert reply["ok"] is False and "longer than" in reply["error"]
        finally:
            await server.close()

    _run(go())


def test_shared_directory_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    with pytest.raises(ControlError, match="writable by others"):
        check_socket_dir(shared)


def test_a_regular_file_at_the_socket_path_is_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    path.write_text("precious")

    async def go() -> None:
        with pytest.raises(ControlError, match="not a socket"):
            await ControlServer(path, _echo).start()

    _run(go())
    assert path.read_text() == "precious"


def test_other_users_are_refused(tmp_path: Path) -> None:
    require_root()  # connecting as another user needs root (CI runs as root)
    import shutil
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="deskphone-ctl-", dir="/tmp"))
    os.chmod(base, 0o755)  # nobody may reach the socket file: only SO_PEERCRED stands in the way
    path = base / "control.sock"
    python = shutil.which("python3", path="/usr/bin:/bin") or "python3"

    async def go() -> None:
        server = ControlServer(path, _echo)
        await server.start()
        os.chmod(path, 0o666)  # even if the mode were loosened, SO_PEERCRED still refuses
        try:
            proc = await asyncio.create_subprocess_exec(
                "runuser", "-u", "nobody", "--", python, "-c",
                "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\n"
                "try:\n s.sendall(b'state\\n'); print(repr(s.recv(100)))\n"
                "except OSError: print(repr(b''))", str(path),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await proc.communicate()
            assert out.strip() == b"b''", (out, err)
            assert server.refused == 1
        finally:
            await server.close()

    _run(go())
