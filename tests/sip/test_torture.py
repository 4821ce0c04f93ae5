"""RFC 4475 torture messages (fixtures in tests/sip/torture/, made by make_fixtures.py).

Each case states what the RFC asks of an endpoint and checks what we do: the parser verdict
and, for requests, what our UserAgent core answers.
"""

from __future__ import annotations

import pathlib

import pytest

from deskphone.sip.message import SipParseError, SipRequest, SipResponse, parse_message
from deskphone.sip.uri import AbsoluteUri, SipUri, TelUri
from deskphone.sip.useragent import UaConfig, UserAgent

TORTURE = pathlib.Path(__file__).parent / "torture"

# name -> status our UA answers (None: nothing sent / response dropped) per RFC 4475's guidance.
EXPECTED_ANSWER = {
    # §3.1.1 valid messages: parse, then the normal endpoint answer
    "wsinv": 481,  # To already has a tag: no such dialog here (§12.2.2)
    "intmeth": 501,
    "esc01": 100,
    "escnull": 405,
    "esc02": 501,
    "lwsdisp": 200,
    "longreq": 100,
    "dblreq": 405,
    "semiuri": 200,
    "transports": 200,
    "mpart01": 405,
    "unreason": None,
    "noreason": None,
    # §3.1.2 invalid messages
    "badinv01": 400,
    "clerr": 400,
    "ncl": 400,
    "scalar02": 400,
    "scalarlg": None,
    "quotbal": 400,
    "ltgtruri": 400,
    "lwsruri": 400,
    "lwsstart": 400,
    "trws": 400,
    "escruri": 400,
    "baddate": 400,
    "regbadct": 400,
    "badaspec": 400,
    "baddn": 400,
    "badvers": 505,
    "mismatch01": 400,
    "mismatch02": 501,
    "bigcode": None,
    # §3.2 transaction layer
    "badbranch": 200,
    # §3.3 application layer
    "insuf": None,
    "unkscm": 416,
    "novelsc": 416,
    "unksm2": 405,
    "bext01": 420,
    "invut": 415,
    "regaut01": 405,
    "multi01": 400,
    "mcl01": 400,
    "bcast": None,
    "zeromf": 200,
    "cparam01": 405,
    "cparam02": 405,
    "regescrt": 405,
    "sdp01": 406,
    # §3.4 backward compatibility
    "inv2543": 100,
}
PARSES = {
    n
    for n, s in EXPECTED_ANSWER.items()
    if s not in (400, 505) and n not in ("scalarlg", "bigcode", "insuf", "mismatch02")
}
PARSES |= {"bcast", "unreason", "noreason"}


def test_every_fixture_has_an_expectation():
    assert sorted(p.stem for p in TORTURE.glob("*.sip")) == sorted(EXPECTED_ANSWER)
    assert len(EXPECTED_ANSWER) == 49


@pytest.mark.parametrize("name", sorted(EXPECTED_ANSWER))
def test_parser_verdict(name):
    data = (TORTURE / f"{name}.sip").read_bytes()
    if name in PARSES:
        assert isinstance(parse_message(data), SipRequest | SipResponse)
    else:
        with pytest.raises(SipParseError):
            parse_message(data)


@pytest.mark.parametrize("name", sorted(EXPECTED_ANSWER))
def test_user_agent_answer(name):
    ua = UserAgent(
        UaConfig(user="user", display_name="", local_host="192.0.2.1", local_port=5060)
    )
    ua.receive_datagram(
        (TORTURE / f"{name}.sip").read_bytes(), ("192.0.2.99", 5060), 0.0
    )
    sent = ua.datagrams_to_send(0.0)
    expected = EXPECTED_ANSWER[name]
    if expected is None:
        assert sent == []
        return
    assert sent, f"{name}: nothing answered"
    status = int(sent[0][0].split(b" ", 2)[1])
    assert status == expected
    if name in PARSES:  # answers to well-formed requests are themselves well-formed
        assert isinstance(parse_message(sent[0][0]), SipResponse)


def test_wsinv_details():
    msg = parse_message((TORTURE / "wsinv.sip").read_bytes())
    assert isinstance(msg, SipRequest) and msg.method == "INVITE"
    assert msg.uri == SipUri(
        "sip", "chair-dnrc.example.com", "vivekg", params=(("unknownparam", None),)
    )
    assert msg.to.tag == "1918181833n" and msg.from_.tag == "98asjd8"
    assert msg.from_.display_name == 'J Rosenberg \\"'
    assert msg.headers.get("Max-Forwards") == "0068" and msg.cseq.number == 9
    assert [v.host for v in msg.vias] == [
        "192.0.2.2",
        "spindle.example.com",
        "192.168.255.111",
    ]
    assert [v.branch for v in msg.vias] == ["390skdjuw", "z9hG4bK9ikj8", "z9hG4bK30239"]
    assert msg.headers.get("Subject") == ""
    assert (
        msg.headers.get("NewFangledHeader")
        == "newfangled value continued newfangled value"
    )
    assert msg.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    [contact] = msg.contacts
    assert contact.display_name == 'Quoted string ""'
    assert contact.params == (
        ("newparam", "newvalue"),
        ("secondparam", None),
        ("q", "0.33"),
    )
    assert len(msg.body) == 150


def test_intmeth_details():
    msg = parse_message((TORTURE / "intmeth.sip").read_bytes())
    assert (
        isinstance(msg, SipRequest)
        and msg.method == "!interesting-Method0123456789_*+`.%indeed'~"
    )
    assert isinstance(msg.uri, SipUri)
    assert msg.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert msg.uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert msg.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert msg.from_.display_name == "token1~` token2'+_ token3*%!.-"
    assert msg.from_.param("fromParam''~+*_!.-%") == "работающий"
    assert msg.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"


def test_escapes_are_kept_verbatim():
    esc01 = parse_message((TORTURE / "esc01.sip").read_bytes())
    assert esc01.uri.user == "sips%3Auser%40example.com"
    assert esc01.contacts[0].uri.params == (
        ("%6C%72", None),
        ("n%61me", "v%61lue%25%34%31"),
    )
    escnull = parse_message((TORTURE / "escnull.sip").read_bytes())
    assert [c.uri.user for c in escnull.contacts] == ["%00", "%00%00"]
    esc02 = parse_message((TORTURE / "esc02.sip").read_bytes())
    assert (
        len(esc02.contacts) == 2
        and esc02.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"
    )


def test_longreq_and_dblreq_and_schemes():
    longreq = parse_message((TORTURE / "longreq.sip").read_bytes())
    assert len(longreq.vias) == 34 and longreq.vias[-1].param("received") == "192.0.2.5"
    assert longreq.to.uri.port == 6000
    dblreq = parse_message((TORTURE / "dblreq.sip").read_bytes())
    assert (
        dblreq.method == "REGISTER" and dblreq.body == b""
    )  # trailing INVITE bytes ignored (§18.3)
    semiuri = parse_message((TORTURE / "semiuri.sip").read_bytes())
    assert (
        semiuri.uri.user == "user;par=u%40example.net"
        and len(semiuri.headers.get_all("Accept")) == 6
    )
    transports = parse_message((TORTURE / "transports.sip").read_bytes())
    assert [v.transport for v in transports.vias] == [
        "UDP",
        "SCTP",
        "TLS",
        "UNKNOWN",
        "TCP",
    ]
    assert isinstance(
        parse_message((TORTURE / "unkscm.sip").read_bytes()).uri, AbsoluteUri
    )
    unksm2 = parse_message((TORTURE / "unksm2.sip").read_bytes())
    assert str(unksm2.to.uri) == "isbn:2983792873"
    mpart = parse_message((TORTURE / "mpart01.sip").read_bytes())
    assert b"\x00" in mpart.body and len(mpart.body) == int(
        mpart.headers.get("Content-Length")
    )
    noreason = parse_message((TORTURE / "noreason.sip").read_bytes())
    assert noreason.status == 100 and noreason.reason == ""
    unreason = parse_message((TORTURE / "unreason.sip").read_bytes())
    assert unreason.reason.startswith("= 2**3 * 5**2 но сто")


def test_tel_uri():
    from deskphone.sip.uri import parse_uri

    assert parse_uri("tel:+1-201-555-0123;ext=42") == TelUri(
        "+1-201-555-0123", (("ext", "42"),)
    )
