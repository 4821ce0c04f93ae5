"""Serverless LAN calling: announce this phone and find others over DNS-SD/mDNS (zeroconf).

We announce `_sip._udp.local.` (RFC 6763 §7, RFC 3263 service name) with TXT keys
`v=1`, `ext` (extension), `name` (display name), `zid` (our ZRTP ZID, hex), the SRV port being
our SIP port, and browse for the same service. What we hear goes through `PeerTable`
(validation, rate limit, size cap, conflicts, ZID changes). `interfaces=[address]` keeps
zeroconf on one interface: sim phones on 127.0.0.1 find each other and nothing leaves the host.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Callable

from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from deskphone.routing.peers import SERVICE_TYPE, TXT_VERSION, Peer, PeerTable

log = logging.getLogger(__name__)

RESOLVE_TIMEOUT_MS = 3000
MAX_PENDING_RESOLUTIONS = 32     # a flood of names queues at most this many lookups


class LanDirectory:
    def __init__(self, address: str, extension: str, sip_port: int, zid: str,
                 display_name: str = "", *, max_peers: int = 128,
                 on_change: Callable[[LanDirectory], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.address = address
        self.extension = extension
        self.sip_port = sip_port
        self.zid = zid.lower()
        self.display_name = display_name
        self.on_change = on_change
        self._clock = clock
        self.instance = f"deskphone-{extension}-{self.zid[:8]}.{SERVICE_TYPE}"
        family = ipaddress.ip_address(address).version
        self.table = PeerTable(extension, self.zid, self.instance, max_peers=max_peers,
                               family=family)
        self._zeroconf: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._info: AsyncServiceInfo | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self.dropped_resolutions = 0

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        version = IPVersion.V6Only if ":" in self.address else IPVersion.V4Only
        self._zeroconf = AsyncZeroconf(interfaces=[self.address], ip_version=version)
        self._info = AsyncServiceInfo(
            SERVICE_TYPE,
            self.instance,
            port=self.sip_port,
            properties={"v": TXT_VERSION, "ext": self.extension, "name": self.display_name,
                        "zid": self.zid},
            server=f"deskphone-{self.zid[:12]}.local.",
            parsed_addresses=[self.address],
        )
        await self._zeroconf.async_register_service(self._info, allow_name_change=False)
        self._browser = AsyncServiceBrowser(self._zeroconf.zeroconf, SERVICE_TYPE,
                                            handlers=[self._on_service_state_change])

    async def close(self) -> None:
        for task in list(self._pending):
            task.cancel()
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self._browser is not None:
            await self._browser.async_cancel()
            self._browser = None
        if self._zeroconf is not None:
            if self._info is not None:
                # The first await queues the goodbye (TTL 0, RFC 6762 §10.1); the second waits
                # until it has been sent, so peers drop us at once rather than at TTL expiry.
                goodbye = await self._zeroconf.async_unregister_service(self._info)
                await goodbye
            await self._zeroconf.async_close()
            self._zeroconf = None

    # --- queries ---------------------------------------------------------------------------

    def lookup(self, extension: str) -> Peer | None:
        return self.table.lookup(extension)

    def peers(self) -> list[Peer]:
        return self.table.peers()

    def free_extension(self, preferred: str) -> str:
        return self.table.free_extension(preferred)

    @property
    def conflicts(self) -> dict[str, list[str]]:
        return self.table.conflicts

    @property
    def own_extension_taken(self) -> bool:
        return self.table.own_extension_taken_by is not None

    # --- zeroconf callbacks ----------------------------------------------------------------

    def _on_service_state_change(self, zeroconf: Zeroconf, service_type: str, name: str,
                                 state_change: ServiceStateChange) -> None:
        if state_change is ServiceStateChange.Removed:
            if self.table.remove(name):
                self._changed()
            return
        if name == self.instance:
            return
        if len(self._pending) >= MAX_PENDING_RESOLUTIONS:
            self.dropped_resolutions += 1
            return
        task = asyncio.get_running_loop().create_task(self._resolve(zeroconf, name))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _resolve(self, zeroconf: Zeroconf, name: str) -> None:
        info = AsyncServiceInfo(SERVICE_TYPE, name)
        try:
            found = await info.async_request(zeroconf, RESOLVE_TIMEOUT_MS)
        except Exception as exc:   # zeroconf raises its own types for malformed names
            log.info("discovery: could not resolve %r: %s", name, type(exc).__name__)
            return
        if not found:
            return
        changed = self.table.observe(name, info.parsed_addresses(), info.port,
                                     info.properties, self._clock())
        if changed:
            self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            try:
                self.on_change(self)
            except Exception:
                log.exception("discovery: on_change callback failed")
