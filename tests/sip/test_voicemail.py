"""The voicemail lamp's SUBSCRIBE/NOTIFY (RFC 6665, RFC 3842) in the sans-IO user agent: it
subscribes once registered, refreshes, handles 489/403/404 and terminated, hears the NOTIFYs of
its dialog and the server's unsolicited ones, and refuses a NOTIFY from anyone else with 481."""

from __future__ import annotations

from deskphone.sip import Account, UaConfig, UserAgent
from deskphone.sip import events as ev
from deskphone.sip.message import SipRequest, SipResponse, parse_message
from deskphone.sip.uri import parse_uri

SERVER = ("127.0.0.1", 5070)
SUMMARY = b"Messages-Waiting: yes\r\nMessage-Account: sip:201@127.0.0.1\r\nVoice-Message: 3/1\r\n"


def agent() -> UserAgent:
    account = Account(registrar="127.0.0.1:5070", user="201", password="pw", mwi=True)
    return UserAgent(UaConfig(user="201", display_name="A", local_host="127.0.0.1",
                              local_port=5071, accounts=(account,)))


def sent(ua: UserAgent, now: float) -> list[SipRequest | SipResponse]:
    return [parse_message(data) for data, _ in ua.datagrams_to_send(now)]


def answer(ua: UserAgent, request: SipRequest, status: int, now: float,
           extra: tuple[tuple[str, str], ...] = ()) -> None:
    response = SipResponse(status=status, reason="X")
    for name in ("Via", "From", "Call-ID", "CSeq"):
        for value in request.headers.raw(name):
            response.headers.add(name, value)
    response.headers.add("To", (request.headers.get("To") or "") + ";tag=srv1")
    for name, value in extra:
        response.headers.add(name, value)
    ua.receive_datagram(response.serialize(), SERVER, now)


def notify(ua: UserAgent, *, call_id: str, to_tag: str, body: bytes, addr=SERVER,
           state: str = "active;expires=3600", event: str = "message-summary",
           cseq: int = 1) -> SipResponse:
    request = SipRequest(method="NOTIFY", uri=parse_uri("sip:201@127.0.0.1:5071"))
    request.headers.add("Via", f"SIP/2.0/UDP {addr[0]}:{addr[1]};branch=z9hG4bKn{cseq}{to_tag}")
    request.headers.add("From", "<sip:201@127.0.0.1:5070>;tag=srv1")
    request.headers.add("To", "<sip:201@127.0.0.1>" + (f";tag={to_tag}" if to_tag else ""))
    request.headers.add("Call-ID", call_id)
    request.headers.add("CSeq", f"{cseq} NOTIFY")
    request.headers.add("Event", event)
    request.headers.add("Subscription-State", state)
    request.headers.add("Content-Type", "application/simple-message-summary")
    request.body = body
    ua.receive_datagram(request.serialize(), addr, 1.0)
    replies = [m for m in sent(ua, 1.0) if isinstance(m, SipResponse)]
    assert len(replies) == 1
    return replies[0]


def lamp(ua: UserAgent) -> list[ev.MessageWaiting]:
    out = []
    while (event := ua.next_event()) is not None:
        if isinstance(event, ev.MessageWaiting):
            out.append(event)
    return out


def subscribed(ua: UserAgent) -> SipRequest:
    ua.register(0.0)
    register = sent(ua, 0.0)[0]
    assert isinstance(register, SipRequest) and register.method == "REGISTER"
    answer(ua, register, 200, 0.1, (("Expires", "3600"),))
    subscribe = sent(ua, 0.1)[0]
    assert isinstance(subscribe, SipRequest) and subscribe.method == "SUBSCRIBE"
    assert subscribe.headers.get("Event") == "message-summary"
    assert subscribe.headers.get("Accept") == "application/simple-message-summary"
    return subscribe


def test_subscribes_once_registered_hears_its_notify_and_refreshes() -> None:
    ua = agent()
    subscribe = subscribed(ua)
    answer(ua, subscribe, 200, 0.2, (("Expires", "600"),))
    from_tag = subscribe.from_.tag or ""
    reply = notify(ua, call_id=subscribe.call_id, to_tag=from_tag, body=SUMMARY)
    assert reply.status == 200
    assert lamp(ua) == [ev.MessageWaiting("201@127.0.0.1:5070", True, 3, 1)]
    timer = ua.get_timer()
    assert timer is not None and timer <= 0.2 + 600 - 60
    ua.handle_timer(540.2)
    refresh = [m for m in sent(ua, 540.2) if isinstance(m, SipRequest)]
    assert [m.method for m in refresh] == ["SUBSCRIBE"]
    assert refresh[0].call_id == subscribe.call_id and "tag=srv1" in (
        refresh[0].headers.get("To") or "")


def test_a_bad_body_gets_400_and_lights_nothing() -> None:
    ua = agent()
    subscribe = subscribed(ua)
    answer(ua, subscribe, 200, 0.2)
    reply = notify(ua, call_id=subscribe.call_id, to_tag=subscribe.from_.tag or "",
                   body=b"Messages-Waiting: perhaps\r\n")
    assert reply.status == 400 and lamp(ua) == []


def test_unsolicited_notify_is_heard_from_the_server_only() -> None:
    ua = agent()
    subscribed(ua)
    assert notify(ua, call_id="unsolicited-1", to_tag="", body=SUMMARY).status == 200
    assert [e.new for e in lamp(ua)] == [3]
    stranger = ("127.0.0.1", 6666)
    assert notify(ua, call_id="spoof-1", to_tag="", body=SUMMARY, addr=stranger,
                  cseq=2).status == 481
    assert lamp(ua) == []  # a NOTIFY from anyone else must not light the lamp


def test_489_stops_403_and_404_wait_long_terminated_subscribes_again() -> None:
    for status, retries in ((489, False), (403, True), (404, True)):
        ua = agent()
        subscribe = subscribed(ua)
        answer(ua, subscribe, status, 0.2)
        assert ua.voicemail.by_account["201@127.0.0.1:5070"].state in (
            "unsupported", "refused")
        assert (ua.voicemail.get_timer() is not None) == retries
    ua = agent()
    subscribe = subscribed(ua)
    answer(ua, subscribe, 200, 0.2)
    notify(ua, call_id=subscribe.call_id, to_tag=subscribe.from_.tag or "", body=SUMMARY,
           state="terminated;reason=timeout")
    ua.handle_timer(1.0)
    again = [m for m in sent(ua, 1.0) if isinstance(m, SipRequest)]
    assert [m.method for m in again] == ["SUBSCRIBE"] and again[0].call_id != subscribe.call_id


def test_a_digest_challenge_is_answered() -> None:
    ua = agent()
    subscribe = subscribed(ua)
    answer(ua, subscribe, 401, 0.2,
           (("WWW-Authenticate", 'Digest realm="127.0.0.1", nonce="abc", qop="auth"'),))
    retry = sent(ua, 0.2)[0]
    assert isinstance(retry, SipRequest) and retry.method == "SUBSCRIBE"
    assert 'username="201"' in (retry.headers.get("Authorization") or "")
