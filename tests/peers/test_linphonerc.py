"""The rc file rendered for linphonec (no linphonec needed)."""

from __future__ import annotations

import configparser
import re

import pytest

from deskphone_tools.peers.linphone import (
    CALL_OVER,
    INCOMING_CALL,
    NOT_ENCRYPTED,
    SAS_SHOWN,
    _any_of,
)
from deskphone_tools.peers.linphonerc import LINPHONE_AUDIO_CODECS, LinphoneConfig


def parse(config: LinphoneConfig) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(config.render())
    return parser


def test_loopback_settings_that_linphonec_needs_are_present() -> None:
    rc = parse(LinphoneConfig(user="alice", sip_port=25071, rtp_port=27078))
    assert rc["sip"]["sip_port"] == "25071"
    assert rc["sip"]["sip_tcp_port"] == rc["sip"]["sip_tls_port"] == "-1"
    assert rc["sip"]["ipv6_migration_done"] == "1"
    assert rc["sip"]["use_ipv6"] == "0"
    assert rc["sip"]["bind_address"] == rc["rtp"]["bind_address"] == "127.0.0.1"
    assert rc["sip"]["guess_hostname"] == "0"
    assert rc["sip"]["contact"] == '"alice" <sip:alice@127.0.0.1>'
    assert rc["sip"]["media_encryption"] == "zrtp"
    assert rc["sip"]["media_encryption_mandatory"] == "1"
    assert rc["rtp"]["audio_rtp_port"] == "27078"
    assert rc["video"]["enabled"] == "0"
    assert not any(
        key.startswith("zrtp_") for key in rc["sip"]
    )  # bzrtp defaults unless asked


def test_zrtp_suites_accept_short_and_full_names_in_preference_order() -> None:
    config = LinphoneConfig(
        user="bob",
        sip_port=5000,
        rtp_port=6000,
        key_agreements=["X255", "MS_ZRTP_KEY_AGREEMENT_DH3K"],
        sas_types=["B256"],
        hashes=["S384", "S256"],
        ciphers=["AES3"],
        auth_tags=["HS32"],
    )
    sip = parse(config)["sip"]
    assert sip["zrtp_key_agreements_suites"] == (
        "MS_ZRTP_KEY_AGREEMENT_X255, MS_ZRTP_KEY_AGREEMENT_DH3K"
    )
    assert sip["zrtp_sas_suites"] == "MS_ZRTP_SAS_B256"
    assert sip["zrtp_hash_suites"] == "MS_ZRTP_HASH_S384, MS_ZRTP_HASH_S256"
    assert sip["zrtp_cipher_suites"] == "MS_ZRTP_CIPHER_AES3"
    assert sip["zrtp_auth_suites"] == "MS_ZRTP_AUTHTAG_HS32"


def test_restricting_codecs_writes_every_known_codec_with_only_the_chosen_enabled() -> (
    None
):
    rc = parse(LinphoneConfig(user="a", sip_port=5000, rtp_port=6000, codecs=["PCMU"]))
    sections = [rc[f"audio_codec_{i}"] for i in range(len(LINPHONE_AUDIO_CODECS))]
    assert sections[0]["mime"] == "PCMU" and sections[0]["enabled"] == "1"
    assert all(section["enabled"] == "0" for section in sections[1:])
    assert {s["mime"] for s in sections} == {c.mime for c in LINPHONE_AUDIO_CODECS}


def test_default_codecs_keep_linphonec_defaults() -> None:
    rc = parse(LinphoneConfig(user="a", sip_port=5000, rtp_port=6000))
    enabled = [
        rc[f"audio_codec_{i}"]["mime"]
        for i in range(len(LINPHONE_AUDIO_CODECS))
        if rc[f"audio_codec_{i}"]["enabled"] == "1"
    ]
    assert enabled == ["opus", "speex", "speex", "PCMU", "PCMA", "G729"]


def test_extra_config_overrides_and_adds() -> None:
    config = LinphoneConfig(
        user="a",
        sip_port=5000,
        rtp_port=6000,
        extra={"sip": {"guess_hostname": "1"}, "net": {"mtu": "1200"}},
    )
    rc = parse(config)
    assert rc["sip"]["guess_hostname"] == "1"
    assert rc["net"]["mtu"] == "1200"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"key_agreements": ["x255"]},
            "key_agreements: 'x255' is not a ZRTP algorithm name",
        ),
        ({"key_agreements": "X255"}, "expected a list"),
        ({"hashes": []}, "hashes: expected at least one algorithm"),
        ({"codecs": ["AMR"]}, "codecs: 'AMR' is not a linphonec audio codec"),
        ({"user": "a b"}, "user: 'a b' is not a plain SIP user name"),
        ({"sip_port": 0}, "sip_port: 0 is not a usable UDP port"),
        ({"media_encryption": "tls"}, "media_encryption: 'tls' is not one of"),
        ({"extra": {"sip": {"x": "a\nb"}}}, "spans lines"),
    ],
)
def test_bad_settings_are_refused_with_the_name_and_value(
    options: dict, message: str
) -> None:
    settings = {"user": "a", "sip_port": 5000, "rtp_port": 6000, **options}
    with pytest.raises(ValueError, match=re.escape(message)):
        LinphoneConfig(**settings).render()


@pytest.mark.parametrize(
    ("line", "sas"),
    [
        ("Call 1 is fully encrypted and auth token is 7ep3.", "7ep3"),
        (
            "linphonec> Call 2 is fully encrypted and auth token is slowdown:cannonball.",
            None,
        ),
    ],
)
def test_sas_line_as_linphonec_prints_it(line: str, sas: str | None) -> None:
    match = SAS_SHOWN.search(line)
    assert match is not None
    assert match.group("sas") == (sas or "slowdown:cannonball")
    assert not NOT_ENCRYPTED.search(line)


def test_call_lines_as_linphonec_prints_them() -> None:
    incoming = INCOMING_CALL.search(
        'Receiving new incoming call from "alice" <sip:alice@127.0.0.1>, assigned id 1'
    )
    assert incoming and incoming.group("remote") == '"alice" <sip:alice@127.0.0.1>'
    ended = CALL_OVER.search(
        'Call 1 with "alice" <sip:alice@127.0.0.1> ended (No error).'
    )
    assert ended and ended.group("reason") == "No error"
    errored = CALL_OVER.search("Call 1 with sip:bob@127.0.0.1:5 error.")
    assert errored and errored.group("reason") is None
    either = _any_of(CALL_OVER, NOT_ENCRYPTED)
    assert either.search("Call 1 is not fully encrypted and auth token is absent.")
