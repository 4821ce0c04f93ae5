"""A config file is fixed in one look: a mistyped key names the nearest valid one, and the
discovery interface may be given by name or address (an error lists the interfaces there are)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from deskphone.config import ConfigError, config_from_dict
from deskphone.routing.interfaces import Interface, InterfaceError, discovery_address


def test_check_config_names_the_unknown_key_and_the_nearest_valid_one(tmp_path: Path) -> None:
    path = tmp_path / "phone.toml"
    path.write_text('[[accounts]]\nregistar = "sip.example.org"\nuser = "alice"\n')
    proc = subprocess.run([sys.executable, "-m", "deskphone.cli", "check-config", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "accounts[0].registar: unknown key; did you mean 'registrar'?" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(("raw", "key", "nearest"), [
    ({"indentity": {}}, "indentity", "identity"),
    ({"sip": {"lisen": "udp:127.0.0.1:5060"}}, "sip.lisen", "listen"),
    ({"zrtp": {"require_secured": True}}, "zrtp.require_secured", "require_secure"),
    ({"discovery": {"interfce": "eth0"}}, "discovery.interfce", "interface"),
])
def test_unknown_keys_suggest_the_nearest(raw: dict, key: str, nearest: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw)
    assert info.value.key == key
    assert f"did you mean {nearest!r}?" in str(info.value)


def test_an_unknown_key_with_nothing_near_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({"identity": {"colour": "red"}})
    message = str(info.value)
    assert "did you mean" not in message
    assert "extension" in message and "display_name" in message


@pytest.mark.parametrize("value", ["eth0", "wlan0", "enp0s31f6", "192.0.2.7", "fe80::1", "::1"])
def test_discovery_interface_accepts_a_name_or_an_address(value: str) -> None:
    assert config_from_dict({"discovery": {"interface": value}}).discovery.interface == value


@pytest.mark.parametrize("value", ["eth 0", "a-name-longer-than-ifnamsiz", "", "wlan0/1"])
def test_discovery_interface_that_is_neither_is_a_config_error(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({"discovery": {"interface": value}})
    assert info.value.key == "discovery.interface"


HERE = [Interface("lo", ("127.0.0.1", "::1")), Interface("eth0", ("192.0.2.2", "fd00::2")),
        Interface("wlan0", ())]


def test_an_interface_name_becomes_its_address_in_the_phone_family() -> None:
    assert discovery_address("eth0", interfaces=lambda: HERE) == "192.0.2.2"
    assert discovery_address("eth0", ipv6=True, interfaces=lambda: HERE) == "fd00::2"
    assert discovery_address("192.0.2.2", interfaces=lambda: HERE) == "192.0.2.2"


@pytest.mark.parametrize(("value", "why"), [
    ("eht0", "no interface by that name or address"),
    ("192.0.2.99", "no interface of this machine has that address"),
    ("wlan0", "wlan0 has no address"),
])
def test_neither_name_nor_address_lists_the_interfaces_there_are(value: str, why: str) -> None:
    with pytest.raises(InterfaceError) as info:
        discovery_address(value, interfaces=lambda: HERE)
    message = str(info.value)
    assert why in message
    assert "interfaces here: lo (127.0.0.1, ::1), eth0 (192.0.2.2, fd00::2), wlan0" in message


def test_the_real_loopback_is_found_by_name() -> None:
    assert discovery_address("lo") == "127.0.0.1"


def test_check_config_notes_an_interface_this_machine_lacks(tmp_path: Path) -> None:
    path = tmp_path / "phone.toml"
    path.write_text('[discovery]\ninterface = "nosuchif9"\n')
    proc = subprocess.run([sys.executable, "-m", "deskphone.cli", "check-config", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr  # the names may be the phone's, not this machine's
    assert "'nosuchif9': no interface by that name" in proc.stderr
    assert "lo (127.0.0.1" in proc.stderr
