"""[nat]: STUN and TURN servers for ICE, validated like every other key; the password never shows."""

from __future__ import annotations

import pytest

from deskphone.config import ConfigError, NatConfig, TurnServerConfig, config_from_dict
from deskphone.media.ice import IceServers, TurnRelay


def nat(**table: object) -> NatConfig:
    return config_from_dict({"nat": table}).nat


def test_no_nat_section_means_no_servers() -> None:
    config = config_from_dict({})
    assert config.nat == NatConfig()
    assert not config.nat.configured
    assert IceServers.from_settings(config.nat) == IceServers()


def test_stun_and_turn_servers_are_parsed() -> None:
    parsed = nat(stun="stun.example.org", turn=["turn:203.0.113.1?transport=udp",
                                                 "turn:203.0.113.1:443?transport=tcp",
                                                 "turn:[2001:db8::1]:3479"],
                 turn_user="alice", turn_password="s3cret pass")
    assert parsed.stun == ("stun.example.org", 3478)
    assert parsed.turn == (TurnServerConfig("203.0.113.1", 3478, "udp"),
                           TurnServerConfig("203.0.113.1", 443, "tcp"),
                           TurnServerConfig("2001:db8::1", 3479, "udp"))
    assert str(parsed.turn[2]) == "turn:[2001:db8::1]:3479?transport=udp"
    assert nat(stun="stun:192.0.2.7:19302").stun == ("192.0.2.7", 19302)
    assert nat(turn="turn:relay.example.org", turn_user="a", turn_password="b").turn == (
        TurnServerConfig("relay.example.org", 3478, "udp"),)
    servers = IceServers.from_settings(parsed)
    assert servers.turn[1] == TurnRelay("203.0.113.1", 443, "tcp")
    assert (servers.username, servers.password) == ("alice", "s3cret pass")


def test_the_turn_password_is_in_no_repr() -> None:
    parsed = nat(turn="turn:203.0.113.1", turn_user="alice", turn_password="hunter2-very-secret")
    config = config_from_dict({"nat": {"turn": "turn:203.0.113.1", "turn_user": "alice",
                                       "turn_password": "hunter2-very-secret"}})
    for text in (repr(parsed), repr(config), str(config.nat),
                 repr(IceServers.from_settings(parsed))):
        assert "hunter2" not in text


@pytest.mark.parametrize(("table", "key", "expected"), [
    ({"stun": 3478}, "nat.stun", "host[:port]"),
    ({"stun": "stun example"}, "nat.stun", "host[:port]"),
    ({"stun": "stun.example.org:0"}, "nat.stun", "a port from 1 to 65535"),
    ({"stun": "stun.example.org:70000"}, "nat.stun", "a port from 1 to 65535"),
    ({"turn": "stun:203.0.113.1", "turn_user": "a", "turn_password": "b"}, "nat.turn[0]",
     "TURN URI"),
    ({"turn": ["turn:h?transport=sctp"], "turn_user": "a", "turn_password": "b"},
     "nat.turn[0]", "transport=udp|tcp"),
    ({"turn": ["turns:h"], "turn_user": "a", "turn_password": "b"}, "nat.turn[0]",
     "not supported"),
    ({"turn": {"uri": "turn:h"}}, "nat.turn", "a TURN URI or a list"),
    ({"turn": ["turn:h", "turn:h"], "turn_user": "a", "turn_password": "b"}, "nat.turn",
     "listed once"),
    ({"turn": "turn:h", "turn_password": "b"}, "nat.turn_user", "long-term credentials"),
    ({"turn": "turn:h", "turn_user": "a"}, "nat.turn_password", "long-term credentials"),
    ({"turn_user": "a"}, "nat.turn_user", "only together with nat.turn"),
    ({"turn_user": "a\nb", "turn": "turn:h", "turn_password": "b"}, "nat.turn_user",
     "printable"),
    ({"stunserver": "h"}, "nat.stunserver", "known keys"),
])
def test_bad_nat_values_name_key_value_and_expectation(
        table: dict[str, object], key: str, expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        config_from_dict({"nat": table})
    assert error.value.key == key
    assert expected in error.value.expected
    assert key in str(error.value)


def test_a_bad_turn_password_is_reported_without_its_value() -> None:
    with pytest.raises(ConfigError) as error:
        config_from_dict({"nat": {"turn": "turn:h", "turn_user": "a",
                                  "turn_password": "topsecret\x01"}})
    assert error.value.key == "nat.turn_password"
    assert "topsecret" not in str(error.value)


def test_sip_keepalive_defaults_to_25_seconds_and_is_validated() -> None:
    assert config_from_dict({}).sip.keepalive_seconds == 25  # RFC 5626 §4.4.1 suggests ~30 s
    assert config_from_dict({"sip": {"keepalive_seconds": 0}}).sip.keepalive_seconds == 0
    for bad in (-1, 3601, "25", True):
        with pytest.raises(ConfigError, match="sip.keepalive_seconds"):
            config_from_dict({"sip": {"keepalive_seconds": bad}})
