"""Config: LAN defaults with no file, and every bad value named with key, value and expectation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from deskphone.config import ConfigError, config_from_dict, load_config, parse_listen


def test_no_file_gives_lan_defaults_on_loopback_in_sim_mode(tmp_path: Path) -> None:
    config = load_config(None, sim=True)
    assert config.devices_mode == "sim"
    assert config.accounts == ()
    assert config.sip.listen.host == "127.0.0.1"  # sim mode never leaves loopback
    assert config.media.host == "127.0.0.1"
    assert config.discovery.enabled


def test_pi_mode_defaults_to_the_lan() -> None:
    config = config_from_dict({})
    assert config.devices_mode == "pi"
    assert config.sip.listen.host == "0.0.0.0"


def test_full_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "deskphone.toml"
    path.write_text('''
[identity]
user = "alice"
extension = "201"
display_name = "Alice"
[sip]
listen = "udp:127.0.0.1:5099"
privacy = true
[[accounts]]
name = "office"
registrars = ["127.0.0.1:5060", "sip:backup.example.org:5070"]
user = "alice"
password = "alicepw"
expires = 600
[devices]
mode = "sim"
[audio]
capture_file = "/tmp/in.raw"
rate = 16000
codecs = ["G722", "PCMU"]
''')
    config = load_config(path)
    assert config.identity.extension == "201"
    assert config.sip.listen.port == 5099 and config.sip.privacy
    assert config.accounts[0].registrars == ("127.0.0.1:5060", "sip:backup.example.org:5070")
    assert config.audio.rate == 16000 and config.audio.codecs == ("G722", "PCMU")


@pytest.mark.parametrize(("raw", "key", "value"), [
    ({"identity": {"extension": "12a"}}, "identity.extension", "12a"),
    ({"sip": {"listen": "udp:127.0.0.1"}}, "sip.listen", "udp:127.0.0.1"),
    ({"sip": {"listen": "sctp:127.0.0.1:5060"}}, "sip.listen", "sctp:127.0.0.1:5060"),
    ({"sip": {"listen": "udp:127.0.0.1:99999"}}, "sip.listen", "udp:127.0.0.1:99999"),
    ({"devices": {"mode": "real"}}, "devices.mode", "real"),
    ({"audio": {"rate": 44100}}, "audio.rate", 44100),
    ({"audio": {"codecs": ["G729"]}}, "audio.codecs", ["G729"]),
    ({"accounts": [{"user": "bob"}]}, "accounts[0].registrar", None),
    ({"accounts": [{"registrar": "host with space", "user": "bob"}]}, "accounts[0].registrar",
     "host with space"),
    ({"accounts": [{"registrar": "h", "user": "bob", "expires": 5}]}, "accounts[0].expires", 5),
    ({"phone": {"interdigit_timeout": "soon"}}, "phone.interdigit_timeout", "soon"),
    ({"media": {"port_min": 20000, "port_max": 10000}}, "media.port_max", 10000),
    ({"zrtp": {"require_secure": "yes"}}, "zrtp.require_secure", "yes"),
    ({"identity": {"colour": "red"}}, "identity.colour", "red"),
    ({"telephone": {}}, "telephone", {}),
])
def test_bad_values_name_key_value_and_expectation(raw: dict, key: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw)
    assert info.value.key == key
    assert info.value.value == value
    assert key in str(info.value) and "expected" in str(info.value)


def test_ipv6_listen() -> None:
    listen = parse_listen("tls:[::1]:5061")
    assert (listen.transport, listen.host, listen.port) == ("tls", "::1", 5061)
    assert str(listen) == "tls:[::1]:5061"


def test_broken_toml_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[identity\nuser = ")
    with pytest.raises(ConfigError, match="valid TOML"):
        load_config(path)


def test_missing_named_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="an existing TOML file"):
        load_config(tmp_path / "nope.toml")


def test_run_with_bad_config_exits_nonzero_with_message_and_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[audio]\nrate = 11025\n')
    proc = subprocess.run([sys.executable, "-m", "deskphone.cli", "run", "--config", str(path),
                           "--data-dir", str(tmp_path / "data")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "audio.rate = 11025: expected 8000, 16000 or 48000" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_check_config_command(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[identity]\nextension = "300"\n')
    ok = subprocess.run([sys.executable, "-m", "deskphone.cli", "check-config", str(good)],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('[sip]\nlisten = 5060\n')
    proc = subprocess.run([sys.executable, "-m", "deskphone.cli", "check-config", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "sip.listen" in proc.stderr


def test_bad_dial_plan_rule_is_a_config_error_naming_the_rule() -> None:
    raw = {"dialplan": {"rules": [{"name": "office", "match": "9X.", "via": "nowhere",
                                   "to": "sip:{number}@pbx"}]}}
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw)
    assert info.value.key == "dialplan" and "office" in str(info.value)


def test_sip_port_in_use_exits_with_a_message(tmp_path: Path) -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        path = tmp_path / "c.toml"
        path.write_text(f"[sip]\nlisten = \"udp:127.0.0.1:{port}\"\n[discovery]\nenabled = false\n")
        proc = subprocess.run([sys.executable, "-m", "deskphone.cli", "run", "--sim",
                               "--no-terminal", "--config", str(path), "--data-dir",
                               str(tmp_path / "d"), "--control", str(tmp_path / "c" / "s.sock")],
                              capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert "cannot start" in proc.stderr and "Traceback" not in proc.stderr


def test_enrolled_pbx_zids() -> None:
    zid = "0123456789abcdef01234567"
    config = config_from_dict({"zrtp": {"enrolled_pbx_zids": [zid]}})
    assert config.zrtp.enrolled_pbx_zids == (bytes.fromhex(zid),)
    with pytest.raises(ConfigError, match="24 hex digits"):
        config_from_dict({"zrtp": {"enrolled_pbx_zids": ["xyz"]}})


def test_first_boot_network_table_is_accepted_and_ignored() -> None:
    raw = {"identity": {"extension": "301"},
           "network": {"wifi": {"ssid": "office", "psk": "not-logged"}}}
    assert config_from_dict(raw).identity.extension == "301"
