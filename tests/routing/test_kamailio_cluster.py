"""Two Kamailio nodes sharing registrations over DMQ: register on node 1, see it on node 2;
kill node 1, restart it, see the table synced back (docs/kamailio-cluster.md)."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import free_udp_port, require_root, require_tool

pytestmark = pytest.mark.interop

CONFIG_DIR = Path(__file__).parent / "kamailio"
ADDRESS = "127.0.0.1"


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll a condition until it holds, failing with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)      # paces polling only; nothing is timed by it


@dataclass
class Node:
    name: str
    runtime: Path
    sip_port: int
    dmq_port: int
    kamailio: str
    kamcmd: str
    process: subprocess.Popen[bytes] | None = None

    @property
    def ctl(self) -> str:
        return f"unix:{self.runtime / 'ctl'}"

    def render(self, peer: Node) -> Path:
        values = {"@ADDRESS@": ADDRESS, "@SIP_PORT@": str(self.sip_port),
                  "@DMQ_PORT@": str(self.dmq_port), "@PEER_ADDRESS@": ADDRESS,
                  "@PEER_DMQ_PORT@": str(peer.dmq_port),
                  "@CTL_SOCKET@": str(self.runtime / "ctl")}
        for source in (CONFIG_DIR / f"{self.name}.cfg", CONFIG_DIR / "cluster-common.cfg"):
            text = source.read_text()
            for key, value in values.items():
                text = text.replace(key, value)
            (self.runtime / source.name).write_text(text)
        shutil.chown(self.runtime, "nobody", "nogroup")
        for path in self.runtime.iterdir():
            shutil.chown(path, "nobody", "nogroup")
        return self.runtime / f"{self.name}.cfg"

    def start(self) -> None:
        with open(self.runtime / "kamailio.log", "ab") as log:   # the child keeps its own fd
            self.process = subprocess.Popen(
                ["runuser", "-u", "nobody", "--", self.kamailio, "-DD", "-E", "-f",
                 str(self.runtime / f"{self.name}.cfg"), "-Y", str(self.runtime), "-m", "32",
                 "-M", "8"],
                stdout=log, stderr=log, start_new_session=True, cwd=self.runtime)
        wait_for(lambda: self.rpc("core.version") is not None or self._died(), 15,
                 f"{self.name} control socket")
        assert not self._died(), self.log_tail()

    def _died(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def rpc(self, *command: str) -> str | None:
        result = subprocess.run([self.kamcmd, "-s", self.ctl, *command], capture_output=True,
                                text=True, timeout=5, check=False)
        return result.stdout if result.returncode == 0 else None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)   # the group we started
            self.process.wait(timeout=10)
        self.process = None
        (self.runtime / "ctl").unlink(missing_ok=True)

    def log_tail(self) -> str:
        path = self.runtime / "kamailio.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def peer_active(self) -> bool:
        listing = self.rpc("dmq.list_nodes") or ""
        return listing.count("active") >= 2        # ourselves and the peer

    def contacts(self) -> str:
        return self.rpc("ul.dump") or ""


@pytest.fixture
def cluster() -> Iterator[tuple[Node, Node]]:
    require_root()
    kamailio = require_tool("kamailio")
    kamcmd = require_tool("kamcmd")
    require_tool("runuser")
    nodes = []
    for name in ("node1", "node2"):
        runtime = Path(tempfile.mkdtemp(prefix=f"deskphone-{name}-"))
        runtime.chmod(0o755)
        nodes.append(Node(name, runtime, free_udp_port(), free_udp_port(), kamailio, kamcmd))
    node1, node2 = nodes
    node1.render(node2)
    node2.render(node1)
    try:
        yield node1, node2
    finally:
        for node in nodes:
            node.stop()
            shutil.rmtree(node.runtime, ignore_errors=True)


# --- a minimal REGISTER with RFC 2617 / RFC 3261 §22.4 digest ------------------------------


def _params(header: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for part in header.split(" ", 1)[1].split(","):
        key, _, value = part.strip().partition("=")
        params[key.lower()] = value.strip('"')
    return params


def register(port: int, user: str, password: str, contact_port: int) -> str:
    """REGISTER user with the registrar on `port`; returns the final status line."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((ADDRESS, contact_port))
        sock.settimeout(2.0)
        call_id = secrets.token_hex(8)
        tag = secrets.token_hex(4)
        registrar = f"sip:{ADDRESS}:{port}"
        authorization = ""
        for cseq in (1, 2):
            request = (
                f"REGISTER {registrar} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {ADDRESS}:{contact_port};branch=z9hG4bK{secrets.token_hex(8)}"
                ";rport\r\n"
                "Max-Forwards: 70\r\n"
                f"From: <sip:{user}@{ADDRESS}>;tag={tag}\r\n"
                f"To: <sip:{user}@{ADDRESS}>\r\n"
                f"Call-ID: {call_id}\r\n"
                f"CSeq: {cseq} REGISTER\r\n"
                f"Contact: <sip:{user}@{ADDRESS}:{contact_port}>\r\n"
                "Expires: 600\r\n"
                f"{authorization}"
                "Content-Length: 0\r\n\r\n"
            ).encode()
            response = b""
            for _ in range(3):              # UDP: retransmit a lost request (RFC 3261 §17.1.2)
                sock.sendto(request, (ADDRESS, port))
                try:
                    response, _ = sock.recvfrom(65535)
                    break
                except TimeoutError:
                    continue
            text = response.decode(errors="replace")
            status = text.split("\r\n", 1)[0]
            if " 401 " not in status:
                return status
            challenge = next(line.split(":", 1)[1].strip() for line in text.split("\r\n")
                             if line.lower().startswith("www-authenticate:"))
            params = _params(challenge)
            realm, nonce = params["realm"], params["nonce"]

            def md5(value: str) -> str:
                return hashlib.md5(value.encode()).hexdigest()

            ha1 = md5(f"{user}:{realm}:{password}")
            ha2 = md5(f"REGISTER:{registrar}")
            extra = ""
            if "auth" in params.get("qop", "").split(","):
                cnonce, nc = secrets.token_hex(4), "00000001"
                digest = md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
                extra = f', qop=auth, nc={nc}, cnonce="{cnonce}"'
            else:
                digest = md5(f"{ha1}:{nonce}:{ha2}")
            authorization = (
                f'Authorization: Digest username="{user}", realm="{realm}", nonce="{nonce}", '
                f'uri="{registrar}", response="{digest}", algorithm=MD5{extra}\r\n'
            )
        return status


def test_registration_replicates_and_syncs_back_after_restart(
    cluster: tuple[Node, Node],
) -> None:
    node1, node2 = cluster
    node1.start()
    node2.start()
    wait_for(lambda: node1.peer_active() and node2.peer_active(), 20,
             "both DMQ nodes to see each other active")

    contact_port = free_udp_port()
    status = register(node1.sip_port, "alice", "alicepw", contact_port)
    assert status == "SIP/2.0 200 OK", (status, node1.log_tail())
    contact = f"sip:alice@{ADDRESS}:{contact_port}"
    assert contact in node1.contacts()
    wait_for(lambda: contact in node2.contacts(), 10, "node 2 to learn alice's contact")

    bad = register(node2.sip_port, "alice", "wrongpw", free_udp_port())
    assert " 401 " in bad

    node1.stop()
    assert contact in node2.contacts()             # node 2 still serves alice alone
    node1.start()
    wait_for(lambda: contact in node1.contacts(), 20,
             "restarted node 1 to sync alice back from node 2 (dmq_usrloc sync=1)")


def test_kdmq_from_a_phone_port_is_refused(cluster: tuple[Node, Node]) -> None:
    node1, _ = cluster
    node1.start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((ADDRESS, 0))
        sock.settimeout(3.0)
        sock.sendto((
            f"KDMQ sip:usrloc@{ADDRESS}:{node1.sip_port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {ADDRESS}:{sock.getsockname()[1]};branch=z9hG4bKx\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:x@h>;tag=1\r\nTo: <sip:y@h>\r\nCall-ID: k\r\n"
            "CSeq: 1 KDMQ\r\nContent-Length: 0\r\n\r\n").encode(), (ADDRESS, node1.sip_port))
        response, _ = sock.recvfrom(65535)
    assert response.startswith(b"SIP/2.0 403")
