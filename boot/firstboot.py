#!/usr/bin/env python3
"""Apply /boot/firmware/deskphone.toml at boot (deskphone-firstboot.service).

Whoever sets the phone up writes one TOML file onto the card's FAT partition from any computer:
the phone's own settings (validated by deskphone.config, as `deskphone check-config` does) plus
an optional [network] table that only this script reads:

    [network]
    hostname = "deskphone-reception"   # optional, RFC 1123 host name
    address = "192.0.2.50/24"          # optional: static wired address; absent means DHCP
    gateway = "192.0.2.1"
    dns = ["192.0.2.1"]

    [network.wifi]                     # optional
    ssid = "office"
    psk = "a passphrase of 8-63 characters"   # or 64 hex digits; absent means an open network
    country = "DE"                     # ISO 3166-1 alpha-2 regulatory domain
    hidden = false
    address = "192.0.2.51/24"          # optional, same keys as above; absent means DHCP

On success the phone part goes to /etc/deskphone/deskphone.toml, the network part becomes
systemd-networkd and wpa_supplicant files (the Wi-Fi passphrase is stored only as its WPA PSK,
IEEE 802.11i PBKDF2), the host name becomes [network] hostname or else deskphone-<extension>,
the file is deleted from the card (it holds passwords) and deskphone.toml.result tells what was
applied. On any error nothing is changed, deskphone.toml stays, and deskphone.toml.error says
what to fix. Secrets are never printed.

Owners and modes (the unit runs this with UMask=0077, so every mode is set explicitly):
  /etc/deskphone/                 root:root      0755  = deskphone.service's
                                                         ConfigurationDirectoryMode (systemd
                                                         does not chown a configuration dir)
  /etc/deskphone/deskphone.toml   root:deskphone 0640  SIP passwords: the phone's group only
  /etc/systemd/network/*.network  root:root      0644  addresses only; networkd reads them
  /etc/wpa_supplicant/*.conf      root:root      0600  the Wi-Fi PSK; wpa_supplicant is root
  /etc/hostname                   root:root      0644
The group is looked up in ROOT/etc/group (systemd-sysusers made it), so a test can run this
against a temporary root and then start the phone as that group's user.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deskphone.storage import atomic_write_text

CONFIG_DIR = Path("etc/deskphone")
CONFIG_DIR_MODE = 0o755   # deskphone.service: ConfigurationDirectoryMode=0755
PHONE_CONFIG = CONFIG_DIR / "deskphone.toml"
PHONE_CONFIG_MODE = 0o640
PHONE_GROUP = "deskphone"  # boot/rootfs/usr/lib/sysusers.d/deskphone.conf
NETWORK_DIR = Path("etc/systemd/network")
WPA_CONF = Path("etc/wpa_supplicant/wpa_supplicant-wlan0.conf")
HOSTNAME = Path("etc/hostname")

# A [network] or [network.x] table header on its own line (TOML v1.0 §Table).
_NETWORK_HEADER = re.compile(r"^\s*\[\s*network\s*(\.[^\]]*)?\]\s*(#.*)?$")
_ANY_HEADER = re.compile(r"^\s*\[")
_HOSTNAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_COUNTRY = re.compile(r"[A-Z]{2}")
_HEX_PSK = re.compile(r"[0-9a-fA-F]{64}")


class FirstBootError(ValueError):
    """A setting in deskphone.toml is wrong: names the key, the value and what was expected."""

    def __init__(self, key: str, value: Any, expected: str, *, secret: bool = False) -> None:
        shown = "(hidden)" if secret else repr(value)
        super().__init__(f"{key} = {shown}: expected {expected}")


@dataclass(frozen=True)
class IpSettings:
    address: ipaddress.IPv4Interface | ipaddress.IPv6Interface | None = None  # None: DHCP
    gateway: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
    dns: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...] = ()


@dataclass(frozen=True)
class WifiSettings:
    ssid: str
    psk_hex: str | None          # 64 hex digits (the PMK), None for an open network
    country: str
    hidden: bool
    ip: IpSettings


@dataclass(frozen=True)
class NetworkSettings:
    hostname: str | None = None
    wired: IpSettings = field(default_factory=IpSettings)
    wifi: WifiSettings | None = None


def split_network(text: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Return (phone TOML text, phone table, network table) from the whole file's text.

    The [network] tables are cut out line by line and the rest is parsed again; both parses must
    agree, so a [network] written as inline table or dotted keys is rejected, not misread.
    """
    try:
        whole = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FirstBootError("deskphone.toml", "(file)", f"valid TOML ({exc})") from None
    network = whole.pop("network", {})
    if not isinstance(network, dict):
        raise FirstBootError("network", "(not a table)", "a [network] table")
    kept: list[str] = []
    inside = False
    for line in text.splitlines(keepends=True):
        if _ANY_HEADER.match(line):
            inside = bool(_NETWORK_HEADER.match(line))
        if not inside:
            kept.append(line)
    phone_text = "".join(kept)
    phone = tomllib.loads(phone_text)
    if phone != whole:
        raise FirstBootError("network", "(inline or dotted keys)",
                             "[network] and [network.wifi] written as table headers")
    return phone_text, phone, network


def _ip_settings(table: dict[str, Any], where: str) -> IpSettings:
    address = table.get("address")
    gateway = table.get("gateway")
    dns = table.get("dns", [])
    try:
        iface = ipaddress.ip_interface(address) if address is not None else None
    except ValueError:
        raise FirstBootError(f"{where}.address", address,
                             'an address with prefix length, e.g. "192.0.2.50/24"') from None
    if iface is not None and "/" not in str(address):
        raise FirstBootError(f"{where}.address", address, "a prefix length after '/'")
    gw = None
    if gateway is not None:
        if iface is None:
            raise FirstBootError(f"{where}.gateway", gateway, f"{where}.address to be set too")
        try:
            gw = ipaddress.ip_address(gateway)
        except ValueError:
            raise FirstBootError(f"{where}.gateway", gateway, "an IP address") from None
        if gw.version != iface.version or gw not in iface.network:
            raise FirstBootError(f"{where}.gateway", gateway, f"an address inside {iface.network}")
    if not isinstance(dns, list):
        raise FirstBootError(f"{where}.dns", dns, "a list of IP addresses")
    servers = []
    for server in dns:
        try:
            servers.append(ipaddress.ip_address(server))
        except ValueError:
            raise FirstBootError(f"{where}.dns", server, "an IP address") from None
    return IpSettings(address=iface, gateway=gw, dns=tuple(servers))


def wpa_psk(passphrase: str, ssid: str) -> str:
    """IEEE 802.11i-2004 H.4: PSK = PBKDF2-HMAC-SHA1(passphrase, ssid, 4096 rounds, 256 bits)."""
    return hashlib.pbkdf2_hmac("sha1", passphrase.encode(), ssid.encode(), 4096, 32).hex()


def parse_network(table: dict[str, Any]) -> NetworkSettings:
    unknown = set(table) - {"hostname", "address", "gateway", "dns", "wifi"}
    if unknown:
        raise FirstBootError("network", sorted(unknown),
                             "only hostname, address, gateway, dns and [network.wifi]")
    hostname = table.get("hostname")
    if hostname is not None and (not isinstance(hostname, str)
                                 or not _HOSTNAME.fullmatch(hostname)):
        raise FirstBootError("network.hostname", hostname,
                             "1-63 letters, digits or '-', not starting or ending with '-'")
    wired = _ip_settings(table, "network")
    wifi_t = table.get("wifi")
    wifi = None
    if wifi_t is not None:
        if not isinstance(wifi_t, dict):
            raise FirstBootError("network.wifi", wifi_t, "a [network.wifi] table")
        unknown = set(wifi_t) - {"ssid", "psk", "country", "hidden", "address", "gateway", "dns"}
        if unknown:
            raise FirstBootError("network.wifi", sorted(unknown),
                                 "only ssid, psk, country, hidden, address, gateway, dns")
        ssid = wifi_t.get("ssid")
        if not isinstance(ssid, str) or not 1 <= len(ssid.encode()) <= 32:
            raise FirstBootError("network.wifi.ssid", ssid, "1 to 32 bytes of UTF-8")
        psk = wifi_t.get("psk")
        if psk is None:
            psk_hex = None
        elif isinstance(psk, str) and _HEX_PSK.fullmatch(psk):
            psk_hex = psk.lower()
        elif isinstance(psk, str) and 8 <= len(psk) <= 63 and psk.isascii() and psk.isprintable():
            psk_hex = wpa_psk(psk, ssid)
        else:
            raise FirstBootError("network.wifi.psk", psk, "8 to 63 printable ASCII characters "
                                 "or 64 hex digits (IEEE 802.11i)", secret=True)
        country = wifi_t.get("country")
        if not isinstance(country, str) or not _COUNTRY.fullmatch(country):
            raise FirstBootError("network.wifi.country", country,
                                 'a two-letter ISO 3166-1 country code such as "DE"')
        hidden = wifi_t.get("hidden", False)
        if not isinstance(hidden, bool):
            raise FirstBootError("network.wifi.hidden", hidden, "true or false")
        wifi = WifiSettings(ssid=ssid, psk_hex=psk_hex, country=country, hidden=hidden,
                            ip=_ip_settings(wifi_t, "network.wifi"))
    return NetworkSettings(hostname=hostname, wired=wired, wifi=wifi)


def render_networkd(match: str, ip: IpSettings) -> str:
    """A systemd.network(5) file: DHCP, or the static address, gateway and DNS servers."""
    lines = ["# written by deskphone-firstboot from deskphone.toml", "[Match]", f"Name={match}",
             "", "[Network]"]
    if ip.address is None:
        lines.append("DHCP=yes")
    else:
        lines.append(f"Address={ip.address}")
        if ip.gateway is not None:
            lines.append(f"Gateway={ip.gateway}")
    lines += [f"DNS={server}" for server in ip.dns]
    lines.append("LinkLocalAddressing=ipv6")
    return "\n".join(lines) + "\n"


def render_wpa_supplicant(wifi: WifiSettings) -> str:
    """wpa_supplicant.conf(5); the SSID in hex and the PSK as 64 hex digits need no quoting."""
    lines = ["# written by deskphone-firstboot from deskphone.toml",
             "ctrl_interface=DIR=/run/wpa_supplicant GROUP=netdev", "update_config=0",
             f"country={wifi.country}", "", "network={", f"    ssid={wifi.ssid.encode().hex()}"]
    if wifi.hidden:
        lines.append("    scan_ssid=1")
    if wifi.psk_hex is None:
        lines.append("    key_mgmt=NONE")
    else:
        lines += ["    key_mgmt=WPA-PSK WPA-PSK-SHA256", "    ieee80211w=1",
                  f"    psk={wifi.psk_hex}"]
    lines.append("}")
    return "\n".join(lines) + "\n"


def validate_phone(phone: dict[str, Any], source: Path) -> None:
    """The same validation as `deskphone check-config` (deskphone.config)."""
    from deskphone.config import ConfigError, config_from_dict

    try:
        config_from_dict(phone, source=source)
    except ConfigError as exc:
        raise FirstBootError("deskphone.toml", "(phone settings)", str(exc)) from None


def hostname_for(network: NetworkSettings, phone: dict[str, Any]) -> str | None:
    """[network] hostname, else deskphone-<extension> (the extension is digits: RFC 1123-safe)."""
    if network.hostname:
        return network.hostname
    identity = phone.get("identity", {})
    extension = identity.get("extension") if isinstance(identity, dict) else None
    return f"deskphone-{extension}" if isinstance(extension, str) and extension else None


def group_id(root: Path, name: str) -> int:
    """The gid of `name` in ROOT/etc/group (group(5)); the phone cannot read its config without."""
    try:
        lines = (root / "etc/group").read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise FirstBootError(f"/{Path('etc/group')}", "(file)",
                             f"a readable group file with group {name!r} ({exc})") from None
    for line in lines:
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] == name and fields[2].isdigit():
            return int(fields[2])
    raise FirstBootError(f"group {name!r}", "(missing)",
                         "the group systemd-sysusers creates for the phone's user")


def make_dirs(root: Path, relative: Path, mode: int) -> Path:
    """Create ROOT/relative and any missing parent with `mode` exactly (not masked by umask)."""
    path = root
    for part in relative.parts:
        path = path / part
        if not path.is_dir():
            path.mkdir()
            os.chmod(path, mode)
    return path


def apply(source: Path, root: Path) -> tuple[list[str], str | None]:
    """Validate `source`, then write every file under `root`.

    Returns a summary without secrets and the host name to set (or None).
    """
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FirstBootError(str(source), "(file)", f"a readable UTF-8 file ({exc})") from None
    phone_text, phone, network_t = split_network(text)
    validate_phone(phone, source)
    network = parse_network(network_t)
    gid = group_id(root, PHONE_GROUP)

    summary = [f"phone settings -> /{PHONE_CONFIG} (root:{PHONE_GROUP} "
               f"{PHONE_CONFIG_MODE:04o})"]
    config_dir = make_dirs(root, CONFIG_DIR, CONFIG_DIR_MODE)
    os.chmod(config_dir, CONFIG_DIR_MODE)  # an existing dir too: the phone must get through it
    atomic_write_text(root / PHONE_CONFIG, phone_text, mode=PHONE_CONFIG_MODE, group=gid)
    if network_t:
        make_dirs(root, NETWORK_DIR, 0o755)
        atomic_write_text(root / NETWORK_DIR / "10-deskphone-wired.network",
                          render_networkd("en* eth*", network.wired), mode=0o644)
        summary.append("wired: " + (f"static {network.wired.address}"
                                    if network.wired.address else "DHCP"))
    if network.wifi is not None:
        atomic_write_text(root / NETWORK_DIR / "10-deskphone-wifi.network",
                          render_networkd("wlan*", network.wifi.ip), mode=0o644)
        make_dirs(root, WPA_CONF.parent, 0o755)
        atomic_write_text(root / WPA_CONF, render_wpa_supplicant(network.wifi), mode=0o600)
        summary.append(f"wifi: ssid {network.wifi.ssid!r}, country {network.wifi.country}, "
                       + ("open" if network.wifi.psk_hex is None else "WPA2/WPA3-PSK"))
    hostname = hostname_for(network, phone)
    if hostname:
        make_dirs(root, HOSTNAME.parent, 0o755)
        atomic_write_text(root / HOSTNAME, hostname + "\n", mode=0o644)
        summary.append(f"hostname: {hostname}")
    return summary, hostname


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print("usage: firstboot.py /boot/firmware/deskphone.toml [ROOT]", file=sys.stderr)
        return 2
    source = Path(argv[1])
    root = Path(argv[2]) if len(argv) == 3 else Path("/")
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z (device clock)")
    try:
        summary, hostname = apply(source, root)
    except FirstBootError as exc:
        message = f"deskphone.toml was NOT applied ({stamp}): {exc}\n"
        print(f"deskphone-firstboot: {message}", file=sys.stderr, end="")
        atomic_write_text(source.with_name(source.name + ".error"), message, mode=0o644)
        return 1
    report = f"deskphone.toml applied {stamp}:\n" + "".join(f"  {s}\n" for s in summary)
    atomic_write_text(source.with_name(source.name + ".result"), report, mode=0o644)
    source.with_name(source.name + ".error").unlink(missing_ok=True)
    source.unlink()  # it may hold SIP and Wi-Fi passwords: keep them off the FAT partition
    print(report, end="")
    if root == Path("/") and any(s.startswith("wifi") for s in summary):
        subprocess.run(["systemctl", "enable", "wpa_supplicant@wlan0.service"], check=False)
        subprocess.run(["systemctl", "start", "--no-block", "wpa_supplicant@wlan0.service"],
                       check=False)
    if root == Path("/") and hostname:
        subprocess.run(["hostname", hostname], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
