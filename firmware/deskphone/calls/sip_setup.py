"""The SIP user agent and its endpoint as the configuration describes them."""

from __future__ import annotations

import dataclasses
from typing import Any

from deskphone.config import Config
from deskphone.routing.primary_address import is_wildcard, primary_address
from deskphone.sip.registration import Account
from deskphone.sip.transport import SipEndpoint, TransportConfig
from deskphone.sip.useragent import UaConfig, UserAgent


def user_agent_for(config: Config, local_host: str | None = None
                   ) -> tuple[UserAgent, dict[str, str]]:
    """The user agent with every `[[accounts]]` entry on its primary registrar, and the map
    from each account's config name to the user agent's name for it (user@domain).
    `local_host`: what Via, Contact and Call-IDs name when it is not the listen host (a
    wildcard listen advertises one address, calls/network.py)."""
    names: dict[str, str] = {}
    accounts = []
    for a in config.accounts:
        account = Account(registrar=a.registrars[0], user=a.user, password=a.password,
                          realm=a.realm, transport=a.transport, expires=a.expires,
                          register_timeout=a.failover_timeout_seconds, mwi=a.mwi)
        names[a.name] = account.name
        accounts.append(account)
    ident, listen = config.identity, config.sip.listen
    if local_host is None and is_wildcard(listen.host):
        # 0.0.0.0 is where we bind, not an address to send to (RFC 3261 §18.2.1, §10.2.1)
        local_host = primary_address(ipv6=listen.host == "::") or "127.0.0.1"
    ua = UserAgent(UaConfig(
        user=ident.user, display_name=ident.display_name,
        local_host=local_host or listen.host,
        local_port=listen.port, transport=listen.transport,
        user_agent=None if config.sip.privacy else config.sip.user_agent,
        accounts=tuple(accounts), privacy=config.sip.privacy,
        session_expires=config.sip.session_expires, min_se=config.sip.min_se))
    return ua, names


def endpoint_for(ua: UserAgent, config: Config) -> SipEndpoint:
    """The asyncio adapter of `ua` (UDP, TCP or TLS as `[sip] listen` says)."""
    return SipEndpoint(ua, TransportConfig(ca_file=config.sip.tls_ca,
                                           cert_file=config.sip.tls_cert,
                                           key_file=config.sip.tls_key),
                       bind_host=config.sip.listen.host)


def sip_info(endpoint: SipEndpoint, config: Config) -> dict[str, Any]:
    """Where we listen and the SIP counters, for `state`: counters only (no addresses, no
    headers), what was dropped and why, and how much a remote party holds open right now
    (transactions, calls still in the table) — what a flood must not grow without bound."""
    host, port = endpoint.local_address
    ua = endpoint.ua
    return {"sip": f"{config.sip.listen.transport}:{host}:{port}",
            "sip_stats": {**dataclasses.asdict(endpoint.stats),
                          **dataclasses.asdict(ua.stats),
                          "open_transactions": len(ua.transactions),
                          "open_calls": len(ua.calls),
                          # sip/admission.py: held by strangers, by known sources' reserve
                          "strangers_open": ua.admission.strangers_open,
                          "known_open": ua.admission.known_open}}
