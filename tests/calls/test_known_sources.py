"""Issue 16 item 1 (call layer): the SIP core learns its known sources (calls/known_sources.py).

The registrar configured by name counts by the address the transport resolved it to (the one the
REGISTER went to), the outbound proxy when the account has moved there, and the LAN phones by the
addresses the DNS-SD directory holds; a directory that went away takes its peers with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from deskphone.calls.known_sources import KnownSources
from deskphone.sip.config import UaConfig
from deskphone.sip.registration import Account
from deskphone.sip.useragent import UserAgent


@dataclass
class _Peer:
    host: str


class _Directory:
    def __init__(self, *hosts: str) -> None:
        self.hosts = hosts

    def peers(self) -> list[_Peer]:
        return [_Peer(h) for h in self.hosts]


def _ua() -> UserAgent:
    account = Account(registrar="pbx.example", user="alice", password="pw")
    return UserAgent(UaConfig(user="alice", display_name="", local_host="127.0.0.1",
                              local_port=5062, accounts=(account,)))


def test_the_registrar_is_known_by_the_address_it_was_resolved_to():
    ua = _ua()
    resolved: dict[str, str] = {}
    known = KnownSources(ua, lambda host: resolved.get(host, host))
    assert not ua.admission.is_known("203.0.113.5", 0.0)  # not resolved yet: nothing matches
    resolved["pbx.example"] = "203.0.113.5"  # the transport sent the REGISTER there
    known.registrars_changed()
    assert ua.admission.is_known("203.0.113.5", 0.0)
    # The account moved to another registrar (fail-over): the old one is a stranger now.
    ua.use_registrar(ua.config.accounts[0].name, "198.51.100.9:5060", 1.0)
    known.registrars_changed()
    assert ua.admission.is_known("198.51.100.9", 1.0)
    assert not ua.admission.is_known("203.0.113.5", 1.0)


def test_lan_directory_peers_are_known_until_the_directory_goes():
    ua = _ua()
    known = KnownSources(ua, lambda host: host)
    known.lan_changed(_Directory("192.168.1.20", "192.168.1.21"))  # type: ignore[arg-type]
    assert ua.admission.is_known("192.168.1.21", 0.0)
    assert not ua.admission.is_known("192.168.1.99", 0.0)
    known.lan_changed(None)
    assert not ua.admission.is_known("192.168.1.20", 0.0)
