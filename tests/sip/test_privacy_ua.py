"""The privacy option at the UA core: what a privacy phone's requests and responses leave out
(docs/privacy.md), and that a normal phone still sends each of those items."""

from __future__ import annotations

import re

from deskphone.sip.message import SipRequest, SipResponse, parse_message
from deskphone.sip.registration import Account
from tests.sip.pair import Network, drain
from tests.sip.test_useragent_pair import ANSWER, OFFER

OPTIONAL = ("User-Agent", "Server", "Organization", "Subject", "Date", "Timestamp", "Call-Info",
            "Alert-Info", "Reply-To", "In-Reply-To", "Priority", "Warning", "Accept-Language",
            "Error-Info", "Referred-By", "Privacy")


def _call(privacy: bool) -> tuple[Network, list[SipRequest | SipResponse]]:
    net = Network()
    alice = net.agent("alice", 5061, privacy=privacy)
    bob = net.agent("bob", 5062, privacy=privacy)
    call_id = alice.invite("sip:bob@127.0.0.1:5062", OFFER, net.now)
    net.pump()
    bob.ringing(call_id, net.now)
    bob.answer(call_id, ANSWER, net.now)
    net.pump()
    bob.refer(call_id, "sip:carol@127.0.0.1:5063", net.now)
    net.pump()
    alice.notify_transfer(call_id, 200, "OK", net.now)
    alice.hangup(call_id, net.now)
    net.pump()
    drain(alice), drain(bob)
    return net, [parse_message(data) for _, _, data in net.wire]


def test_privacy_phone_leaves_out_every_identifying_item() -> None:
    _, messages = _call(privacy=True)
    assert {m.method for m in messages if isinstance(m, SipRequest)} >= {
        "INVITE", "ACK", "REFER", "NOTIFY", "BYE"}
    for message in messages:
        names = {name.lower() for name, _ in message.headers}
        for optional in OPTIONAL:
            assert optional.lower() not in names, (optional, message.start_line)
        assert not any(n.startswith("x-") for n in names)
        assert "@" not in message.call_id  # §8.1.1.4: no host part
        for header in ("From", "To", "Contact"):
            for value in message.headers.raw(header):
                assert not value.lstrip().startswith('"'), (header, value)  # no display name
        for via in message.vias:
            assert re.fullmatch(r"z9hG4bK[0-9a-f]{24}", via.branch or ""), via.branch
        for tag in (message.from_.tag, message.to.tag):
            assert tag is None or re.fullmatch(r"[0-9a-f]{16}", tag), tag


def test_normal_phone_still_sends_them() -> None:
    _, messages = _call(privacy=False)
    invite = next(m for m in messages if isinstance(m, SipRequest) and m.method == "INVITE")
    assert invite.headers.get("User-Agent") == "deskphone/0.1"
    assert invite.headers.get("From", "").startswith('"Alice" <sip:alice@')
    assert invite.call_id.endswith("@127.0.0.1")
    ok = next(m for m in messages if isinstance(m, SipResponse) and m.status == 200)
    assert ok.headers.get("Server") == "deskphone/0.1"
    refer = next(m for m in messages if isinstance(m, SipRequest) and m.method == "REFER")
    assert refer.headers.get("Referred-By")


def test_privacy_register_has_no_host_in_call_id_and_no_user_agent() -> None:
    net = Network()
    account = Account(registrar="sip:127.0.0.1:5070", user="alice", password="pw")
    for privacy in (True, False):
        ua = net.agent("alice", 5061, privacy=privacy, accounts=(account,))
        ua.register(net.now)
        register = parse_message(ua.datagrams_to_send(net.now)[0][0])
        assert register.method == "REGISTER"
        assert ("@" in register.call_id) is not privacy
        assert ("User-Agent" in register.headers) is not privacy


def test_privacy_keeps_what_routing_needs() -> None:
    _, messages = _call(privacy=True)
    invite = next(m for m in messages if isinstance(m, SipRequest) and m.method == "INVITE")
    assert invite.from_.uri.user == "alice"  # registrars check it against the account
    assert invite.contacts and invite.vias[0].host == "127.0.0.1"
