"""What a wildcard-bound phone advertises (routing/primary_address.py): the default route's
source address, else the first address of an interface that is up, never 0.0.0.0."""

from __future__ import annotations

import socket
from pathlib import Path

from deskphone.routing.interfaces import Interface
from deskphone.routing.primary_address import interface_is_up, is_wildcard, primary_address

LAN = [Interface("lo", ("127.0.0.1", "::1")), Interface("eth0", ("192.0.2.7", "2001:db8::7")),
       Interface("wlan0", ("198.51.100.4",))]


def no_route(family: int) -> str | None:
    return None


def test_the_default_routes_source_address_wins() -> None:
    routes = {socket.AF_INET: "198.51.100.4", socket.AF_INET6: "2001:db8::9"}
    assert primary_address(interfaces=lambda: LAN, route_source=routes.get) == "198.51.100.4"
    assert primary_address(ipv6=True, interfaces=lambda: LAN,
                           route_source=routes.get) == "2001:db8::9"


def test_without_a_default_route_the_first_interface_that_is_up() -> None:
    up = {"lo": True, "eth0": False, "wlan0": True}
    assert primary_address(interfaces=lambda: LAN, route_source=no_route,
                           is_up=up.__getitem__) == "198.51.100.4"  # eth0 is down, lo skipped
    assert primary_address(interfaces=lambda: LAN, route_source=no_route,
                           is_up=lambda name: True) == "192.0.2.7"
    assert primary_address(ipv6=True, interfaces=lambda: LAN, route_source=no_route,
                           is_up=lambda name: True) == "2001:db8::7"


def test_no_network_is_none_never_a_wildcard_or_loopback() -> None:
    only_loopback = [Interface("lo", ("127.0.0.1", "::1")), Interface("eth0", ())]
    assert primary_address(interfaces=lambda: only_loopback, route_source=no_route,
                           is_up=lambda name: True) is None
    assert primary_address(interfaces=lambda: LAN, route_source=no_route,
                           is_up=lambda name: False) is None


def test_this_machine_gives_a_concrete_address_or_none() -> None:
    address = primary_address()
    assert address is None or not is_wildcard(address)


def test_operstate(tmp_path: Path) -> None:
    for name, state in (("eth0", "up\n"), ("wg0", "unknown\n"), ("eth1", "down\n"),
                        ("veth0", "lowerlayerdown\n")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "operstate").write_text(state)
    assert interface_is_up("eth0", tmp_path) and interface_is_up("wg0", tmp_path)
    assert not interface_is_up("eth1", tmp_path) and not interface_is_up("veth0", tmp_path)
    assert interface_is_up("gone", tmp_path)  # no sysfs entry: the address is trusted


def test_wildcards() -> None:
    assert is_wildcard("0.0.0.0") and is_wildcard("::")
    assert not is_wildcard("192.0.2.7") and not is_wildcard("eth0")
