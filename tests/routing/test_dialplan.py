"""Dial plan: rules, speed dials, raw URIs and IPs, completeness, LAN extensions."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from deskphone.routing.dialplan import Completion, DialPlan, DialPlanError, Route

PLAN_TOML = r'''
[dialplan]
[[dialplan.rules]]
name = "office extensions"
match = "2XX"
to = "sip:{number}@pbx.example.com"
via = "office"

[[dialplan.rules]]
name = "national"
match = "^0[1-9][0-9]{5,12}$"
strip = 1
prepend = "+49"
to = "sip:{number}@trunk.example.net"
via = "trunk"

[[dialplan.rules]]
name = "lan"
match = "5XX"
via = "lan"

[[dialplan.rules]]
name = "services"
match = "*9."
to = "sip:{number}@pbx.example.com"

[dialplan.speed_dial]
"1" = "sip:alice@10.0.0.5"
"#7" = "sip:bob@example.org"
'''


@dataclass(frozen=True)
class FakePeer:
    host: str
    port: int
    zid: str


PEERS = {
    "501": FakePeer("10.77.0.2", 5062, "0a" * 12),
    "600": FakePeer("fe80::1", 5060, "0b" * 12),
}


@pytest.fixture
def plan() -> DialPlan:
    return DialPlan.from_toml(PLAN_TOML, accounts=["office", "trunk"], peers=PEERS.get)


def test_pattern_rule_with_account(plan: DialPlan) -> None:
    assert plan.route("201") == Route("sip:201@pbx.example.com", "office", "office extensions")


def test_regex_rule_strips_and_prepends(plan: DialPlan) -> None:
    route = plan.route("03012345678")
    assert route.target_uri == "sip:+493012345678@trunk.example.net"
    assert route.via == "trunk"


def test_hash_is_escaped_in_the_user_part(plan: DialPlan) -> None:
    assert plan.route("*9#1").target_uri == "sip:*9%231@pbx.example.com"   # RFC 3261 §25.1


def test_speed_dials(plan: DialPlan) -> None:
    assert plan.route("1") == Route("sip:alice@10.0.0.5", "direct", "speed dial 1")
    assert plan.route("#7") == Route("sip:bob@example.org", None, "speed dial #7")


def test_raw_uris_and_ip_addresses_dial_directly(plan: DialPlan) -> None:
    assert plan.route("sip:carol@192.0.2.9:5070").via == "direct"
    assert plan.route("sip:carol@[2001:db8::9]:5070").via == "direct"
    assert plan.route("sips:carol@example.com").via is None
    assert plan.route("10*0*0*5") == Route("sip:10.0.0.5", "direct", "ip address")
    assert plan.route("192.0.2.1").target_uri == "sip:192.0.2.1"
    assert plan.route("[2001:db8::1]").target_uri == "sip:[2001:db8::1]"


def test_lan_rule_and_fallback_use_the_directory_and_carry_the_zid(plan: DialPlan) -> None:
    route = plan.route("501")
    assert route == Route("sip:501@10.77.0.2:5062", "direct", "lan", expected_zid="0a" * 12)
    assert plan.route("600").target_uri == "sip:600@[fe80::1]:5060"   # no rule: LAN fallback
    with pytest.raises(DialPlanError, match="rule 'lan': extension '502' is not announced"):
        plan.route("502")


def test_unroutable_and_bad_input(plan: DialPlan) -> None:
    with pytest.raises(DialPlanError, match="no dial plan rule"):
        plan.route("7777")
    with pytest.raises(DialPlanError, match="keypad keys"):
        plan.route("12a")
    with pytest.raises(DialPlanError, match="1-64 keys"):
        plan.route("1" * 65)


@pytest.mark.parametrize(
    ("digits", "expected"),
    [
        ("2", Completion.INCOMPLETE),
        ("20", Completion.INCOMPLETE),
        ("201", Completion.COMPLETE),
        ("2011", Completion.INVALID),
        ("501", Completion.COMPLETE),
        ("0", Completion.INCOMPLETE),
        ("030123", Completion.INCOMPLETE),  # '.' is open-ended: wait for # or the timeout
        ("*9", Completion.INCOMPLETE),
        ("*91", Completion.INCOMPLETE),
        ("10*0*0", Completion.INCOMPLETE),  # an IP address being keyed
        ("7", Completion.INVALID),
    ],
)
def test_completion(digits: str, expected: Completion) -> None:
    plan = DialPlan.from_toml(PLAN_TOML.replace('"^0[1-9][0-9]{5,12}$"', '"0Z."'),
                              accounts=["office", "trunk"], peers=PEERS.get)
    assert plan.completion(digits) is expected


def test_a_regex_rule_keeps_completion_waiting(plan: DialPlan) -> None:
    # Python's re cannot say whether a longer number could still match: wait for #/timeout.
    assert plan.completion("201") is Completion.INCOMPLETE


def test_completion_without_regex_rules_is_exact() -> None:
    plan = DialPlan.from_config({
        "rules": [{"match": "2XX", "to": "sip:{number}@pbx"}, {"match": "9[1-3]XXX",
                                                              "to": "sip:{number}@pbx"}],
        "speed_dial": {"1": "sip:a@10.0.0.1"},
    })
    assert plan.completion("1") is Completion.COMPLETE
    assert plan.completion("201") is Completion.COMPLETE
    assert plan.is_complete("91234")
    assert plan.completion("94") is Completion.INVALID
    assert plan.completion("2011") is Completion.INVALID
    assert plan.completion("3") is Completion.INVALID
    assert plan.completion("") is Completion.INCOMPLETE


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"match": "2XX", "to": "sip:{number}@p", "via": "nowhere"}, "via 'nowhere'"),
        ({"match": "^2(", "to": "sip:{number}@p"}, "not a regular expression"),
        ({"match": "2Q", "to": "sip:{number}@p"}, "unexpected 'Q'"),
        ({"match": "2.X", "to": "sip:{number}@p"}, "must be the last"),
        ({"match": "[9-1]", "to": "sip:{number}@p"}, "bad range"),
        ({"match": "[12", "to": "sip:{number}@p"}, "without ']'"),
        ({"match": "2XX", "to": "http://x/{number}"}, "sip:/sips: URI template"),
        ({"match": "2XX", "to": "sip:{user}@p"}, "only the placeholder"),
        ({"match": "2XX", "to": "sip:{number}@p", "strip": -1}, "strip -1"),
        ({"match": "2XX", "to": "sip:{number}@p", "prepend": "00a"}, "prepend '00a'"),
        ({"match": "2XX", "to": "sip:{number}@p", "macth": "x"}, "unknown keys"),
        ({"match": "2XX", "via": "lan", "to": "sip:{number}@p"}, "leave 'to' out"),
        ({"to": "sip:{number}@p"}, "match None"),
    ],
)
def test_bad_rules_fail_at_load_naming_the_rule(rule: dict, message: str) -> None:
    table = {"rules": [{"match": "1XX", "to": "sip:{number}@p"}, {"name": "second", **rule}]}
    with pytest.raises(DialPlanError) as caught:
        DialPlan.from_config(table, accounts=["office"])
    assert "rule 'second'" in str(caught.value)
    assert message in str(caught.value)


def test_bad_speed_dial_and_toml() -> None:
    with pytest.raises(DialPlanError, match="speed dial '1': 'al=ice'"):
        DialPlan.from_config({"speed_dial": {"1": "al=ice"}})
    with pytest.raises(DialPlanError, match="speed dial '1'"):
        DialPlan.from_config({"speed_dial": {"1": "\x1b[2J"}})
    with pytest.raises(DialPlanError, match="speed dial 'a'"):
        DialPlan.from_config({"speed_dial": {"a": "sip:a@b"}})
    with pytest.raises(DialPlanError, match="TOML"):
        DialPlan.from_toml("[dialplan\n")
    with pytest.raises(DialPlanError, match="used twice"):
        DialPlan.from_config({"rules": [{"name": "a", "match": "1", "to": "sip:{number}@p"},
                                        {"name": "a", "match": "2", "to": "sip:{number}@p"}]})


def test_a_speed_dial_naming_a_contact_dials_the_contacts_number_through_the_rules() -> None:
    from deskphone.routing.dialplan import resolve_speed_dials

    table = {"rules": [{"name": "office", "match": "2XX", "to": "sip:{number}@pbx"}],
             "speed_dial": {"1": "Front desk", "2": "sip:a@10.0.0.5", "3": "Bob",
                            "4": "Carol"}}
    contacts = {"Front desk": "201", "Bob": "sip:bob@10.0.0.9", "Carol": "tel:+1-202-555"}
    plan = DialPlan.from_config(resolve_speed_dials(table, contacts, "contacts.txt"))
    assert plan.route("1") == Route("sip:201@pbx", None, rule="office")
    assert plan.route("2").target_uri == "sip:a@10.0.0.5"
    assert plan.route("3").target_uri == "sip:bob@10.0.0.9"
    assert plan.speed_dials["4"] == "+1202555"


def test_a_speed_dial_naming_no_contact_is_an_error_naming_the_key_and_the_file() -> None:
    from deskphone.routing.dialplan import resolve_speed_dials

    with pytest.raises(DialPlanError, match="speed dial '7': 'Dave' .* in /data/contacts.txt"):
        resolve_speed_dials({"speed_dial": {"7": "Dave"}}, {"Bob": "202"}, "/data/contacts.txt")
    with pytest.raises(DialPlanError, match="speed dial '7': contact 'Bob'"):
        resolve_speed_dials({"speed_dial": {"7": "Bob"}}, {"Bob": "tel:;x"}, "c.txt")
