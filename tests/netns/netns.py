"""Two network namespaces joined by a veth pair, and phones run inside them.

Each namespace has only `lo` and its end of the veth, one 10.77.N.x/24 address, no default route
and IPv6 off: a process inside can reach the other namespace and nothing else. Namespace and link
names are unique per use (several test runs may share the machine) and always deleted on exit.
The phones' control sockets are UNIX sockets in the test's tmp dir, which every namespace sees.
"""

from __future__ import annotations

import contextlib
import ipaddress
import random
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from deskphone_tools.harness import PhoneError, PhoneProcess


def ip(*args: str) -> str:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed ({result.returncode}): "
                           f"{result.stderr.strip()}")
    return result.stdout


@dataclass
class Namespace:
    name: str
    device: str
    address: str  # 10.77.N.x

    def run(self, *command: str, timeout: float = 10) -> str:
        result = subprocess.run(["ip", "netns", "exec", self.name, *command],
                                capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} in {self.name} failed: {result.stderr}")
        return result.stdout

    def links(self) -> list[str]:
        """Names of the network interfaces in the namespace."""
        return sorted(line.split(":")[1].strip().split("@")[0]
                      for line in ip("-n", self.name, "-o", "link", "show").splitlines())

    def routes(self) -> list[str]:
        return [line.strip() for line in ip("-n", self.name, "-4", "route", "show").splitlines()
                if line.strip()]


@dataclass
class VethLink(contextlib.AbstractContextManager["VethLink"]):
    """Namespaces A and B, their veth ends, 10.77.N.1 and 10.77.N.2 (N random per link)."""

    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:7])
    subnet: int = field(default_factory=lambda: random.randint(1, 254))
    mtu: int = 1500  # of both veth ends: a smaller one plays a VPN or PPPoE path
    a: Namespace = field(init=False)
    b: Namespace = field(init=False)

    def __post_init__(self) -> None:
        # interface names are at most 15 characters (IFNAMSIZ - 1)
        self.a = Namespace(f"dpnsA{self.suffix}", f"vpa{self.suffix}", f"10.77.{self.subnet}.1")
        self.b = Namespace(f"dpnsB{self.suffix}", f"vpb{self.suffix}", f"10.77.{self.subnet}.2")

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(f"10.77.{self.subnet}.0/24")

    def __enter__(self) -> VethLink:
        try:
            for ns in (self.a, self.b):
                ip("netns", "add", ns.name)
            ip("link", "add", self.a.device, "type", "veth", "peer", "name", self.b.device)
            for ns in (self.a, self.b):
                ip("link", "set", ns.device, "netns", ns.name)
                # IPv6 off (no router solicitations, no MLD): the link carries our IPv4 only.
                # /proc/sys/net is per namespace; written with sh, no procps needed.
                ns.run("sh", "-c", "c=/proc/sys/net/ipv6/conf; [ -d $c ] || exit 0; "
                       "echo 1 > $c/all/disable_ipv6 && echo 1 > $c/default/disable_ipv6")
                ip("-n", ns.name, "addr", "add", f"{ns.address}/24", "dev", ns.device)
                ip("-n", ns.name, "link", "set", "lo", "up")
                ip("-n", ns.name, "link", "set", ns.device, "mtu", str(self.mtu))
                ip("-n", ns.name, "link", "set", ns.device, "up")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        # Deleting a namespace destroys its veth end, and with it the pair.
        for ns in (self.a, self.b):
            subprocess.run(["ip", "netns", "del", ns.name], capture_output=True, timeout=10,
                           check=False)

    def left_behind(self) -> list[str]:
        names = ip("netns", "list")
        return [ns.name for ns in (self.a, self.b) if ns.name in names]


class NetnsPhone(PhoneProcess):
    """A `deskphone run --sim` process started under `ip netns exec NAMESPACE`."""

    namespace: str = ""

    def command_prefix(self) -> list[str]:
        if not self.namespace:
            raise PhoneError(f"phone {self.name}: no namespace set")
        return ["ip", "netns", "exec", self.namespace]


def phone_config(extension: str, name: str, address: str, *, audio: str = "") -> str:
    """A LAN phone bound to its namespace address: SIP, media and DNS-SD all on it."""
    return f"""
[identity]
user = "ext{extension}"
extension = "{extension}"
display_name = "{name}"

[sip]
listen = "udp:{address}:5071"

[media]
host = "{address}"

[discovery]
interface = "{address}"

[devices]
mode = "sim"

{audio}
"""


@contextlib.contextmanager
def started(*phones: PhoneProcess) -> Iterator[None]:
    """Every phone started, and stopped again however the test ends."""
    try:
        for phone in phones:
            phone.start()
        yield
    finally:
        for phone in phones:
            phone.stop()
