"""Where a dialled string goes: the dial plan, the LAN directory (DNS-SD) and the registrar.

`Routes` owns the LAN directory's life cycle and turns a dialled string into a request URI and
the account to call through. What changes on the LAN it reports through the call layer's
`emit`: `CallLayerChanged` (the peers list), `LanWarning` when another phone announces our
extension, `StatusChanged` when this interface has no multicast.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from deskphone.calls.events import CallLayerChanged, CallLayerEvent
from deskphone.calls.peer_identity import lan_warning
from deskphone.config import Config
from deskphone.phone import events as pev
from deskphone.routing.dialplan import DIRECT, DialPlan, DialPlanError, PeerLike
from deskphone.routing.discovery import LanDirectory
from deskphone.routing.interfaces import InterfaceError, discovery_address
from deskphone.routing.primary_address import is_wildcard, primary_address

log = logging.getLogger(__name__)


class Routes:
    def __init__(self, config: Config, account_names: dict[str, str],
                 emit: Callable[[CallLayerEvent], None], *,
                 on_directory: Callable[[LanDirectory | None], None] | None = None) -> None:
        self.config = config
        self.on_directory = on_directory  # the peers changed (calls/known_sources.py)
        self.account_names = account_names  # config name → the UA's user@domain
        self.emit = emit
        self.directory: LanDirectory | None = None
        self._lan_warning = ""  # the last LanWarning sent: only changes are news

        def lan_peer(extension: str) -> PeerLike | None:
            directory = self.directory  # looked up at dialling time: discovery starts later
            return directory.lookup(extension) if directory is not None else None

        self.dialplan = DialPlan.from_config(
            config.dialplan, accounts=[a.name for a in config.accounts],
            peers=lan_peer if config.discovery.enabled else None,
            account_domains={a.name: a.registrars for a in config.accounts})

    def forward_contact(self, target: str) -> str | None:
        """The Contact of a forwarding 302: `target` routed as if dialled; None (logged) when
        the dial plan cannot route it."""
        try:
            return self.dialplan.route(target).target_uri
        except DialPlanError as exc:
            log.warning("call forwarding: %s; the caller hears 480", exc)
            return None

    async def start_discovery(self, host: str, port: int, zid_hex: str) -> None:
        """Announce ourselves and browse the LAN (calls by URI work meanwhile, and without)."""
        ident = self.config.identity
        address = host
        if self.config.discovery.interface:
            try:
                address = discovery_address(self.config.discovery.interface, ipv6=":" in host)
            except InterfaceError as exc:  # e.g. a typo, or wlan0 without an address yet
                log.error("LAN discovery is off: %s", exc)
                self.emit(pev.StatusChanged("no LAN discovery"))
                return
        if is_wildcard(address):  # never announce 0.0.0.0: the rule of primary_address.py
            address = primary_address(ipv6=":" in address) or "127.0.0.1"
        directory = LanDirectory(address, ident.extension, port, zid_hex, ident.display_name,
                                 on_change=self._directory_changed)
        try:
            await directory.start()
        except asyncio.CancelledError:  # the phone is shutting down while we announce
            with contextlib.suppress(Exception):
                await directory.close()
            raise
        except Exception:  # no multicast on this interface
            log.exception("LAN discovery could not start on %s", address)
            self.emit(pev.StatusChanged("no LAN discovery"))
            return
        self.directory = directory

    async def restart_discovery(self, host: str, port: int, zid_hex: str) -> None:
        """Our address changed: say goodbye from the old one where it still works (RFC 6762
        §10.1), then probe and announce again on the new one (§8) and browse afresh; the peers
        heard on the old address are forgotten with the directory."""
        old, self.directory = self.directory, None
        if old is not None:
            with contextlib.suppress(Exception):
                await old.close()
            self.emit(CallLayerChanged())
            if self.on_directory is not None:
                self.on_directory(None)
        await self.start_discovery(host, port, zid_hex)

    def _directory_changed(self, directory: LanDirectory) -> None:
        self.emit(CallLayerChanged())
        if self.on_directory is not None:
            self.on_directory(directory)
        warning = lan_warning(directory, self.config.identity.extension)
        if warning != self._lan_warning:
            self._lan_warning = warning
            self.emit(pev.LanWarning(warning))

    async def close(self) -> None:
        if self.directory is not None:
            with contextlib.suppress(Exception):
                await self.directory.close()

    def resolve(self, target: str) -> tuple[str, str | None] | str:
        """A dialled string → (request URI, UA account name or None for a direct call), or the
        reason it cannot be called."""
        try:
            route = self.dialplan.route(target)
        except DialPlanError as exc:
            if self.config.accounts and target.isdigit():
                # Not on the LAN and no rule: the registrar is the phone book.
                return target, None
            return str(exc)
        if route.via == DIRECT:
            return route.target_uri, DIRECT
        if route.via is None:
            return route.target_uri, None
        return route.target_uri, self.account_names.get(route.via, route.via)

    def lan_peers(self) -> list[str]:
        return sorted(p.extension for p in self.directory.peers()) if self.directory else []

    def lan_hosts(self) -> dict[str, str]:
        """extension → "host:port" where the LAN directory would call it now."""
        if self.directory is None:
            return {}
        return {p.extension: f"{p.host}:{p.port}" for p in self.directory.peers()}

    def lan_directory(self, verified: Callable[[str], bool]) -> list[dict[str, Any]]:
        """The LAN phones for the contacts: who, where, and what the ZRTP cache says of their
        announced ZID (`verified(zid_hex)`: the SAS was compared on an earlier call)."""
        if self.directory is None:
            return []
        return [{"extension": p.extension, "name": p.name, "host": p.host, "port": p.port,
                 "zid_changed": p.zid_changed, "verified": verified(p.zid)}
                for p in sorted(self.directory.peers(), key=lambda p: p.extension)]

