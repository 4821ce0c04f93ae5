"""Following the phone's interface when its address changes (DHCP renumbering, a cable moved
to another network, Wi-Fi joining another access point).

`[sip] listen = "udp:eth0:5071"` names an interface rather than an address: the phone listens on
that interface's address, puts it in Via and Contact (RFC 3261 §8.1.1.7, §10.2.1), in its SDP and
in its DNS-SD announcement, and follows it. When the kernel reports a change (interface_watch.py)
and the interface's address is not the one we use, `NetworkFollower`:

1. re-binds the SIP socket on the new address (one bound to a vanished address can neither send
   nor receive) and tells the user agent its new Via/Contact host;
2. points new calls' media at the new address (calls already up keep theirs);
3. REGISTERs every account again at once (accounts.py `network_changed`);
4. withdraws the DNS-SD announcement and announces on the new address (routes.py).

While the interface has no address (link down, no lease yet) the status says "No network" and
nothing is retried: the next kernel report brings us back. Nothing here polls.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
from collections.abc import Callable
from typing import Any, Protocol

from deskphone.calls.accounts import AccountManager
from deskphone.calls.routes import Routes
from deskphone.config import Config
from deskphone.phone import events as pev
from deskphone.routing.interface_watch import InterfaceWatch
from deskphone.routing.interfaces import InterfaceError, discovery_address
from deskphone.sip.transport import SipEndpoint

log = logging.getLogger(__name__)

NO_NETWORK = "No network"


def listen_interface(config: Config) -> str | None:
    """The interface `[sip] listen` names, or None when it gives an address (or a host name)."""
    host = config.sip.listen.host
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    try:
        discovery_address(host)  # only an interface of this machine counts
    except InterfaceError as exc:
        if "no interface by that name" in str(exc):
            return None  # a host name, resolved by the socket layer as before
    return host


def with_address(config: Config, interface: str, address: str) -> Config:
    """The settings with `interface` replaced by `address` wherever it stood for it."""
    sip = dataclasses.replace(config.sip, listen=dataclasses.replace(config.sip.listen,
                                                                     host=address))
    media = config.media
    if media.host == interface or media.host == config.sip.listen.host:
        media = dataclasses.replace(media, host=address)
    return dataclasses.replace(config, sip=sip, media=media)


class NetworkHost(Protocol):
    """What the follower needs of the call layer (calls/manager.py)."""

    config: Config
    zid: bytes
    endpoint: SipEndpoint | None
    routes: Routes | None
    accounts: AccountManager | None

    def emit(self, event: Any) -> None: ...


class NetworkFollower:
    def __init__(self, host: NetworkHost, interface: str, address: str,
                 loop: asyncio.AbstractEventLoop,
                 lookup: Callable[[str], str | None] | None = None) -> None:
        self.host = host
        self.interface = interface
        self.address: str | None = address
        self.loop = loop
        self.lookup = lookup or interface_address
        self.watch = InterfaceWatch(loop, self._changed)
        self.renumbered = 0  # address changes followed
        self._following: asyncio.Task[None] | None = None
        self._again = False

    @classmethod
    def for_config(cls, host: NetworkHost,
                   loop: asyncio.AbstractEventLoop) -> NetworkFollower | None:
        """When `[sip] listen` names an interface: its address put in `host.config`, and the
        follower of that interface (started by `start`); otherwise None."""
        interface = listen_interface(host.config)
        if interface is None:
            return None
        address = interface_address(interface)
        if address is None:
            raise OSError(f"sip.listen = {host.config.sip.listen}: interface {interface} has no "
                          "address (not up yet?)")
        host.config = with_address(host.config, interface, address)
        return cls(host, interface, address, loop)

    def start(self) -> None:
        self.watch.start()

    def close(self) -> None:
        self.watch.close()
        if self._following is not None:
            self._following.cancel()

    def info(self) -> dict[str, Any]:
        return {"interface": self.interface, "address": self.address,
                "renumbered": self.renumbered, "notifications": self.watch.notifications}

    def _changed(self) -> None:
        if self._following is not None and not self._following.done():
            self._again = True  # another change while we follow the last: look once more after
            return
        self._following = self.loop.create_task(self._follow(), name="network-follow")

    async def _follow(self) -> None:
        while True:
            self._again = False
            try:
                await self._follow_once()
            except Exception:
                log.exception("could not follow the address change of %s", self.interface)
            if not self._again:
                return

    async def _follow_once(self) -> None:
        address = self.lookup(self.interface)
        host = self.host
        if address == self.address:
            # The link flapped and kept its address: whatever failed while it was down (the
            # kernel drops the routes of a down link) may work now.
            if address is not None and host.accounts is not None:
                host.accounts.network_changed(only_failed=True)
            return
        if address is None:
            log.info("network: %s has no address", self.interface)
            self.address = None
            host.emit(pev.StatusChanged(NO_NETWORK))
            return
        log.info("network: %s has a new address", self.interface)
        self.address = address
        self.renumbered += 1
        host.config = with_address(host.config, self.interface, address)
        endpoint = host.endpoint
        if endpoint is not None:
            await endpoint.rebind(address)
        if host.accounts is not None:
            host.accounts.network_changed()
        else:
            host.emit(pev.StatusChanged("LAN"))
        if host.routes is not None and host.config.discovery.enabled and endpoint is not None:
            await host.routes.restart_discovery(address, endpoint.local_address[1],
                                                host.zid.hex())


def interface_address(interface: str) -> str | None:
    """The interface's address now (IPv4 first), or None when it has none or is gone."""
    try:
        return discovery_address(interface)
    except InterfaceError:
        return None
