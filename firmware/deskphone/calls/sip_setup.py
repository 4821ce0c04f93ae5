"""The SIP user agent and its endpoint as the configuration describes them."""

from __future__ import annotations

import dataclasses
from typing import Any

from deskphone.config import Config
from deskphone.sip.registration import Account
from deskphone.sip.transport import SipEndpoint, TransportConfig
from deskphone.sip.useragent import UaConfig, UserAgent


def user_agent_for(config: Config) -> tuple[UserAgent, dict[str, str]]:
    """The user agent with every `[[accounts]]` entry on its primary registrar, and the map
    from each account's config name to the user agent's name for it (user@domain)."""
    names: dict[str, str] = {}
    accounts = []
    for a in config.accounts:
        account = Account(registrar=a.registrars[0], user=a.user, password=a.password,
                          realm=a.realm, transport=a.transport, expires=a.expires,
                          register_timeout=a.failover_timeout_seconds, mwi=a.mwi)
        names[a.name] = account.name
        accounts.append(account)
    ident, listen = config.identity, config.sip.listen
    ua = UserAgent(UaConfig(
        user=ident.user, display_name=ident.display_name, local_host=listen.host,
        local_port=listen.port, transport=listen.transport,
        user_agent=None if config.sip.privacy else config.sip.user_agent,
        accounts=tuple(accounts), privacy=config.sip.privacy))
    return ua, names


def endpoint_for(ua: UserAgent, config: Config) -> SipEndpoint:
    """The asyncio adapter of `ua` (UDP, TCP or TLS as `[sip] listen` says)."""
    return SipEndpoint(ua, TransportConfig(ca_file=config.sip.tls_ca,
                                           cert_file=config.sip.tls_cert,
                                           key_file=config.sip.tls_key))


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
                          "open_calls": len(ua.calls)}}
