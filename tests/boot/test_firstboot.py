"""boot/firstboot.py: deskphone.toml from the FAT partition to /etc and the network files."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.boot.bootmods import BOOT, load, unit_value

firstboot = load(BOOT / "firstboot.py", "deskphone_boot_firstboot")

PHONE = """\
[identity]
user = "alice"
extension = "201"

[phone]
interdigit_timeout = 3.0
"""


def make_root(root: Path, gid: int | None = None) -> Path:
    """A target root whose etc/group has the phone's group (ours: chown to it needs no root)."""
    (root / "etc").mkdir(parents=True)
    (root / "etc/group").write_text(f"root:x:0:\ndeskphone:x:{os.getgid() if gid is None else gid}:\n")
    return root


def provision(tmp_path: Path, text: str) -> tuple[Path, Path, int]:
    boot = tmp_path / "boot"
    root = make_root(tmp_path / "root")
    boot.mkdir()
    source = boot / "deskphone.toml"
    source.write_text(text)
    return source, root, firstboot.main(["firstboot.py", str(source), str(root)])


def test_wpa_psk_matches_ieee_802_11i_test_vector() -> None:
    # IEEE 802.11i-2004 Annex H.4.1, first test vector.
    assert firstboot.wpa_psk("password", "IEEE") == (
        "f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e")


def test_phone_only_file_is_installed_and_removed_from_the_card(tmp_path: Path) -> None:
    text = PHONE
    source, root, rc = provision(tmp_path, text)
    assert rc == 0
    installed = root / "etc/deskphone/deskphone.toml"
    assert installed.read_text() == text
    assert stat.S_IMODE(installed.stat().st_mode) == 0o640
    assert not source.exists()
    assert "phone settings -> /etc/deskphone/deskphone.toml" in (
        source.parent / "deskphone.toml.result").read_text()
    assert not (root / "etc/systemd/network").exists()


def test_network_tables_become_networkd_and_wpa_supplicant_files(tmp_path: Path) -> None:
    text = """[identity]
user = "bob"

[network]
hostname = "deskphone-reception"
address = "192.0.2.50/24"
gateway = "192.0.2.1"
dns = ["192.0.2.53", "2001:db8::53"]

[network.wifi]
ssid = "Büro \\"3\\""
psk = "correct horse battery"
country = "DE"
hidden = true

[phone]
interdigit_timeout = 5.0
"""
    source, root, rc = provision(tmp_path, text)
    assert rc == 0, (source.parent / "deskphone.toml.error").read_text()
    phone = (root / "etc/deskphone/deskphone.toml").read_text()
    assert "[network" not in phone and "correct horse" not in phone
    assert "interdigit_timeout = 5.0" in phone  # the table after [network] is kept
    wired = (root / "etc/systemd/network/10-deskphone-wired.network").read_text()
    assert "Address=192.0.2.50/24\nGateway=192.0.2.1\nDNS=192.0.2.53\nDNS=2001:db8::53" in wired
    wifi_net = (root / "etc/systemd/network/10-deskphone-wifi.network").read_text()
    assert "Name=wlan*" in wifi_net and "DHCP=yes" in wifi_net
    wpa_path = root / "etc/wpa_supplicant/wpa_supplicant-wlan0.conf"
    wpa = wpa_path.read_text()
    ssid = 'Büro "3"'
    assert f"ssid={ssid.encode().hex()}" in wpa
    psk = hashlib.pbkdf2_hmac("sha1", b"correct horse battery", ssid.encode(), 4096, 32).hex()
    assert f"psk={psk}" in wpa and "correct horse" not in wpa
    assert "country=DE" in wpa and "scan_ssid=1" in wpa
    assert stat.S_IMODE(wpa_path.stat().st_mode) == 0o600
    assert (root / "etc/hostname").read_text() == "deskphone-reception\n"
    result = (source.parent / "deskphone.toml.result").read_text()
    assert "wifi: ssid" in result and "correct horse" not in result


@pytest.mark.parametrize(
    ("network", "message"),
    [
        ('address = "192.0.2.50"', "network.address = '192.0.2.50': expected a prefix length"),
        ('address = "192.0.2.50/24"\ngateway = "198.51.100.1"',
         "expected an address inside 192.0.2.0/24"),
        ('hostname = "-bad"', "network.hostname"),
        ('dns = ["dns.example"]', "network.dns = 'dns.example': expected an IP address"),
        ('colour = "red"', "only hostname, address"),
        ('[network.wifi]\nssid = "x"\npsk = "short"\ncountry = "DE"',
         "network.wifi.psk = \\(hidden\\): expected 8 to 63"),
        ('[network.wifi]\nssid = "x"\ncountry = "Germany"', "two-letter ISO 3166-1"),
    ],
)
def test_bad_network_settings_leave_everything_untouched(tmp_path: Path, network: str,
                                                         message: str) -> None:
    text = f"[identity]\nuser = \"carol\"\n\n[network]\n{network}\n"
    source, root, rc = provision(tmp_path, text)
    assert rc == 1
    assert source.read_text() == text  # still on the card, to be fixed
    error = (source.parent / "deskphone.toml.error").read_text()
    assert "NOT applied" in error
    assert re.search(message, error), error
    assert "short" not in error
    assert not (root / "etc/deskphone").exists()
    assert not (root / "etc/hostname").exists()


def test_invalid_phone_settings_are_reported_the_check_config_way(tmp_path: Path) -> None:
    source, root, rc = provision(tmp_path, '[identity]\nextension = "12ab"\n')
    assert rc == 1
    error = (source.parent / "deskphone.toml.error").read_text()
    assert "identity.extension" in error
    assert not (root / "etc/deskphone").exists()


def test_broken_toml_is_reported(tmp_path: Path) -> None:
    source, _root, rc = provision(tmp_path, "[identity\n")
    assert rc == 1
    assert "valid TOML" in (source.parent / "deskphone.toml.error").read_text()


def test_dotted_network_keys_outside_a_table_header_are_rejected(tmp_path: Path) -> None:
    source, _root, rc = provision(tmp_path, 'network.hostname = "x"\n[identity]\nuser = "d"\n')
    assert rc == 1
    assert "table headers" in (source.parent / "deskphone.toml.error").read_text()


def test_successful_run_clears_an_old_error_file(tmp_path: Path) -> None:
    boot = tmp_path / "boot"
    boot.mkdir()
    (boot / "deskphone.toml.error").write_text("old")
    source = boot / "deskphone.toml"
    source.write_text('[identity]\nuser = "erin"\n')
    root = make_root(tmp_path / "root")
    assert firstboot.main(["firstboot.py", str(source), str(root)]) == 0
    assert not (boot / "deskphone.toml.error").exists()


FIRSTBOOT_UNIT = BOOT / "deskphone-firstboot.service"
PHONE_UNIT = BOOT / "deskphone.service"


def run_like_the_unit(source: Path, root: Path) -> subprocess.CompletedProcess[str]:
    """firstboot.py as deskphone-firstboot.service runs it: a process with the unit's UMask."""
    umask = int(unit_value(FIRSTBOOT_UNIT, "Service.UMask", "0022"), 8)
    return subprocess.run([sys.executable, str(BOOT / "firstboot.py"), str(source), str(root)],
                          capture_output=True, text=True, timeout=60, check=False,
                          preexec_fn=lambda: os.umask(umask))


def mode_and_owner(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid


PROVISIONED = PHONE + """
[[accounts]]
name = "office"
registrar = "sip:pbx.example.net"
user = "201"
password = "s3cret-sip"

[network]
address = "192.0.2.50/24"

[network.wifi]
ssid = "office"
psk = "correct horse battery"
country = "DE"
"""


def test_written_files_have_the_owners_and_modes_the_phone_needs(tmp_path: Path) -> None:
    phone_gid = 4321 if os.geteuid() == 0 else os.getgid()
    root = make_root(tmp_path / "root", gid=phone_gid)
    (tmp_path / "boot").mkdir()
    source = tmp_path / "boot/deskphone.toml"
    source.write_text(PROVISIONED)
    result = run_like_the_unit(source, root)
    assert result.returncode == 0, result.stderr
    owner = os.geteuid()  # root in the image and in CI
    config_dir_mode = int(unit_value(PHONE_UNIT, "Service.ConfigurationDirectoryMode"), 8)
    # systemd does not chown a ConfigurationDirectory and only warns about another mode: the
    # directory first boot creates must already be what the unit declares.
    assert mode_and_owner(root / "etc/deskphone") == (config_dir_mode, owner, os.getegid())
    assert config_dir_mode & 0o005 == 0o005  # the phone's user gets through it
    # The SIP password: the phone's group reads it, nobody else, and nobody but root writes it.
    assert mode_and_owner(root / "etc/deskphone/deskphone.toml") == (0o640, owner, phone_gid)
    assert mode_and_owner(root / "etc/wpa_supplicant/wpa_supplicant-wlan0.conf")[0] == 0o600
    for name in ("etc/systemd/network", "etc/wpa_supplicant"):
        assert mode_and_owner(root / name)[0] == 0o755, name  # not the umask's 0700
    for name in ("10-deskphone-wired.network", "10-deskphone-wifi.network"):
        assert mode_and_owner(root / "etc/systemd/network" / name)[0] == 0o644
    assert mode_and_owner(root / "etc/hostname")[0] == 0o644
    assert "s3cret-sip" not in result.stdout + result.stderr


def test_an_existing_config_dir_with_another_mode_is_set_to_the_units(tmp_path: Path) -> None:
    root = make_root(tmp_path / "root")
    (root / "etc/deskphone").mkdir(mode=0o700)  # what the first boot of older images left
    (tmp_path / "boot").mkdir()
    source = tmp_path / "boot/deskphone.toml"
    source.write_text(PHONE)
    assert run_like_the_unit(source, root).returncode == 0
    assert mode_and_owner(root / "etc/deskphone")[0] == 0o755


def test_without_the_phones_group_nothing_is_applied(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/group").write_text("root:x:0:\n")
    (tmp_path / "boot").mkdir()
    source = tmp_path / "boot/deskphone.toml"
    source.write_text(PHONE)
    assert firstboot.main(["firstboot.py", str(source), str(root)]) == 1
    assert "group 'deskphone'" in (tmp_path / "boot/deskphone.toml.error").read_text()
    assert source.exists() and not (root / "etc/deskphone").exists()


def test_hostname_comes_from_the_extension_unless_network_names_one(tmp_path: Path) -> None:
    source, root, rc = provision(tmp_path, PHONE)
    assert rc == 0
    assert (root / "etc/hostname").read_text() == "deskphone-201\n"
    assert "hostname: deskphone-201" in (source.parent / "deskphone.toml.result").read_text()
