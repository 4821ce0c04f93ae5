"""The address a phone listening on a wildcard (`[sip] listen = "udp:0.0.0.0:5071"`, the Pi's
default) advertises: in Via sent-by and Contact, in SDP c=/o=, in its DNS-SD announcement.

A wildcard socket receives on every address, but 0.0.0.0 is not an address anyone can send to:
RFC 3261 §18.1.1/§18.2.1 want in Via sent-by the address responses should go to (a server
compares it with the packet's source and adds received= when they differ, but a UAC matching
its responses, §18.1.2, and anything beyond the first hop read sent-by), and §10.2.1 wants in a
REGISTER's Contact the address at which requests for the address-of-record reach us. A
wildcard-bound phone must put one concrete address of its own there.

The rule: **the source address the kernel would use on the default route** (the interface a
DHCP lease gave a router), found with connect() on an unbound UDP socket — it only routes, no
packet is sent. That is the address packets to the registrar and to anything beyond the LAN
leave from, so sent-by matches the source the server sees (no received= needed) and the
registrar's INVITEs come back to an address of the interface we actually use; LAN peers on that
interface's subnet reach it too. Per-destination source addresses would be exact on a phone
with several interfaces, but a desk phone has one network at a time, and one advertised address
keeps Contact stable across dialogs and registrations (§12.1.1: the remote target).

Without a default route (a LAN with no router: peers by DNS-SD only) the first IPv4 address (or
IPv6, for a `::` listen) of an interface that is up and not loopback, in kernel order. With
neither: None, the phone has no network.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from pathlib import Path

from deskphone.routing.interfaces import Interface, local_interfaces

# Documentation addresses (RFC 5737, RFC 3849): never routed anywhere real, so connect() picks
# the default route without the probe ever meaning a real destination.
_PROBE: dict[int, tuple[str, int]] = {socket.AF_INET: ("192.0.2.1", 9),
                                      socket.AF_INET6: ("2001:db8::1", 9)}
SYS_CLASS_NET = Path("/sys/class/net")


def default_route_source(family: int = socket.AF_INET) -> str | None:
    """The source address of the default route for `family`, None without one."""
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect(_PROBE[family])
            address = str(probe.getsockname()[0])
    except OSError:  # ENETUNREACH: no route to anywhere beyond the links we have
        return None
    parsed = ipaddress.ip_address(address)
    return None if parsed.is_unspecified or parsed.is_loopback else address


def interface_is_up(name: str, sys_class_net: Path = SYS_CLASS_NET) -> bool:
    """The kernel's operational state: "up", or "unknown" for links without carrier sense
    (tun, some Wi-Fi drivers); a link that is down keeps its address but reaches nobody."""
    try:
        state = (sys_class_net / name / "operstate").read_text().strip()
    except OSError:
        return True  # no sysfs view: trust the address
    return state in ("up", "unknown")


def primary_address(*, ipv6: bool = False,
                    interfaces: Callable[[], list[Interface]] = local_interfaces,
                    route_source: Callable[[int], str | None] = default_route_source,
                    is_up: Callable[[str], bool] = interface_is_up) -> str | None:
    """The address to advertise for a wildcard listen (see the module's rule), None when this
    machine has no network."""
    families = [socket.AF_INET6, socket.AF_INET] if ipv6 else [socket.AF_INET]
    for family in families:
        address = route_source(family)
        if address is not None:
            return address
    for version in (6, 4) if ipv6 else (4,):
        for interface in interfaces():
            if not is_up(interface.name):
                continue
            for address in interface.addresses:
                parsed = ipaddress.ip_address(address.split("%")[0])
                if parsed.version == version and not (parsed.is_loopback or
                                                      parsed.is_link_local):
                    return address
    return None


def is_wildcard(host: str) -> bool:
    """0.0.0.0 or :: — a socket bound to every address, not an address to advertise."""
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False
