"""`[sip] listen` naming an interface (calls/network.py): which settings follow its address, and
what the follower does when the kernel reports a change — sans sockets, with a fake host."""

from __future__ import annotations

import asyncio
from typing import Any

from deskphone.calls.network import NO_NETWORK, NetworkFollower, listen_interface, with_address
from deskphone.config import config_from_dict
from deskphone.phone import events as pev


def config(listen: str, **media: str) -> Any:
    raw: dict[str, Any] = {"sip": {"listen": listen}, "devices": {"mode": "sim"}}
    if media:
        raw["media"] = media
    return config_from_dict(raw)


def test_an_address_or_a_host_name_is_not_an_interface() -> None:
    assert listen_interface(config("udp:127.0.0.1:5071")) is None
    assert listen_interface(config("udp:no-such-host.invalid:5071")) is None
    assert listen_interface(config("udp:lo:5071")) == "lo"


def test_the_interface_name_is_replaced_wherever_it_stood_for_the_address() -> None:
    named = config("udp:lo:5071")
    assert named.media.host == "lo"  # the default: the SIP listen host
    resolved = with_address(named, "lo", "127.0.0.1")
    assert resolved.sip.listen.host == "127.0.0.1" and resolved.media.host == "127.0.0.1"
    again = with_address(resolved, "lo", "127.0.0.2")  # the second renumbering
    assert again.sip.listen.host == "127.0.0.2" and again.media.host == "127.0.0.2"
    fixed = with_address(config("udp:lo:5071", host="127.0.0.9"), "lo", "127.0.0.1")
    assert fixed.media.host == "127.0.0.9"  # an explicit media address is left alone


class Endpoint:
    def __init__(self) -> None:
        self.bound: list[str] = []
        self.local_address = ("127.0.0.1", 5071)

    async def rebind(self, host: str) -> None:
        self.bound.append(host)
        self.local_address = (host, 5071)


class Accounts:
    def __init__(self) -> None:
        self.changes = 0
        self.retries = 0

    def network_changed(self, *, only_failed: bool = False) -> None:
        if only_failed:
            self.retries += 1
        else:
            self.changes += 1


class Host:
    def __init__(self) -> None:
        self.config = with_address(config("udp:lo:5071"), "lo", "127.0.0.1")
        self.zid = b"\x01" * 12
        self.endpoint: Any = Endpoint()
        self.routes = None
        self.accounts: Any = Accounts()
        self.events: list[Any] = []

    def emit(self, event: Any) -> None:
        self.events.append(event)


def test_follower_rebinds_and_registers_again_only_when_the_address_changed() -> None:
    async def scenario() -> tuple[Host, NetworkFollower]:
        host, answers = Host(), ["127.0.0.1", None, "127.0.0.2"]
        follower = NetworkFollower(host, "lo", "127.0.0.1", asyncio.get_running_loop(),
                                   lookup=lambda name: answers.pop(0))
        for _ in range(3):
            await follower._follow_once()  # what each settled kernel report runs
        return host, follower

    host, follower = asyncio.run(scenario())
    assert host.endpoint.bound == ["127.0.0.2"]  # the same address: nothing to do
    assert host.accounts.changes == 1 and follower.renumbered == 1
    assert host.accounts.retries == 1  # the first report: same address, the failed ones retry
    assert host.events == [pev.StatusChanged(NO_NETWORK)]  # between the two: no address
    assert host.config.media.host == "127.0.0.2" and follower.address == "127.0.0.2"
