"""Run simulated phones as separate processes and drive them through their control sockets.

The demo, the end-to-end tests and the benchmarks all use this: each phone is a real
`deskphone run --sim` process with its own config, data dir and control socket, and is driven only
the way a person's script would drive it (`deskphone ctl`).
"""

from __future__ import annotations

import contextlib
import os
import random
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deskphone.control import request


class PhoneError(RuntimeError):
    pass


@dataclass
class PhoneProcess:
    name: str
    extension: str
    workdir: Path
    config_text: str
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.workdir, 0o700)
        self.log_path = self.workdir / "phone.log"

    @property
    def control(self) -> Path:
        return self.workdir / "control.sock"

    @property
    def config_path(self) -> Path:
        return self.workdir / "deskphone.toml"

    def command_prefix(self) -> list[str]:
        """What the phone's command runs under (e.g. `ip netns exec NAME` in a subclass)."""
        return []

    def start(self, timeout: float = 20.0, extra_env: dict[str, str] | None = None) -> None:
        self.config_path.write_text(self.config_text)
        env = dict(os.environ)
        env.setdefault("DESKPHONE_LOG", "INFO")
        env.update(extra_env or {})
        log = open(self.log_path, "ab")  # noqa: SIM115 — kept open for the child's lifetime
        self.proc = subprocess.Popen(
            [*self.command_prefix(), sys.executable, "-m", "deskphone.cli", "run", "--sim",
             "--no-terminal",
             "--config", str(self.config_path), "--data-dir", str(self.workdir / "data"),
             "--control", str(self.control)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
        log.close()
        deadline = time.monotonic() + timeout
        while True:  # wait until the phone answers on its control socket
            if self.proc.poll() is not None:
                raise PhoneError(f"phone {self.name} exited with {self.proc.returncode}:\n"
                                 + self.log_tail())
            if self.control.exists():
                with contextlib.suppress(OSError, PhoneError):
                    self.ctl("state")
                    return
            if time.monotonic() > deadline:
                raise PhoneError(f"phone {self.name} did not open its control socket in "
                                 f"{timeout:g} s:\n" + self.log_tail())
            time.sleep(0.05)  # polling a condition with a deadline, not timing behaviour

    def ctl(self, *words: str, timeout: float = 30.0) -> Any:
        reply = request(self.control, shlex.join(words), timeout=timeout)
        if not reply.get("ok"):
            raise PhoneError(f"{self.name}: {' '.join(words)}: {reply.get('error')}")
        return reply.get("result")

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self.ctl("state")
        return result

    def wait(self, timeout: float = 15.0, **conditions: str) -> dict[str, Any]:
        words = [f"{k}={v}" for k, v in conditions.items()] + [f"timeout={timeout:g}"]
        result: dict[str, Any] = self.ctl("wait", *words, timeout=timeout + 5)
        return result

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            with contextlib.suppress(Exception):
                self.ctl("shutdown", timeout=3)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait(5)
        return self.proc.returncode


def lan_config(extension: str, display_name: str, *, user: str | None = None,
               extra: str = "") -> str:
    """A simulated phone on loopback in the LAN default: no server, found by DNS-SD."""
    return f"""
[identity]
user = "{user or 'ext' + extension}"
extension = "{extension}"
display_name = "{display_name}"

[sip]
listen = "udp:127.0.0.1:0"

[devices]
mode = "sim"
{extra}
"""


def unique_extensions(count: int) -> list[str]:
    """Extensions no other phone on this machine is likely to announce.

    Every simulated phone announces itself over mDNS on loopback, and two phones claiming one
    extension make it ambiguous (deliberately: the directory then refuses to guess). Tests and
    benchmarks that run beside each other, or after a phone that was killed before it could say
    goodbye, must therefore not all use 201 and 202.
    """
    rng = random.Random(os.getpid() * 7919 + time.monotonic_ns())
    return [str(n) for n in rng.sample(range(30000, 99999), count)]


class PhonePair(contextlib.AbstractContextManager["PhonePair"]):
    """Two LAN phones, A (Alice) and B (Bob), started and stopped together."""

    def __init__(self, root: Path | None = None, extra_a: str = "", extra_b: str = "",
                 extensions: tuple[str, str] | None = None) -> None:
        self._tmp = None
        if root is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="deskphone-")
            root = Path(self._tmp.name)
        ext_a, ext_b = extensions or unique_extensions(2)
        self.a = PhoneProcess("A", ext_a, root / "a", lan_config(ext_a, "Alice", extra=extra_a))
        self.b = PhoneProcess("B", ext_b, root / "b", lan_config(ext_b, "Bob", extra=extra_b))

    def __enter__(self) -> PhonePair:
        self.a.start()
        self.b.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.a.stop()
        self.b.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
