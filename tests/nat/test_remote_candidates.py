"""a=remote-candidates of a controlling peer against our nominated pair (RFC 8839 §5.2)."""

from __future__ import annotations

from deskphone.media.ice import IceCandidate, SelectedPair

HOST = IceCandidate("h1", 1, "udp", 2130706431, "192.168.1.2", 40000, "host")
SRFLX = IceCandidate("s1", 1, "udp", 1694498815, "203.0.113.11", 51000, "srflx",
                     "192.168.1.2", 40000)
OTHER_HOST = IceCandidate("h2", 1, "udp", 2130706430, "10.0.0.5", 40002, "host")
RTCP_SRFLX = IceCandidate("s2", 2, "udp", 1694498814, "203.0.113.11", 51001, "srflx",
                          "192.168.1.2", 40000)
PEER = IceCandidate("p1", 1, "udp", 1694498815, "203.0.113.12", 52000, "srflx")
LOCAL = [HOST, SRFLX, OTHER_HOST, RTCP_SRFLX]
PAIR = SelectedPair(HOST, PEER, ("203.0.113.12", 52000))


def test_the_srflx_address_the_peer_saw_names_our_host_based_pair() -> None:
    assert PAIR.named_by("1 203.0.113.11 51000", LOCAL)


def test_the_pair_local_address_itself_names_it() -> None:
    assert PAIR.named_by("1 192.168.1.2 40000", LOCAL)
    assert PAIR.named_by("1 192.168.1.2 40000 2 203.0.113.11 51001", LOCAL)


def test_another_candidate_or_component_does_not() -> None:
    assert not PAIR.named_by("1 10.0.0.5 40002", LOCAL)  # ours, but not the nominated pair
    assert not PAIR.named_by("2 203.0.113.11 51000", LOCAL)  # component 2 is not the pair
    assert not PAIR.named_by("1 203.0.113.11 51001", LOCAL)  # a component-2 address


def test_malformed_values_do_not() -> None:
    for value in ("", "1 203.0.113.11", "1 203.0.113.11 51000 2", "garbage"):
        assert not PAIR.named_by(value, LOCAL), value
