"""Re-registration when the registration flow breaks (RFC 5626 §4.4.2 over UDP, sip/flow.py).

The registrar reports in the top Via of its answers which public address and port our
requests came from (RFC 3581 received/rport). An OPTIONS flow check that comes back with
another mapping (the home router forgot ours and gave the next packet a new port), or gets no
answer within 10 s, makes the phone REGISTER again at once instead of at its next refresh.
"""

from __future__ import annotations

from deskphone.sip import events as ev
from deskphone.sip.flow import ANSWER_WAIT
from deskphone.sip.message import SipRequest, parse_message
from deskphone.sip.registration import Account
from deskphone.sip.useragent import UaConfig, UserAgent
from tests.sip.pair import drain

US = ("10.0.0.2", 5071)
REGISTRAR = ("192.0.2.9", 5060)
PUBLIC = "198.51.100.7"


def _ua() -> UserAgent:
    account = Account(registrar=f"{REGISTRAR[0]}:{REGISTRAR[1]}", user="alice", password="pw")
    return UserAgent(UaConfig(user="alice", display_name="", local_host=US[0],
                              local_port=US[1], accounts=(account,)))


def _sent(ua: UserAgent, now: float) -> list[SipRequest]:
    out = []
    for data, addr in ua.datagrams_to_send(now):
        assert addr == REGISTRAR
        message = parse_message(data)
        assert isinstance(message, SipRequest)
        out.append(message)
    return out


def _reply(request: SipRequest, status: str, port: int | None, extra: str = "") -> bytes:
    """What a registrar behind `force_rport` answers: the source it saw, in the top Via."""
    h = request.headers
    via = h.get("Via") or ""
    if port is not None:
        via = via.replace(";rport", f";rport={port};received={PUBLIC}")
    return (f"SIP/2.0 {status}\r\nVia: {via}\r\nFrom: {h.get('From')}\r\n"
            f"To: {h.get('To')};tag=srv\r\nCall-ID: {h.get('Call-ID')}\r\n"
            f"CSeq: {h.get('CSeq')}\r\n{extra}Content-Length: 0\r\n\r\n").encode()


def _registered(ua: UserAgent, port: int | None = 40000) -> None:
    ua.register(0.0)
    (register,) = _sent(ua, 0.0)
    ua.receive_datagram(_reply(register, "200 OK", port, "Expires: 3600\r\n"), REGISTRAR, 0.1)
    assert [e.state for e in drain(ua) if isinstance(e, ev.RegistrationState)] == ["registered"]


def _check(ua: UserAgent, now: float) -> SipRequest:
    ua.check_flows(now)
    (options,) = _sent(ua, now)
    assert options.method == "OPTIONS" and options.uri.host == REGISTRAR[0]
    return options


def test_same_mapping_keeps_the_registration() -> None:
    ua = _ua()
    _registered(ua)
    options = _check(ua, 10.0)
    ua.receive_datagram(_reply(options, "484 Address Incomplete", 40000), REGISTRAR, 10.1)
    assert _sent(ua, 10.1) == []
    assert next(iter(ua.registrations.values())).state == "registered"
    assert (ua.stats.flow_checks_sent, ua.stats.flow_changes, ua.stats.flow_failures) == (1, 0, 0)


def test_a_new_mapping_registers_again_at_once() -> None:
    ua = _ua()
    _registered(ua)
    options = _check(ua, 10.0)
    ua.receive_datagram(_reply(options, "484 Address Incomplete", 40123), REGISTRAR, 10.1)
    (register,) = _sent(ua, 10.1)
    assert register.method == "REGISTER" and register.headers.get("Expires") == "3600"
    assert ua.stats.flow_changes == 1
    ua.receive_datagram(_reply(register, "200 OK", 40123, "Expires: 3600\r\n"), REGISTRAR, 10.2)
    assert [e.state for e in drain(ua) if isinstance(e, ev.RegistrationState)] == ["registered"]
    # the new mapping is the one compared against from now on
    options = _check(ua, 20.0)
    ua.receive_datagram(_reply(options, "200 OK", 40123), REGISTRAR, 20.1)
    assert _sent(ua, 20.1) == [] and ua.stats.flow_changes == 1


def test_no_answer_within_ten_seconds_registers_again() -> None:
    ua = _ua()
    _registered(ua)
    _check(ua, 10.0)
    now = 10.0
    registers: list[SipRequest] = []
    while now < 10.0 + ANSWER_WAIT + 1:
        now = max(now + 0.25, min(ua.get_timer() or now + 0.25, 10.0 + ANSWER_WAIT + 1))
        ua.handle_timer(now)
        registers += [r for r in _sent(ua, now) if r.method == "REGISTER"]
    assert ua.stats.flow_failures == 1
    assert len(registers) >= 1  # REGISTER again (and its retransmissions), not at 3570 s


def test_a_registrar_without_rport_is_only_checked_for_an_answer() -> None:
    ua = _ua()
    _registered(ua, port=None)
    options = _check(ua, 10.0)
    ua.receive_datagram(_reply(options, "200 OK", 40000), REGISTRAR, 10.1)
    assert _sent(ua, 10.1) == [] and ua.stats.flow_changes == 0


def test_one_check_at_a_time_and_none_before_registering() -> None:
    ua = _ua()
    ua.check_flows(0.0)
    assert ua.datagrams_to_send(0.0) == []
    _registered(ua)
    _check(ua, 10.0)
    ua.check_flows(11.0)
    assert [r.method for r in _sent(ua, 11.0)] in ([], ["OPTIONS"])  # a retransmission at most
    assert ua.stats.flow_checks_sent == 1
