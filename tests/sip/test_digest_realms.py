"""Issue 13 F8: the account's password answers only the account's realms, with the strongest
algorithm offered and every field quoted; a SIP URI in the account's domain goes through it;
no password in a repr.

A hostile callee or proxy answers our INVITE with a challenge of its own choosing (realm,
nonce, MD5): answering it would hand over a hash of the password to crack offline."""

from __future__ import annotations

from deskphone.config import AccountConfig
from deskphone.routing.dialplan import DIRECT, DialPlan
from deskphone.sip import events as ev
from deskphone.sip.digest import authorization_value, choose_challenge, parse_auth_params
from deskphone.sip.message import SipRequest, parse_message
from deskphone.sip.registration import Account
from deskphone.sip.useragent import UaConfig, UserAgent
from tests.sip.pair import drain

US = ("192.0.2.1", 5060)
REGISTRAR = ("192.0.2.9", 5070)
SDP = b"v=0\r\no=u 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"


def _ua(realm: str | None = None) -> UserAgent:
    account = Account(registrar=f"{REGISTRAR[0]}:{REGISTRAR[1]}", user="alice",
                      password="s3cret", realm=realm)
    return UserAgent(UaConfig(user="alice", display_name="", local_host=US[0],
                              local_port=US[1], accounts=(account,)))


def _sent(ua: UserAgent, now: float) -> list[SipRequest]:
    out = []
    for data, addr in ua.datagrams_to_send(now):
        assert addr == REGISTRAR  # the account's calls and registrations go to its registrar
        message = parse_message(data)
        if isinstance(message, SipRequest) and message.method != "ACK":
            out.append(message)
    return out


def _reply(request: SipRequest, status: str, extra: str = "") -> bytes:
    h = request.headers
    return (f"SIP/2.0 {status}\r\nVia: {h.get('Via')}\r\nFrom: {h.get('From')}\r\n"
            f"To: {h.get('To')};tag=srv\r\nCall-ID: {h.get('Call-ID')}\r\nCSeq: {h.get('CSeq')}\r\n"
            f"{extra}Content-Length: 0\r\n\r\n").encode("utf-8", "surrogateescape")


def _registered(ua: UserAgent, realm: str = "office.example") -> None:
    """REGISTER → 401 in `realm` → REGISTER with credentials → 200: the realm is learned."""
    ua.register(0.0)
    (register,) = _sent(ua, 0.0)
    challenge = f'WWW-Authenticate: Digest realm="{realm}", nonce="r1", qop="auth"\r\n'
    ua.receive_datagram(_reply(register, "401 Unauthorized", challenge), REGISTRAR, 0.1)
    (authorized,) = _sent(ua, 0.1)
    assert "Authorization" in authorized.headers
    ua.receive_datagram(_reply(authorized, "200 OK", "Expires: 3600\r\n"), REGISTRAR, 0.2)
    assert [e.state for e in drain(ua) if isinstance(e, ev.RegistrationState)] == ["registered"]


def _call_challenged(ua: UserAgent, challenges: list[str]) -> tuple[str, list[SipRequest]]:
    call_id = ua.invite("sip:bob@192.0.2.9:5070", SDP, 1.0)
    (invite,) = _sent(ua, 1.0)
    extra = "".join(f"Proxy-Authenticate: {c}\r\n" for c in challenges)
    ua.receive_datagram(_reply(invite, "407 Proxy Authentication Required", extra), REGISTRAR,
                        1.1)
    return call_id, _sent(ua, 1.1)


def test_hostile_callee_challenging_with_a_foreign_realm_gets_no_credentials():
    ua = _ua()
    _registered(ua)
    call_id, retries = _call_challenged(ua, ['Digest realm="evil.example", nonce="n", '
                                             "algorithm=MD5"])
    assert retries == []  # no INVITE carrying a hash of the password
    assert drain(ua) == [ev.CallEnded(call_id, "failed", 407)]
    assert ua.stats.auth_foreign_realm == 1


def test_a_challenge_in_the_learned_realm_is_answered():
    ua = _ua()
    _registered(ua)
    call_id, (retry,) = _call_challenged(
        ua, ['Digest realm="office.example", nonce="n3", qop="auth"'])
    assert retry.method == "INVITE" and retry.call_id == call_id
    params = parse_auth_params(retry.headers.get("Proxy-Authorization").partition(" ")[2])
    assert params["realm"] == "office.example" and params["nonce"] == "n3"
    assert "s3cret" not in retry.serialize().decode()


def test_before_any_realm_is_known_no_challenge_is_answered():
    ua = _ua()  # not registered: no realm configured, none learned
    call_id, retries = _call_challenged(ua, ['Digest realm="office.example", nonce="n"'])
    assert retries == [] and drain(ua) == [ev.CallEnded(call_id, "failed", 407)]


def test_the_configured_realm_wins_over_a_stronger_foreign_one():
    ua = _ua(realm="office.example")
    _, (retry,) = _call_challenged(ua, [
        'Digest realm="evil.example", nonce="e", algorithm=SHA-256, qop="auth"',
        'Digest realm="office.example", nonce="o", algorithm=MD5, qop="auth"',
    ])
    params = parse_auth_params(retry.headers.get("Proxy-Authorization").partition(" ")[2])
    assert (params["realm"], params["nonce"], params["algorithm"]) == ("office.example", "o",
                                                                       "MD5")


def test_registration_refuses_a_realm_other_than_the_configured_one():
    ua = _ua(realm="office.example")
    ua.register(0.0)
    (register,) = _sent(ua, 0.0)
    ua.receive_datagram(_reply(register, "401 Unauthorized",
                               'WWW-Authenticate: Digest realm="evil.example", nonce="n"\r\n'),
                        REGISTRAR, 0.1)
    assert _sent(ua, 0.1) == []
    (state,) = [e for e in drain(ua) if isinstance(e, ev.RegistrationState)]
    assert state.state == "failed" and "no usable challenge" in state.reason


def test_strongest_algorithm_and_qop_are_preferred():
    offered = [
        'Digest realm="r", nonce="1", algorithm=MD5, qop="auth"',
        'Digest realm="r", nonce="2", algorithm=SHA-256',
        'Digest realm="r", nonce="3", algorithm=SHA-256, qop="auth"',
        'Digest realm="other", nonce="4", algorithm=SHA-512-256, qop="auth"',
    ]
    chosen = choose_challenge(offered, realms={"r"})
    assert chosen is not None and (chosen.algorithm, chosen.nonce) == ("SHA-256", "3")


def test_sess_without_qop_still_sends_the_cnonce_it_hashed():
    (challenge,) = [choose_challenge(['Digest realm="r", nonce="n", algorithm=MD5-sess'])]
    assert challenge is not None
    value = authorization_value(challenge, username="alice", password="pw", method="INVITE",
                                uri="sip:bob@r", nc=1, cnonce="c0ffee")
    params = parse_auth_params(value.partition(" ")[2])
    assert params["cnonce"] == "c0ffee" and "qop" not in params


def test_every_field_is_quoted_so_a_quote_in_a_realm_or_nonce_cannot_end_it():
    challenge = choose_challenge(['Digest realm="a\\"b", nonce="x\\\\y", opaque="o\\"p"'])
    assert challenge is not None and challenge.realm == 'a"b'
    value = authorization_value(challenge, username='al"ice', password="pw", method="INVITE",
                                uri="sip:bob@r", nc=1, cnonce="c")
    assert 'realm="a\\"b"' in value and 'username="al\\"ice"' in value
    params = parse_auth_params(value.partition(" ")[2])
    assert (params["realm"], params["nonce"], params["opaque"], params["username"]) == (
        'a"b', "x\\y", 'o"p', 'al"ice')


def test_a_learned_realm_of_odd_bytes_is_answered_without_raising():
    ua = _ua()
    _registered(ua, realm="\udcff\udcfe")  # the parser's surrogateescape of 0xff 0xfe
    _, (retry,) = _call_challenged(ua, ['Digest realm="\udcff\udcfe", nonce="n"'])
    assert b'realm="\xff\xfe"' in retry.serialize()


def test_passwords_are_not_in_reprs():
    config = AccountConfig(name="office", registrars=("pbx.example",), user="alice",
                           password="hunter2-secret")
    account = Account(registrar="pbx.example", user="alice", password="hunter2-secret")
    assert "hunter2-secret" not in repr(config) and "hunter2-secret" not in repr(account)
    assert "hunter2-secret" not in repr(UaConfig(user="a", display_name="", local_host="h",
                                                 local_port=1, accounts=(account,)))


def test_a_sip_uri_in_an_accounts_domain_goes_through_that_account():
    plan = DialPlan.from_config({}, accounts=["office", "home"], account_domains={
        "office": ("127.0.0.1:5070", "127.0.0.1:5071"), "home": ("sip:pbx.home.example",)})
    assert plan.route("sip:bob@127.0.0.1:5070").via == "office"
    assert plan.route("sip:bob@127.0.0.1:5071;transport=udp").via == "office"  # fail-over
    assert plan.route("sip:bob@PBX.home.example").via == "home"
    assert plan.route("sip:bob@pbx.home.example:5060").via == "home"
    assert plan.route("sip:bob@127.0.0.1:5072").via == DIRECT  # another address: direct
    assert plan.route("sip:bob@elsewhere.example").via is None  # the default account
