"""UA support for registrar fail-over, sans-IO: switching an account's registrar, giving up on an
unanswered REGISTER early, failure codes and Retry-After, OPTIONS probes, and removing the binding
left behind (RFC 3261 §10.2, §10.3, §11, §17.1.2.2)."""

from __future__ import annotations

from deskphone.sip import events as ev
from deskphone.sip.message import SipRequest, SipResponse, parse_message
from deskphone.sip.registration import Account
from deskphone.sip.useragent import UaConfig, UserAgent

PRIMARY = "127.0.0.1:5601"
BACKUP = "127.0.0.1:5602"


def make_ua(**account_options: object) -> UserAgent:
    account = Account(registrar=PRIMARY, user="alice", password="alicepw", expires=600,
                      **account_options)  # type: ignore[arg-type]
    return UserAgent(UaConfig(user="alice", display_name="Alice", local_host="127.0.0.1",
                              local_port=5070, accounts=(account,)))


def sent(ua: UserAgent, now: float) -> list[tuple[SipRequest, tuple[str, int]]]:
    out = []
    for data, addr in ua.datagrams_to_send(now):
        message = parse_message(data)
        assert isinstance(message, SipRequest)
        out.append((message, addr))
    return out


def answer(ua: UaConfig | UserAgent, request: SipRequest, status: int, now: float,
           **headers: str) -> None:
    assert isinstance(ua, UserAgent)
    response = SipResponse(status=status, reason="Reason")
    for value in request.headers.raw("Via"):
        response.headers.add("Via", value)
    for name in ("From", "To", "Call-ID", "CSeq"):
        response.headers.add(name, request.headers.get(name) or "")
    if status == 200 and request.method == "REGISTER":
        contact = request.headers.get("Contact")
        response.headers.add("Contact", f"{contact};expires={request.headers.get('Expires')}")
    for name, value in headers.items():
        response.headers.add(name.replace("_", "-"), value)
    ua.receive_datagram(response.serialize(), ("127.0.0.1", 5601), now)


def events(ua: UserAgent) -> list[ev.Event]:
    out = []
    while (event := ua.next_event()) is not None:
        out.append(event)
    return out


def register_ok(ua: UserAgent, now: float) -> SipRequest:
    ((request, _),) = sent(ua, now)
    answer(ua, request, 200, now)
    return request


def test_use_registrar_moves_register_and_calls_but_keeps_the_address_of_record() -> None:
    ua = make_ua()
    ua.register(0.0)
    first = register_ok(ua, 0.0)
    (state,) = events(ua)
    assert state.state == "registered" and state.registrar == PRIMARY and state.code == 200
    name = state.account

    ua.use_registrar(name, BACKUP, 1.0)
    ((request, addr),) = sent(ua, 1.0)
    assert addr == ("127.0.0.1", 5602)
    assert str(request.uri) == f"sip:{BACKUP}"  # §10.2: the registrar we register with
    assert request.headers.get("To") == f"<sip:alice@{PRIMARY}>"  # the AoR does not move
    assert request.call_id == first.call_id  # one Call-ID per boot cycle
    assert request.cseq.number == first.cseq.number + 1 + 3  # numbers set aside to leave
    answer(ua, request, 200, 1.0)
    (state,) = events(ua)
    assert (state.account, state.state, state.registrar) == (name, "registered", BACKUP)

    ua.invite("bob", b"", 2.0, account=name)  # new calls use the current registrar as proxy
    ((invite, addr),) = sent(ua, 2.0)
    assert invite.method == "INVITE" and addr == ("127.0.0.1", 5602)
    assert str(invite.uri) == f"sip:bob@{PRIMARY}"

    ua.use_registrar(name, PRIMARY, 3.0)  # back to the primary: no proxy any more
    ((request, addr),) = sent(ua, 3.0)
    assert addr == ("127.0.0.1", 5601) and ua.registrations[name].account.proxy is None


def test_remove_binding_uses_a_set_aside_cseq_older_than_the_current_registration() -> None:
    ua = make_ua()
    ua.register(0.0)
    register_ok(ua, 0.0)
    name = events(ua)[0].account
    ua.use_registrar(name, BACKUP, 1.0)
    on_backup = register_ok(ua, 1.0)
    ua.use_registrar(name, PRIMARY, 2.0)  # fallback
    on_primary = register_ok(ua, 2.0)
    events(ua)
    ua.remove_binding_at(name, BACKUP, 3.0)
    ((leave, addr),) = sent(ua, 3.0)
    assert addr == ("127.0.0.1", 5602) and leave.headers.get("Expires") == "0"
    assert on_backup.cseq.number < leave.cseq.number < on_primary.cseq.number
    assert leave.call_id == on_primary.call_id
    # A digest challenge is answered once, still below the primary's CSeq.
    answer(ua, leave, 401, 3.0, WWW_Authenticate='Digest realm="x", nonce="n1"')
    ((again, _),) = sent(ua, 3.0)
    assert leave.cseq.number < again.cseq.number < on_primary.cseq.number
    assert "Authorization" in again.headers
    answer(ua, again, 400, 3.0)  # a shared location table refuses the old CSeq: fine
    assert sent(ua, 3.1) == [] and events(ua) == []
    assert ua.registrations[name].state == "registered"  # our real binding is untouched


def test_unanswered_register_gives_up_after_register_timeout() -> None:
    ua = make_ua(register_timeout=2.0)
    ua.registrations[next(iter(ua.registrations))].retry_after_failure = None
    ua.register(0.0)
    assert len(sent(ua, 0.0)) == 1
    assert ua.get_timer() is not None and ua.get_timer() <= 2.0  # type: ignore[operator]
    ua.handle_timer(0.5)  # Timer E retransmission, still waiting
    assert [r.method for r, _ in sent(ua, 0.5)] == ["REGISTER"]
    ua.handle_timer(2.0)
    (state,) = events(ua)
    assert (state.state, state.reason, state.code, state.registrar) == (
        "failed", "timeout", None, PRIMARY)
    assert ua.transactions == {}  # no more retransmissions to a dead registrar
    assert ua.get_timer() is None  # retry_after_failure None: the owner decides what is next


def test_failure_reports_code_and_retry_after() -> None:
    ua = make_ua()
    ua.register(0.0)
    ((request, _),) = sent(ua, 0.0)
    answer(ua, request, 503, 0.1, Retry_After="30 (maintenance);duration=10")
    (state,) = events(ua)
    assert (state.state, state.code, state.retry_after) == ("failed", 503, 30.0)
    registration = next(iter(ua.registrations.values()))
    assert registration.refresh_at == 60.1  # its own retry when no fail-over policy manages it


def test_probe_reports_any_answer_or_gives_up() -> None:
    ua = make_ua()
    probe = ua.probe(PRIMARY, 0.0, timeout=3.0)
    ((options, addr),) = sent(ua, 0.0)
    assert options.method == "OPTIONS" and addr == ("127.0.0.1", 5601)
    answer(ua, options, 484, 0.1)  # Address Incomplete is still an answer: it is alive
    assert events(ua) == [ev.ProbeResult(probe, PRIMARY, 484)]

    silent = ua.probe(BACKUP, 1.0, timeout=3.0)
    sent(ua, 1.0)
    ua.handle_timer(4.0)
    assert events(ua) == [ev.ProbeResult(silent, BACKUP, None)]
    assert ua.transactions == {} and ua.get_timer() is None


def test_use_registrar_rejects_an_unknown_account() -> None:
    ua = make_ua()
    try:
        ua.use_registrar("nobody@nowhere", BACKUP, 0.0)
    except KeyError as exc:
        assert "nobody@nowhere" in str(exc)
    else:
        raise AssertionError("expected KeyError")
