"""Phones in the NAT lab's homes and a Kamailio registrar on its public side (tests/nat, bench).

`LabRegistrar` runs Kamailio (kamailio-nat.cfg: registrar + record-routing proxy with nathelper,
signalling only) inside the lab's public namespace; `LabPhone` is a `deskphone run --sim`
process inside a home namespace, driven through its control socket like every other phone.
Both are killed by the lab's close() if the test does not stop them first.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from deskphone_tools.harness import PhoneProcess
from deskphone_tools.natlab import PUBLIC_ADDRESS, LabNamespace, NatLab

CONFIG = Path(__file__).with_name("kamailio-nat.cfg")
SIP_PORT = 5060
USERS = {"201": "alice", "202": "bob", "203": "carol"}


def _options_probe(port: int) -> str:
    """A Python one-liner run in the public namespace: exit 0 once Kamailio answers OPTIONS."""
    return f"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("{PUBLIC_ADDRESS}", 0))
s.settimeout(0.2)
me = "%s:%d" % s.getsockname()
msg = ("OPTIONS sip:{PUBLIC_ADDRESS}:{port} SIP/2.0\\r\\nVia: SIP/2.0/UDP " + me +
       ";branch=z9hG4bKprobe\\r\\nMax-Forwards: 70\\r\\nFrom: <sip:probe@" + me +
       ">;tag=p\\r\\nTo: <sip:{PUBLIC_ADDRESS}>\\r\\nCall-ID: probe\\r\\nCSeq: 1 OPTIONS\\r\\n"
       "Content-Length: 0\\r\\n\\r\\n").encode()
deadline = time.monotonic() + 15
while time.monotonic() < deadline:
    s.sendto(msg, ("{PUBLIC_ADDRESS}", {port}))
    try:
        s.recvfrom(4096); sys.exit(0)
    except socket.timeout:
        pass
sys.exit(1)
"""


@dataclass
class LabRegistrar:
    lab: NatLab
    port: int = SIP_PORT
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="dpnat-kam-")))

    @property
    def address(self) -> str:
        return f"{PUBLIC_ADDRESS}:{self.port}"

    @property
    def log(self) -> Path:
        return self.root / "kamailio.log"

    def start(self) -> None:
        binary = shutil.which("kamailio") or "/usr/sbin/kamailio"
        text = CONFIG.read_text().replace("__ADDRESS__", PUBLIC_ADDRESS)
        cfg = self.root / "kamailio.cfg"
        cfg.write_text(text.replace("__PORT__", str(self.port)))
        (self.root / "run").mkdir(exist_ok=True)
        self.lab.public.run(binary, "-c", "-f", str(cfg), timeout=30)  # config check
        with open(self.log, "ab") as log:
            self.lab.spawn(self.lab.public, binary, "-DD", "-E", "-f", str(cfg), "-Y",
                           str(self.root / "run"), "-m", "32", "-M", "8",
                           stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        probe = subprocess.run(self.lab.public.command(sys.executable, "-c",
                                                        _options_probe(self.port)),
                               capture_output=True, text=True, timeout=30, check=False)
        if probe.returncode != 0:
            raise RuntimeError(f"kamailio did not answer OPTIONS on {self.address}: "
                               f"{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class LabPhone(PhoneProcess):
    """A `deskphone run --sim` process inside one of the lab's home namespaces."""

    namespace: LabNamespace | None = None

    def command_prefix(self) -> list[str]:
        assert self.namespace is not None, f"phone {self.name}: no namespace"
        return ["ip", "netns", "exec", self.namespace.name]


def lab_phone(root: Path, home: LabNamespace, user: str, extension: str, registrar: str, *,
              nat: str, audio: str, sip: str = "") -> LabPhone:
    """A phone registered as `user` with the lab's registrar; 201/202 dial alice/bob there."""
    rules = "".join(f"""
[[dialplan.rules]]
match = "{number}"
to = "sip:{name}@{registrar}"
via = "office"
""" for number, name in USERS.items())
    text = f"""
[identity]
user = "{user}"
extension = "{extension}"
display_name = "{user.title()}"

[sip]
listen = "udp:{home.address}:5071"
{sip}

[media]
host = "{home.address}"

[devices]
mode = "sim"

[discovery]
enabled = false

{nat}

{audio}

[[accounts]]
name = "office"
user = "{user}"
password = "{user}pw"
registrars = ["{registrar}"]
expires = 60
{rules}"""
    phone = LabPhone(user, extension, root / user, text)
    phone.namespace = home
    return phone
