"""3xx redirects at the UA core (RFC 3261 §8.1.3.4): q order, loops, the hop limit."""

from __future__ import annotations

from deskphone.sip import events as ev
from deskphone.sip.message import SipRequest, SipResponse, parse_message
from deskphone.sip.useragent import UaConfig, UserAgent
from tests.sip.test_useragent_pair import OFFER

PEER = ("127.0.0.1", 5070)


def _ua(**options: object) -> UserAgent:
    return UserAgent(UaConfig(user="alice", display_name="Alice", local_host="127.0.0.1",
                              local_port=5061, **options))  # type: ignore[arg-type]


def _answer(ua: UserAgent, request: SipRequest, status: int, contacts: list[str]) -> None:
    response = SipResponse(status=status, reason="Moved Temporarily")
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        for value in request.headers.raw(name):
            response.headers.add(name, value + (";tag=r" if name == "To" else ""))
    for contact in contacts:
        response.headers.add("Contact", contact)
    ua.receive_datagram(response.serialize(), PEER, 0.0)


def _invites(ua: UserAgent) -> list[tuple[SipRequest, tuple[str, int]]]:
    out = []
    for data, addr in ua.datagrams_to_send(0.0):
        message = parse_message(data)
        if isinstance(message, SipRequest) and message.method == "INVITE":
            out.append((message, addr))
    return out


def _events(ua: UserAgent) -> list[object]:
    out = []
    while (event := ua.next_event()) is not None:
        out.append(event)
    return out


def test_302_is_followed_highest_q_first_with_the_same_call() -> None:
    ua = _ua()
    call_id = ua.invite("sip:front@127.0.0.1:5070", OFFER, 0.0)
    first, _ = _invites(ua)[0]
    _answer(ua, first, 302, ["<sip:low@127.0.0.1:5080>;q=0.1",
                             "<sip:high@127.0.0.1:5090>;q=0.9"])
    (second, addr), = _invites(ua)
    assert str(second.uri) == "sip:high@127.0.0.1:5090" and addr == ("127.0.0.1", 5090)
    assert second.call_id == call_id and second.cseq.number == first.cseq.number + 1
    assert second.from_.tag == first.from_.tag and second.body == OFFER
    assert _events(ua)[0] == ev.Redirect(call_id, ("sip:low@127.0.0.1:5080",
                                                   "sip:high@127.0.0.1:5090"))
    # the first choice is busy: §8.1.3.4 moves on to the next contact of the target set
    _answer(ua, second, 486, [])
    (third, addr), = _invites(ua)
    assert str(third.uri) == "sip:low@127.0.0.1:5080" and addr == ("127.0.0.1", 5080)


def test_redirect_loop_and_hop_limit_end_the_call() -> None:
    ua = _ua(max_redirects=3)
    call_id = ua.invite("sip:a@127.0.0.1:5070", OFFER, 0.0)
    request, _ = _invites(ua)[0]
    sent = 1
    # two servers that redirect to each other: each URI is tried once (loop), then it fails
    for _ in range(5):
        nxt = "sip:b@127.0.0.1:5071" if request.uri.user == "a" else "sip:a@127.0.0.1:5070"
        _answer(ua, request, 302, [f"<{nxt}>"])
        invites = _invites(ua)
        if not invites:
            break
        request, _ = invites[0]
        sent += 1
    assert sent == 2
    assert _events(ua)[-1] == ev.CallEnded(call_id, "failed", 302)

    ua = _ua(max_redirects=2)
    call_id = ua.invite("sip:x0@127.0.0.1:5070", OFFER, 0.0)
    request, _ = _invites(ua)[0]
    for hop in range(1, 5):
        _answer(ua, request, 302, [f"<sip:x{hop}@127.0.0.1:5070>"])
        invites = _invites(ua)
        if not invites:
            break
        request, _ = invites[0]
    assert hop == 3  # two redirects followed, the third refused
    assert _events(ua)[-1] == ev.CallEnded(call_id, "failed", 302)


def test_redirect_without_usable_contact_fails() -> None:
    ua = _ua()
    call_id = ua.invite("sip:a@127.0.0.1:5070", OFFER, 0.0)
    request, _ = _invites(ua)[0]
    _answer(ua, request, 302, ["<tel:+15551234>", "<sip:bad@127.0.0.1:5072>;q=7"])
    (retry, _), = _invites(ua)  # q=7 is malformed: tried, but after valid ones (none here)
    assert str(retry.uri) == "sip:bad@127.0.0.1:5072"
    _answer(ua, retry, 301, [])
    assert _events(ua)[-1] == ev.CallEnded(call_id, "failed", 301)
