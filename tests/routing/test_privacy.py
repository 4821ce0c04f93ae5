"""The privacy policy the SIP UA consults."""

from __future__ import annotations

from itertools import count

from deskphone.routing.privacy import PrivacyPolicy


def counter_tokens() -> PrivacyPolicy:
    numbers = count()
    return PrivacyPolicy(enabled=True, token_hex=lambda n: f"{next(numbers):0{2 * n}x}")


def test_off_keeps_the_normal_values() -> None:
    policy = PrivacyPolicy(enabled=False, user_agent="deskphone/0.1")
    assert policy.user_agent_header() == "deskphone/0.1"
    assert policy.server_header() == "deskphone/0.1"
    assert policy.display_name("Front desk") == "Front desk"
    assert policy.new_call_id("10.0.0.7").endswith("@10.0.0.7")
    assert policy.allows_header("User-Agent") and policy.allows_header("X-Anything")
    assert policy.sdp_username("alice") == "alice"


def test_on_removes_identifying_headers_and_names() -> None:
    policy = counter_tokens()
    assert policy.user_agent_header() is None
    assert policy.server_header() is None
    assert policy.display_name("Front desk") is None
    assert policy.sdp_username("alice") == "-"
    headers = [("Via", "SIP/2.0/UDP 10.0.0.7"), ("User-Agent", "x"), ("server", "x"),
               ("Warning", "399 host.example \"x\""), ("X-Serial", "123"), ("Date", "x"),
               ("Organization", "ACME"), ("Contact", "<sip:a@10.0.0.7>"), ("Subject", "hi")]
    assert policy.filter_headers(headers) == [("Via", "SIP/2.0/UDP 10.0.0.7"),
                                              ("Contact", "<sip:a@10.0.0.7>")]


def test_identifiers_carry_no_host_information() -> None:
    policy = counter_tokens()
    call_id = policy.new_call_id("phone.example.com")
    assert "@" not in call_id and "phone" not in call_id and len(call_id) == 32
    assert len(policy.new_tag()) == 16
    branch = policy.new_branch()
    assert branch.startswith("z9hG4bK") and len(branch) == 7 + 24


def test_real_tokens_are_unique() -> None:
    policy = PrivacyPolicy(enabled=True)
    assert len({policy.new_call_id("h") for _ in range(200)}) == 200
