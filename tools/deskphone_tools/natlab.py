"""A NAT lab in network namespaces: two homes, each behind its own NAT router, and a public side.

    home1 (192.168.1.2) ── lan|router1|wan (203.0.113.11) ─┐
                                                            ├─ bridge "inet" in public (203.0.113.1)
    home2 (192.168.2.2) ── lan|router2|wan (203.0.113.12) ─┘     coturn (STUN/TURN), later Kamailio

Every link is a veth pair created straight inside its two namespaces (`ip link add ... netns A
type veth peer ... netns B`), so the host's own namespace never holds a lab interface and the
fixed interface names ("lan", "wan", "eth0") cannot collide between labs; only the namespace
names carry a unique suffix. No namespace has a route beyond the lab and IPv6 is off everywhere:
traffic never leaves the namespaces. The "public" addresses are TEST-NET-3 (RFC 5737 §3), the
homes' RFC 1918 networks differ so that a home's host candidate is unreachable from the other.

The routers do real NAT with nftables (masquerade on "wan") and a stateful forward filter: only
replies to flows opened from the home come in, i.e. address-and-port-dependent filtering
(RFC 4787 §5), so hole punching needs both sides to send. Two mapping behaviours (RFC 4787 §4.1):

* `NatMode.PORT_PRESERVING`: plain masquerade. Linux keeps the home's source port whenever the
  tuple is free and reuses one mapping for every destination (endpoint-independent mapping):
  ICE's server-reflexive candidate is the address every peer sees, so hole punching works.
* `NatMode.RANDOM`: `masquerade fully-random`, a fresh random port per destination
  (address-and-port-dependent mapping, "symmetric"): the srflx candidate learned from the STUN
  server is not what the peer sees, so only a TURN relay connects two such homes.

Each router's conntrack UDP timeouts (`net.netfilter.nf_conntrack_udp_timeout` and `..._stream`,
per network namespace) are set short, so a test can watch a mapping expire as a home router
forgets it. Namespaces are deleted and every process started in them is killed on close.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

PUBLIC_ADDRESS = "203.0.113.1"  # the public namespace: servers listen here (RFC 5737 TEST-NET-3)
PUBLIC_NETWORK = "203.0.113.0/24"
ROUTER_WAN = ("203.0.113.11", "203.0.113.12")
ROUTER_LAN = ("192.168.1.1", "192.168.2.1")
HOME_ADDRESS = ("192.168.1.2", "192.168.2.2")


class NatMode(enum.Enum):
    PORT_PRESERVING = "port-preserving"  # endpoint-independent mapping, ports kept
    RANDOM = "random"  # a random port per destination: symmetric NAT


def ip(*args: str) -> str:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed ({result.returncode}): "
                           f"{result.stderr.strip()}")
    return result.stdout


@dataclass
class LabNamespace:
    """One namespace of the lab and the address that identifies it."""

    name: str
    address: str

    def command(self, *command: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *command]

    def run(self, *command: str, timeout: float = 10, stdin: str | None = None) -> str:
        result = subprocess.run(self.command(*command), capture_output=True, text=True,
                                timeout=timeout, input=stdin)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} in {self.name} failed "
                               f"({result.returncode}): {result.stderr.strip()}")
        return result.stdout

    def popen(self, *command: str, **kwargs: object) -> subprocess.Popen[str]:
        return subprocess.Popen(self.command(*command), text=True,  # type: ignore[call-overload]
                                **kwargs)

    def sysctl(self, key: str, value: str | int) -> None:
        """Write /proc/sys/KEY inside the namespace (no procps needed)."""
        path = "/proc/sys/" + key.replace(".", "/")
        self.run("sh", "-c", f"echo {value} > {path}")

    def read_sysctl(self, key: str) -> str:
        return self.run("cat", "/proc/sys/" + key.replace(".", "/")).strip()

    def conntrack_entries(self) -> list[str]:
        """The router's conntrack table (one line per flow), read from /proc/net/nf_conntrack."""
        return [line for line in self.run("cat", "/proc/net/nf_conntrack").splitlines() if line]


@dataclass
class NatLab(contextlib.AbstractContextManager["NatLab"]):
    """The five namespaces; `modes` gives each router's NAT behaviour (router1, router2)."""

    modes: tuple[NatMode, NatMode] = (NatMode.PORT_PRESERVING, NatMode.PORT_PRESERVING)
    udp_timeout: int = 30  # seconds a router keeps an idle UDP mapping
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:7])
    public: LabNamespace = field(init=False)
    routers: tuple[LabNamespace, LabNamespace] = field(init=False)
    homes: tuple[LabNamespace, LabNamespace] = field(init=False)
    _processes: list[subprocess.Popen[str]] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.public = LabNamespace(f"dpnatP{self.suffix}", PUBLIC_ADDRESS)
        self.routers = (LabNamespace(f"dpnatR1{self.suffix}", ROUTER_WAN[0]),
                        LabNamespace(f"dpnatR2{self.suffix}", ROUTER_WAN[1]))
        self.homes = (LabNamespace(f"dpnatH1{self.suffix}", HOME_ADDRESS[0]),
                      LabNamespace(f"dpnatH2{self.suffix}", HOME_ADDRESS[1]))

    @property
    def namespaces(self) -> list[LabNamespace]:
        return [self.public, *self.routers, *self.homes]

    def __enter__(self) -> NatLab:
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _build(self) -> None:
        for ns in self.namespaces:
            ip("netns", "add", ns.name)
            ip("-n", ns.name, "link", "set", "lo", "up")
            # IPv6 off (no router solicitations, no MLD, no SLAAC): the lab carries IPv4 only.
            ns.run("sh", "-c", "c=/proc/sys/net/ipv6/conf; [ -d $c ] || exit 0; "
                   "echo 1 > $c/all/disable_ipv6 && echo 1 > $c/default/disable_ipv6")
        public = self.public.name
        ip("-n", public, "link", "add", "inet", "type", "bridge")
        ip("-n", public, "addr", "add", f"{PUBLIC_ADDRESS}/24", "dev", "inet")
        ip("-n", public, "link", "set", "inet", "up")
        for index, (router, home) in enumerate(zip(self.routers, self.homes, strict=True)):
            port = f"r{index + 1}"
            ip("link", "add", "wan", "netns", router.name, "type", "veth",
               "peer", "name", port, "netns", public)
            ip("-n", public, "link", "set", port, "master", "inet")
            ip("-n", public, "link", "set", port, "up")
            ip("link", "add", "lan", "netns", router.name, "type", "veth",
               "peer", "name", "eth0", "netns", home.name)
            ip("-n", router.name, "addr", "add", f"{ROUTER_WAN[index]}/24", "dev", "wan")
            ip("-n", router.name, "addr", "add", f"{ROUTER_LAN[index]}/24", "dev", "lan")
            ip("-n", home.name, "addr", "add", f"{HOME_ADDRESS[index]}/24", "dev", "eth0")
            for ns, device in ((router, "wan"), (router, "lan"), (home, "eth0")):
                ip("-n", ns.name, "link", "set", device, "up")
            # The home's only way out is its router; the router has no default route at all:
            # it reaches the public /24 on its wan link and nothing else.
            ip("-n", home.name, "route", "add", "default", "via", ROUTER_LAN[index])
            router.sysctl("net.ipv4.ip_forward", 1)
            self._configure_nat(router, self.modes[index])

    def _configure_nat(self, router: LabNamespace, mode: NatMode) -> None:
        flags = " fully-random" if mode is NatMode.RANDOM else ""
        router.run("nft", "-f", "-", stdin=f"""
table ip nat {{
    chain postrouting {{
        type nat hook postrouting priority srcnat; policy accept;
        oifname "wan" masquerade{flags};
    }}
}}
table ip filter {{
    chain input {{
        type filter hook input priority filter; policy accept;
        iifname "wan" ct state new drop;
    }}
    chain forward {{
        type filter hook forward priority filter; policy drop;
        iifname "lan" oifname "wan" accept;
        ct state established,related accept;
    }}
}}
""")
        # The input drop is what a home router does with unsolicited packets, and it matters for
        # hole punching: a first check that reaches the router before the router's own home has
        # sent would otherwise be confirmed as a conntrack entry of its own (to the router's
        # closed port), and the home's outgoing packet to that peer would then clash with it and
        # be given another port. Dropped in the input hook, it is never confirmed.
        # conntrack is per namespace; the sysctls exist once the nat table pulled it in.
        for key in ("net.netfilter.nf_conntrack_udp_timeout",
                    "net.netfilter.nf_conntrack_udp_timeout_stream"):
            router.sysctl(key, self.udp_timeout)

    def spawn(self, ns: LabNamespace, *command: str, **kwargs: object) -> subprocess.Popen[str]:
        """Start a process inside a lab namespace; close() kills it if it is still running."""
        proc = ns.popen(*command, **kwargs)
        self._processes.append(proc)
        return proc

    def close(self) -> None:
        for proc in self._processes:
            if proc.poll() is None:
                proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5)
        self._processes.clear()
        # Deleting a namespace destroys its veth ends, and with them the pairs.
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "del", ns.name], capture_output=True, timeout=10,
                           check=False)

    def left_behind(self) -> list[str]:
        names = ip("netns", "list")
        return [ns.name for ns in self.namespaces if ns.name in names]


# -- coturn -------------------------------------------------------------------------------------


@dataclass
class TurnServer(contextlib.AbstractContextManager["TurnServer"]):
    """coturn's `turnserver` in the public namespace, long-term credentials (RFC 8489 §9.2).

    Its own config file, database and log in a temp dir; listening and relaying on the lab's
    public address only, on a free port picked here; TLS, DTLS, the telnet CLI and every
    system-wide default file left out. Started by the test, killed by close(): nothing of the
    Debian package's service is used.
    """

    lab: NatLab
    username: str = "deskphone"
    password: str = field(default_factory=lambda: uuid.uuid4().hex)
    realm: str = "lab.deskphone.test"
    port: int = field(default_factory=lambda: random.randint(20000, 29999))
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="dpturn-")))
    proc: subprocess.Popen[str] | None = field(default=None, init=False)

    @property
    def address(self) -> tuple[str, int]:
        return (PUBLIC_ADDRESS, self.port)

    @property
    def log(self) -> Path:
        return self.directory / "turnserver.log"

    def config_text(self) -> str:
        return "\n".join([
            f"listening-ip={PUBLIC_ADDRESS}",
            f"relay-ip={PUBLIC_ADDRESS}",
            f"listening-port={self.port}",
            "min-port=40000", "max-port=40999",
            "fingerprint", "lt-cred-mech",
            f"user={self.username}:{self.password}",
            f"realm={self.realm}",
            f"userdb={self.directory / 'turndb'}",
            f"pidfile={self.directory / 'turnserver.pid'}",
            f"log-file={self.log}", "simple-log", "verbose",
            "no-tls", "no-dtls", "no-cli", "no-multicast-peers",
            # As coturn's own security notes ask of a public server: no relaying into private
            # networks. ICE pairs our relay with the peer's private host candidate too; without
            # this coturn sends there, the lab's public side has no route (ENETUNREACH on the
            # relay socket) and coturn tears the whole allocation down. Refused, it answers the
            # ChannelBind with 403 and only that pair fails, as on the internet.
            "denied-peer-ip=10.0.0.0-10.255.255.255",
            "denied-peer-ip=172.16.0.0-172.31.255.255",
            "denied-peer-ip=192.168.0.0-192.168.255.255",
            # The lab's "public" peers are TEST-NET addresses: nothing to deny among them.
            "",
        ])

    def __enter__(self) -> TurnServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self, timeout: float = 15.0) -> None:
        binary = shutil.which("turnserver") or "/usr/bin/turnserver"
        config = self.directory / "turnserver.conf"
        config.write_text(self.config_text())
        os.chmod(config, 0o600)  # holds the password
        self.proc = self.lab.spawn(self.lab.public, binary, "-c", str(config),
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"turnserver exited ({self.proc.returncode}): "
                                   f"{self.log_tail()}")
            try:
                stun_binding(self.lab.public, self.address, timeout=0.3)
                return
            except RuntimeError:
                continue
        self.close()
        raise RuntimeError(f"turnserver did not answer STUN on {self.address}: {self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.directory, ignore_errors=True)


# -- probes run inside the namespaces -------------------------------------------------------------

_MAGIC_COOKIE = 0x2112A442


def _binding_request(transaction_id: bytes) -> bytes:
    return struct.pack("!HHI12s", 0x0001, 0, _MAGIC_COOKIE, transaction_id)


def stun_binding(ns: LabNamespace, server: tuple[str, int], *, bind: tuple[str, int] = ("", 0),
                 timeout: float = 2.0) -> tuple[str, int]:
    """XOR-MAPPED-ADDRESS of one Binding Request (RFC 8489 §14.2) sent from inside `ns`."""
    out = ns.run(*_probe("stun", server[0], str(server[1]), bind[0], str(bind[1]),
                         str(timeout)), timeout=timeout + 10)
    host, _, port = out.strip().rpartition(":")
    if not host:
        raise RuntimeError(f"no STUN answer from {server} in {ns.name}: {out!r}")
    return host, int(port)


def _probe(*args: str) -> list[str]:
    import sys
    return [sys.executable, "-m", "deskphone_tools.natlab", *args]


def _probe_stun(server_host: str, server_port: int, bind_host: str, bind_port: int,
                timeout: float) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((bind_host, bind_port))
        return _stun_on(sock, (server_host, server_port), timeout)


def _stun_on(sock: socket.socket, server: tuple[str, int], timeout: float) -> str:
    sock.settimeout(timeout)
    transaction_id = hashlib.sha1(uuid.uuid4().bytes).digest()[:12]
    sock.sendto(_binding_request(transaction_id), server)
    try:
        while True:
            data, _ = sock.recvfrom(2048)
            if len(data) >= 20 and data[8:20] == transaction_id:
                break
    except TimeoutError:
        return ""
    offset = 20
    while offset + 4 <= len(data):
        kind, size = struct.unpack_from("!HH", data, offset)
        value = data[offset + 4: offset + 4 + size]
        if kind == 0x0020 and len(value) >= 8:  # XOR-MAPPED-ADDRESS, IPv4 (RFC 8489 §14.2)
            port = struct.unpack_from("!H", value, 2)[0] ^ (_MAGIC_COOKIE >> 16)
            address = struct.unpack_from("!I", value, 4)[0] ^ _MAGIC_COOKIE
            return f"{socket.inet_ntoa(struct.pack('!I', address))}:{port}"
        offset += 4 + size + (-size % 4)
    return ""


class UdpAgent(contextlib.AbstractContextManager["UdpAgent"]):
    """One UDP socket inside a lab namespace, driven line by line from the test.

    `send(host, port, text)` sends a datagram; `receive(timeout)` returns the next one as
    (text, (host, port)) or None when nothing came within `timeout`. The socket lives in a small
    process started with `ip netns exec` (the agent loop in `_agent` below).
    """

    def __init__(self, lab: NatLab, ns: LabNamespace, port: int = 0, *,
                 turn: TurnServer | None = None, turn_transport: str = "udp") -> None:
        self.ns = ns
        command = _probe("agent", "0.0.0.0", str(port))
        if turn is not None:  # the credentials travel on stdin, never on a command line
            command = _probe("turn-agent", turn.address[0], str(turn.address[1]), turn_transport)
        self.proc = lab.spawn(ns, *command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, bufsize=1)
        if turn is not None:
            assert self.proc.stdin is not None
            self.proc.stdin.write(f"{turn.username} {turn.password}\n")
            self.proc.stdin.flush()
        ready = self._line(15.0)
        if not ready.startswith("bound "):
            raise RuntimeError(f"UDP agent in {ns.name} did not start: {ready!r}")
        #: the local port, or with TURN the relayed transport address's port
        self.port = int(ready.split()[1])
        self.relayed: tuple[str, int] | None = None
        if turn is not None:
            host, _, relayed_port = ready.split()[2].rpartition(":")
            self.relayed = (host, int(relayed_port))

    def _line(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        import selectors
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                raise RuntimeError(f"UDP agent in {self.ns.name} gave no answer in {timeout} s")
        return self.proc.stdout.readline().strip()

    def _command(self, line: str, timeout: float = 10.0) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self._line(timeout)

    def send(self, host: str, port: int, text: str) -> None:
        answer = self._command(f"send {host} {port} {text}")
        if answer != "sent":
            raise RuntimeError(f"send from {self.ns.name} failed: {answer}")

    def stun(self, server: tuple[str, int]) -> tuple[str, int]:
        """The agent socket's own mapping as a STUN server sees it (its srflx address)."""
        answer = self._command(f"stun {server[0]} {server[1]}")
        host, _, port = answer.rpartition(":")
        if not host:
            raise RuntimeError(f"no STUN answer in {self.ns.name}: {answer}")
        return host, int(port)

    def receive(self, timeout: float) -> tuple[str, tuple[str, int]] | None:
        answer = self._command(f"recv {timeout}", timeout + 10)
        if answer == "timeout":
            return None
        _, source, text = answer.split(" ", 2)
        host, _, port = source.rpartition(":")
        return text, (host, int(port))

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def _agent(bind_host: str, bind_port: int) -> None:
    import sys
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((bind_host, bind_port))
        print(f"bound {sock.getsockname()[1]}", flush=True)
        for line in sys.stdin:
            verb, *rest = line.split(" ", 3)
            if verb == "send":
                sock.sendto(rest[2].rstrip("\n").encode(), (rest[0], int(rest[1])))
                print("sent", flush=True)
            elif verb == "recv":
                sock.settimeout(float(rest[0]))
                try:
                    data, source = sock.recvfrom(2048)
                except TimeoutError:
                    print("timeout", flush=True)
                    continue
                text = data.decode(errors="replace").replace("\n", " ")
                print(f"from {source[0]}:{source[1]} {text}", flush=True)
            elif verb == "stun":
                print(_stun_on(sock, (rest[0], int(rest[1])), 2.0), flush=True)
            else:
                print(f"unknown {verb}", flush=True)


def _turn_agent(server: tuple[str, int], transport: str) -> None:
    """The agent's commands over a TURN allocation (aioice's client, RFC 8656 §7)."""
    import asyncio
    import sys

    from aioice import turn

    class Receiver(asyncio.DatagramProtocol):
        def __init__(self) -> None:
            self.queue: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            self.queue.put_nowait((data, addr))

    async def run() -> None:
        username, password = sys.stdin.readline().split()
        relay, receiver = await turn.create_turn_endpoint(
            Receiver, server_addr=server, username=username, password=password,
            transport=transport)
        host, port = relay.get_extra_info("sockname")
        print(f"bound {port} {host}:{port}", flush=True)
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            verb, *rest = line.split(" ", 3)
            if verb == "send":
                relay.sendto(rest[2].rstrip("\n").encode(), (rest[0], int(rest[1])))
                print("sent", flush=True)
            elif verb == "recv":
                try:
                    data, source = await asyncio.wait_for(receiver.queue.get(), float(rest[0]))
                except TimeoutError:
                    print("timeout", flush=True)
                    continue
                text = data.decode(errors="replace").replace("\n", " ")
                print(f"from {source[0]}:{source[1]} {text}", flush=True)
            else:
                print(f"unknown {verb}", flush=True)
        relay.close()

    asyncio.run(run())


def main(argv: list[str] | None = None) -> int:
    """`python -m deskphone_tools.natlab stun HOST PORT BINDHOST BINDPORT TIMEOUT` (a probe) or
    `python -m deskphone_tools.natlab agent BINDHOST BINDPORT` (see UdpAgent)."""
    import sys
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "stun" and len(args) == 6:
        print(_probe_stun(args[1], int(args[2]), args[3], int(args[4]), float(args[5])))
        return 0
    if args and args[0] == "agent" and len(args) == 3:
        _agent(args[1], int(args[2]))
        return 0
    if args and args[0] == "turn-agent" and len(args) == 4:
        _turn_agent((args[1], int(args[2])), args[3])
        return 0
    print(main.__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
