"""Tell the SIP core which sources it has reason to know (sip/admission.py, issue 16).

Under a flood from strangers the core keeps a reserve of server transactions, and the transport a
queue, for requests from known sources: the registrars and outbound proxies our accounts REGISTER
with, and the LAN phones in the DNS-SD directory (the core adds the peers of its dialogs itself).
The core matches a datagram's source IP, and it never resolves names: a registrar configured by
name is known by the address the transport resolved it to and sent the REGISTER to, so the set is
renewed on every registration event (the first comes after that REGISTER went out).
"""

from __future__ import annotations

from collections.abc import Callable

from deskphone.routing.discovery import LanDirectory
from deskphone.sip.useragent import UserAgent


class KnownSources:
    def __init__(self, ua: UserAgent, resolved: Callable[[str], str]) -> None:
        self.ua = ua
        self._resolved = resolved  # host name → the address the transport sends it to
        self.registrars_changed()

    def registrars_changed(self) -> None:
        """The accounts' current registrar (or outbound proxy), as resolved and used."""
        hosts = {self._resolved(registration.account.registrar_addr[0])
                 for registration in self.ua.registrations.values()}
        self.ua.admission.set_known("registrars", hosts)

    def lan_changed(self, directory: LanDirectory | None) -> None:
        """The LAN directory changed (or went away with our address): its peers' addresses."""
        peers = directory.peers() if directory is not None else []
        self.ua.admission.set_known("lan", {peer.host for peer in peers})


__all__ = ["KnownSources"]
