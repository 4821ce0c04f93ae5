"""Which address LAN discovery announces on: `[discovery] interface` is a name or an address.

zeroconf binds to addresses, not interface names (LanDirectory passes `interfaces=[address]`),
while people write "eth0" or "wlan0". An interface name becomes that interface's address (IPv4
first unless the phone speaks IPv6); an address must be one this machine has. Anything else is an
error that lists the interfaces there are, so the fix is one look away.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

# IFNAMSIZ is 16 with the NUL: Linux interface names are 1-15 characters, no slash or space.
INTERFACE_NAME = r"[A-Za-z0-9_.:@\-]{1,15}"


class InterfaceError(ValueError):
    """`[discovery] interface` matches neither an interface nor an address of this machine."""


@dataclass(frozen=True)
class Interface:
    name: str
    addresses: tuple[str, ...]  # IPv4 and IPv6 (link-local scopes dropped), in kernel order


def local_interfaces() -> list[Interface]:
    import ifaddr  # zeroconf's own dependency: the same view of the interfaces it binds to

    found = []
    for adapter in ifaddr.get_adapters():
        addresses = []
        for ip in adapter.ips:
            address = ip.ip if isinstance(ip.ip, str) else ip.ip[0]
            if not ipaddress.ip_address(address).is_link_local:
                addresses.append(address)
        found.append(Interface(str(adapter.name), tuple(addresses)))
    return found


def describe(interfaces: list[Interface]) -> str:
    """`lo (127.0.0.1, ::1), eth0 (192.0.2.2)`: what an error message lists."""
    return ", ".join(f"{i.name} ({', '.join(i.addresses) or 'no address'})" for i in interfaces)


def discovery_address(value: str, *, ipv6: bool = False,
                      interfaces: Callable[[], list[Interface]] = local_interfaces) -> str:
    """The address to announce on for `value`, an interface name or one of our addresses."""
    present = interfaces()
    try:
        wanted = ipaddress.ip_address(value)
    except ValueError:
        wanted = None
    if wanted is not None:
        if any(wanted == ipaddress.ip_address(a) for i in present for a in i.addresses):
            return str(wanted)
        raise InterfaceError(f"discovery.interface = {value!r}: no interface of this machine has "
                             f"that address; interfaces here: {describe(present)}")
    for interface in present:
        if interface.name == value:
            by_family = sorted(interface.addresses,
                               key=lambda a: (ipaddress.ip_address(a).version == 6) != ipv6)
            if not by_family:
                raise InterfaceError(f"discovery.interface = {value!r}: {value} has no address "
                                     f"(not up yet?); interfaces here: {describe(present)}")
            return by_family[0]
    raise InterfaceError(f"discovery.interface = {value!r}: no interface by that name or "
                         f"address; interfaces here: {describe(present)}")
