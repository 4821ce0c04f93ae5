"""A registrar whose host name does not resolve (RFC 3263 §4.3: no server to try), and a change
of our own address (RFC 3261 §10.2.1: register the new Contact), sans-IO."""

from __future__ import annotations

from dataclasses import replace

from deskphone.sip import events as ev
from deskphone.sip.registration import Account
from deskphone.sip.useragent import UaConfig, UserAgent
from tests.sip.test_registrar_switch import events, register_ok, sent


def make_ua(registrar: str) -> UserAgent:
    account = Account(registrar=registrar, user="alice", password="alicepw", expires=600)
    return UserAgent(UaConfig(user="alice", display_name="Alice", local_host="10.0.0.5",
                              local_port=5070, accounts=(account,)))


def test_unresolved_registrar_fails_at_once_naming_it() -> None:
    ua = make_ua("pbx.example.test:5060")
    ua.register(0.0)
    ((request, addr),) = sent(ua, 0.0)
    assert request.method == "REGISTER" and addr == ("pbx.example.test", 5060)
    ua.transport_error(addr, 0.01, unresolved=True)
    (state,) = [e for e in events(ua) if isinstance(e, ev.RegistrationState)]
    assert state.state == "failed" and state.code is None
    assert state.reason == "Registrar not found: pbx.example.test"


def test_unreachable_registrar_says_unreachable() -> None:
    ua = make_ua("pbx.example.test:5060")
    ua.register(0.0)
    ((_, addr),) = sent(ua, 0.0)
    ua.transport_error(addr, 0.01)
    (state,) = [e for e in events(ua) if isinstance(e, ev.RegistrationState)]
    assert state.state == "failed" and state.reason == "unreachable"


def test_new_address_registers_the_new_contact_and_via() -> None:
    ua = make_ua("127.0.0.1:5601")
    ua.register(0.0)
    first = register_ok(ua, 0.0)
    assert "10.0.0.5:5070" in (first.headers.get("Contact") or "")
    events(ua)
    ua.config = replace(ua.config, local_host="10.0.0.9")  # what SipEndpoint.rebind does
    ua.use_registrar(first_account(ua), "127.0.0.1:5601", 1.0)
    again = register_ok(ua, 1.0)
    # the new binding, and the one at the address we no longer have taken away (§10.2.1.1)
    assert again.headers.raw("Contact") == ["<sip:alice@10.0.0.9:5070>",
                                            "<sip:alice@10.0.0.5:5070>;expires=0"]
    assert (again.headers.get("Via") or "").startswith("SIP/2.0/UDP 10.0.0.9:5070")
    assert again.headers.get("Call-ID") == first.headers.get("Call-ID")  # §10.2: one Call-ID
    (state,) = [e for e in events(ua) if isinstance(e, ev.RegistrationState)]
    assert state.state == "registered"
    ua.use_registrar(first_account(ua), "127.0.0.1:5601", 2.0)  # a refresh: one Contact again
    assert register_ok(ua, 2.0).headers.raw("Contact") == ["<sip:alice@10.0.0.9:5070>"]


def first_account(ua: UserAgent) -> str:
    return next(iter(ua.registrations))
