"""a=candidate values through aioice's parser and writer, and the screening of odd candidates."""

from __future__ import annotations

import pytest

from deskphone.media.ice import (
    MAX_REMOTE_CANDIDATES,
    CandidateError,
    IceCandidate,
    IceParameters,
    screen_remote_candidates,
)

# RFC 8839 §5.1's grammar, as a SIP peer (linphone, a browser) would send it
RELAY = "3 1 udp 16777215 203.0.113.1 40001 typ relay raddr 198.51.100.7 rport 50000"


def candidate(host: str, port: int = 40000, *, priority: int = 2130706431, kind: str = "host",
              component: int = 1, transport: str = "udp") -> IceCandidate:
    return IceCandidate("1", component, transport, priority, host, port, kind)


def test_an_sdp_candidate_round_trips_through_aioice() -> None:
    parsed = IceCandidate.from_sdp("candidate:" + RELAY)
    assert parsed == IceCandidate("3", 1, "udp", 16777215, "203.0.113.1", 40001, "relay",
                                  "198.51.100.7", 50000)
    assert parsed.to_sdp() == RELAY
    assert IceCandidate.from_sdp(parsed.to_sdp()) == parsed
    assert IceCandidate.from_sdp("a1 1 UDP 2130706431 192.168.1.2 5000 typ host").transport == \
        "udp"


@pytest.mark.parametrize(("value", "complaint"), [
    ("1 1 udp 100 192.0.2.1 5000 typ", "enough"),
    ("1 1 udp 100 192.0.2.1 5000 kind host", "'typ'"),
    ("1 1 udp high 192.0.2.1 5000 typ host", "invalid literal"),
    ("1 1 udp 100 192.0.2.1 port typ host", "invalid literal"),
    ("1 1 udp 0 192.0.2.1 5000 typ host", "priority"),
    ("1 1 udp 4294967296 192.0.2.1 5000 typ host", "priority"),
    ("1 0 udp 100 192.0.2.1 5000 typ host", "component"),
    ("1 1 udp 100 192.0.2.1 70000 typ host", "port"),
    ("f*o 1 udp 100 192.0.2.1 5000 typ host", "foundation"),
    ("1 1 udp 100 192.0.2.1 5000 typ host raddr 192.0.2.2 rport 99999", "rport"),
    ("1 1 udp 100 192.0.2.1 5000 typ host raddr 192.0.2.2 rport x", "invalid literal"),
])
def test_malformed_candidates_are_refused_with_a_reason(value: str, complaint: str) -> None:
    with pytest.raises(CandidateError) as error:
        IceCandidate.from_sdp(value)
    assert complaint in str(error.value)


def test_ice_credentials_are_checked_and_the_password_is_not_in_repr() -> None:
    IceParameters("abcd", "a" * 22).check()
    with pytest.raises(CandidateError, match="ice-ufrag"):
        IceParameters("abc", "a" * 22).check()
    with pytest.raises(CandidateError, match="ice-pwd"):
        IceParameters("abcd", "short").check()
    with pytest.raises(CandidateError, match="ice-pwd"):
        IceParameters("abcd", "a" * 21 + "!").check()
    assert "supersecretpassword" not in repr(IceParameters("abcd", "supersecretpassword12345"))


@pytest.mark.parametrize(("remote", "reason"), [
    (candidate("0.0.0.0"), "unspecified"),
    (candidate("::"), "unspecified"),
    (candidate("224.0.0.251"), "multicast"),
    (candidate("239.1.2.3"), "multicast"),
    (candidate("ff02::1"), "multicast"),
    (candidate("255.255.255.255"), "broadcast"),
    (candidate("192.168.7.255"), "broadcast"),  # the directed broadcast of a local subnet
    (candidate("127.0.0.1"), "loopback"),
    (candidate("::1"), "loopback"),
    (candidate("fe80::1"), "link-local"),
    (candidate("240.0.0.1"), "reserved"),
    (candidate("phone.local"), "hostname"),
    (candidate("evil.example.org"), "hostname"),
    (candidate("192.0.2.1", 0), "port"),
    (candidate("192.0.2.1", component=2), "component"),
    (candidate("192.0.2.1", transport="tcp"), "transport"),
    (candidate("192.0.2.1", kind="weird"), "type"),
])
def test_odd_remote_candidates_are_refused_and_counted(remote: IceCandidate, reason: str) -> None:
    screened = screen_remote_candidates([remote, candidate("192.0.2.10")], allow_loopback=False,
                                        local_broadcasts=frozenset({"192.168.7.255"}))
    assert screened.accepted == [candidate("192.0.2.10")]
    assert screened.refused == {reason: 1}


def test_loopback_candidates_are_accepted_only_when_this_phone_is_on_loopback() -> None:
    screened = screen_remote_candidates([candidate("127.0.0.1")], allow_loopback=True)
    assert screened.accepted == [candidate("127.0.0.1")] and not screened.refused


def test_thousands_of_candidates_are_capped_keeping_the_best() -> None:
    flood = [candidate(f"10.{i // 250}.{i % 250}.1", 1000 + i % 60000, priority=1000 + i)
             for i in range(5000)]
    flood += [candidate("10.0.0.1", 1000, priority=5)]  # same address as the first: a repeat
    screened = screen_remote_candidates(flood, allow_loopback=False)
    assert len(screened.accepted) == MAX_REMOTE_CANDIDATES
    assert screened.accepted[0].priority == 1000 + 4999  # highest priority first
    assert screened.refused == {"limit": 5000 - MAX_REMOTE_CANDIDATES, "duplicate": 1}
