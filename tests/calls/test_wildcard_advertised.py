"""A phone with the Pi's default listen (udp:0.0.0.0:5071) never puts 0.0.0.0 in what it sends:
Via sent-by, Contact and Call-ID name a concrete address (RFC 3261 §18.2.1, §10.2.1)."""

from __future__ import annotations

import asyncio

from deskphone.calls.sip_setup import endpoint_for, user_agent_for
from deskphone.config import config_from_dict

PI_DEFAULTS = {"devices": {"mode": "pi"},
               "accounts": [{"name": "office", "registrar": "192.0.2.50", "user": "alice",
                             "password": "secret"}]}


def first_register(local_host: str | None) -> dict[str, str]:
    config = config_from_dict(PI_DEFAULTS)
    assert config.sip.listen.host == "0.0.0.0" and config.media.host == "0.0.0.0"
    ua, _ = user_agent_for(config, local_host)
    for registration in ua.registrations.values():
        registration.start(0.0)
    (data, addr), = ua.datagrams_to_send(0.0)
    assert addr[0] == "192.0.2.50"
    lines = [line.split(": ", 1) for line in data.decode().split("\r\n")[1:] if ": " in line]
    return {name: value for name, value in lines if name in ("Via", "Contact", "Call-ID")}


def test_the_advertised_address_is_in_via_contact_and_call_id() -> None:
    headers = first_register("198.51.100.4")
    assert headers["Via"].startswith("SIP/2.0/UDP 198.51.100.4:5071;"), headers
    assert headers["Contact"] == "<sip:phone@198.51.100.4:5071>", headers
    assert headers["Call-ID"].endswith("@198.51.100.4"), headers


def test_without_an_advertised_address_still_never_the_wildcard() -> None:
    headers = first_register(None)  # this machine's primary address, or loopback
    assert len(headers) == 3, headers
    assert not any("0.0.0.0" in value for value in headers.values()), headers


def test_the_endpoint_binds_the_wildcard_while_advertising_one_address() -> None:
    config = config_from_dict(PI_DEFAULTS)
    ua, _ = user_agent_for(config, "198.51.100.4")

    async def bound() -> str | None:  # an endpoint is made inside the loop it runs on
        return endpoint_for(ua, config).bind_host

    assert asyncio.run(bound()) == "0.0.0.0"
    assert ua.config.local_host == "198.51.100.4"
