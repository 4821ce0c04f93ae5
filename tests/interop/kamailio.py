"""Kamailio for the phone-level interop tests: the registrar + record-routing proxy of
tests/sip/kamailio.cfg (users alice/bob, digest auth with -A WITH_AUTH), plus a `ctl` socket so
that `kamcmd ul.dump` shows the location table; the two-node DMQ cluster comes from
tests/routing/test_kamailio_cluster.py (`Node`, `cluster`).

Every Kamailio runs as `nobody` in its own session, so `kill()` takes the whole process group
down at once, as a crashed or unplugged server would go.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.sip.test_kamailio import CONFIG, _wait_ready
from tests.support import free_udp_port, require_root, require_tool

ADDRESS = "127.0.0.1"
USERS = {"alice": "alicepw", "bob": "bobpw"}  # as in tests/sip/kamailio.cfg


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll a condition until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)  # paces the polling only; nothing is timed by it


def kamcmd(ctl: Path, *command: str) -> str | None:
    """One RPC over a node's ctl socket (`kamcmd -s unix:PATH ...`); None when it fails."""
    binary = require_tool("kamcmd")
    result = subprocess.run([binary, "-s", f"unix:{ctl}", *command], capture_output=True,
                            text=True, timeout=5, check=False)
    return result.stdout if result.returncode == 0 else None


def allow_short_expires(ctl: Path, seconds: int = 1) -> None:
    """Lower the registrar's min_expires at run time (the cluster configs keep the default 60 s,
    which Kamailio silently grants instead of a shorter request)."""
    assert kamcmd(ctl, "cfg.set_now_int", "registrar", "min_expires", str(seconds)) is not None


@dataclass
class Kamailio:
    """One registrar/proxy on a free loopback port, started and killed by the test."""

    port: int = field(default_factory=free_udp_port)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="deskphone-kam-")))
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{ADDRESS}:{self.port}"

    @property
    def ctl(self) -> Path:
        return self.root / "ctl"

    def render(self) -> Path:
        text = CONFIG.read_text().replace("__PORT__", str(self.port))
        # A ctl socket for kamcmd (ul.dump), the only addition to the shared config.
        text = text.replace('loadmodule "htable.so"\n', 'loadmodule "htable.so"\n'
                            'loadmodule "ctl.so"\n'
                            f'modparam("ctl", "binrpc", "unix:{self.ctl}")\n', 1)
        assert "ctl.so" in text, "tests/sip/kamailio.cfg no longer loads htable.so"
        self.root.chmod(0o755)
        run = self.root / "run"
        run.mkdir(exist_ok=True)
        cfg = self.root / "kamailio.cfg"
        cfg.write_text(text)
        for path in (self.root, run, cfg):
            shutil.chown(path, "nobody", "nogroup")
        return cfg

    def start(self) -> None:
        binary = require_tool("kamailio")
        require_tool("runuser")
        cfg = self.render()
        check = subprocess.run(["runuser", "-u", "nobody", "--", binary, "-c", "-A", "WITH_AUTH",
                                "-f", str(cfg)], capture_output=True, text=True, timeout=30,
                               check=False)
        assert check.returncode == 0, check.stderr[-2000:]
        with open(self.root / "kamailio.log", "ab") as log:  # the child keeps its own fd
            self.process = subprocess.Popen(
                ["runuser", "-u", "nobody", "--", binary, "-DD", "-E", "-A", "WITH_AUTH", "-f",
                 str(cfg), "-Y", str(self.root / "run"), "-m", "32", "-M", "8"],
                stdout=log, stderr=log, start_new_session=True)
        _wait_ready(self.port, time.monotonic() + 15)
        wait_until(lambda: kamcmd(self.ctl, "core.version") is not None, 10,
                   "kamailio's ctl socket")

    def kill(self) -> None:
        """SIGKILL the whole process group: the server vanishes without a word."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def contacts(self) -> str:
        return kamcmd(self.ctl, "ul.dump") or ""

    def log_tail(self, chars: int = 3000) -> str:
        path = self.root / "kamailio.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def running_kamailio() -> Iterator[Kamailio]:
    require_root()
    server = Kamailio()
    try:
        server.start()
        yield server
    finally:
        server.close()
